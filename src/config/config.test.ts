/** The schema as the single source: defaults, environment variables, flags and redaction. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from './defaults.js';
import { flagLayer, flagOptions, flagSettings } from './flags.js';
import { envLayer, ENV_VARS, loadConfig, OTHER_ENV_VARS, setLayer, SETTINGS } from './load.js';
import { redact, REDACTED } from './redact.js';
import { ConfigError } from './schema.js';
import { isScalar, shapeOf, upperSnake } from './settings.js';
import type { Setting } from './settings.js';

const load = (env: Record<string, string>, flags: Record<string, unknown> = {}) => loadConfig({ env, flags });
const setLayerOf = (...assignments: string[]) => setLayer(assignments);
const get = (root: unknown, path: readonly string[]): unknown => path.reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], root);
const byKey = (key: string): Setting => {
  const s = SETTINGS.find((x) => x.key === key);
  assert.ok(s, key);
  return s;
};

test('DEFAULT_CONFIG: the values the hand-written defaults had', () => {
  assert.deepEqual(DEFAULT_CONFIG, {
    listen: ['mqtt://127.0.0.1:1883', 'ws://127.0.0.1:8080/mqtt', 'stomp://127.0.0.1:61613', 'ws://127.0.0.1:8080/stomp'],
    tls: {},
    mqtt: {
      maxPacketSize: 1024 * 1024,
      receiveMaximum: 100,
      maxInflight: 64,
      topicAliasMaximum: 10,
      serverTopicAliases: 0,
      maxKeepAlive: 0,
      maxSessionExpiry: 7 * 24 * 3600,
      maxQoS: 2,
      retainAvailable: true,
      wildcardSubscriptions: true,
      sharedSubscriptions: true,
      subscriptionIdentifiers: true,
      connectTimeoutMs: 10_000,
      maxTopicLength: 4096,
      maxTopicLevels: 32,
    },
    stomp: { heartbeatSendMs: 10_000, heartbeatReceiveMs: 10_000, maxHeaderCount: 64, maxHeaderLineBytes: 8192, maxBodyBytes: 1024 * 1024, window: 64, maxRedeliveries: 5, connectTimeoutMs: 10_000 },
    mqttsn: {
      profile: 'AGENT',
      predefinedTopics: [],
      gatewayId: 1,
      advertise: false,
      multicastGroup: '225.1.1.1',
      multicastPort: 1884,
      advertiseSeconds: 900,
      retryMs: 10_000,
      retries: 3,
      maxClients: 10_000,
      maxBufferedPerSleeper: 100,
      receiveBufferBytes: 4 * 1024 * 1024,
      datagramsPerSecond: 100,
    },
    limits: {
      maxConnections: 1_000_000,
      maxQueuedMessages: 1000,
      maxQueuedBytes: 16 * 1024 * 1024,
      slowConsumerBytes: 8 * 1024 * 1024,
      maxRetained: 1_000_000,
      maxRetainedPerClient: 1000,
      maxRetainedBytesPerClient: 16 * 1024 * 1024,
      maxSubscriptionsPerClient: 1000,
      maxPersistentSessions: 100_000,
      maxStoredBytesPerApp: 256 * 1024 * 1024,
      memoryBudget: 1024 * 1024 * 1024,
      maxClientIdLength: 256,
      maxConnectionsPerAddress: 0,
      wsPingsPerSecond: 10,
    },
    auth: { failureWindowMs: 60_000, freeFailuresPerAddress: 10, freeFailuresPerLogin: 3, maxDelayMs: 5_000, maxPendingPerAddress: 16, maxTokenLifetime: 30 * 24 * 3600, allowAnonymous: false },
    http: { staticPath: '/' },
    ws: {},
    sys: { interval: 10 },
    store: { type: 'sqlite', dataDir: './data', durability: 'sync', batchMs: 10 },
    cluster: { workers: 1, heartbeatMs: 1000, deadAfterMs: 3000, redis: { sentinelName: 'mymaster', prefix: 'sb' } },
    log: { level: 'info', pretty: false },
    applications: [],
  });
});

test('every setting is described, and every leaf of DEFAULT_CONFIG is a setting', () => {
  for (const s of SETTINGS) assert.ok(s.meta.description.length > 10 && !s.meta.description.includes('\n'), s.key);
  const keys = new Set(SETTINGS.map((s) => s.key));
  const walk = (node: unknown, path: string[]): void => {
    if (typeof node === 'object' && node !== null && !Array.isArray(node) && !keys.has(path.join('.'))) {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
      return;
    }
    assert.ok(keys.has(path.join('.')), `${path.join('.')} is not declared as a setting`);
  };
  walk(DEFAULT_CONFIG, []);
});

test('environment variable names: generated for every single-valued setting, unique, the old short names kept', () => {
  const names = SETTINGS.flatMap((s) => s.env);
  assert.equal(new Set(names).size, names.length, 'an environment variable sets two settings');
  for (const other of [...Object.keys(OTHER_ENV_VARS), 'SWITCHBOARD_WORKER_INDEX', 'SWITCHBOARD_WORKER_COUNT', 'SWITCHBOARD_CLUSTER_DIR']) assert.ok(!names.includes(other), other);
  for (const s of SETTINGS) {
    if (s.path.includes('[]') || !isScalar(s)) assert.deepEqual(s.env, [], s.key);
    else assert.equal(s.env[0], `SWITCHBOARD_${s.path.map(upperSnake).join('_')}`, s.key);
  }
  assert.equal(byKey('limits.maxQueuedBytes').env[0], 'SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES');
  assert.equal(byKey('mqtt.maxQoS').env[0], 'SWITCHBOARD_MQTT_MAX_QOS');
  // Every variable documented before the schema became the source still works.
  const before = {
    SWITCHBOARD_LISTEN: 'listen',
    SWITCHBOARD_LOG_LEVEL: 'log.level',
    SWITCHBOARD_LOG_PRETTY: 'log.pretty',
    SWITCHBOARD_TLS_CERT: 'tls.cert',
    SWITCHBOARD_TLS_KEY: 'tls.key',
    SWITCHBOARD_TLS_CA: 'tls.ca',
    SWITCHBOARD_MAX_CONNECTIONS: 'limits.maxConnections',
    SWITCHBOARD_MAX_PACKET_SIZE: 'mqtt.maxPacketSize',
    SWITCHBOARD_SYS_INTERVAL: 'sys.interval',
    SWITCHBOARD_WORKERS: 'cluster.workers',
    SWITCHBOARD_ALLOW_ANONYMOUS: 'auth.allowAnonymous',
  };
  for (const [name, key] of Object.entries(before)) assert.ok(byKey(key).env.includes(name), name);
  assert.ok('SWITCHBOARD_CONFIG' in ENV_VARS);
});

/** A valid value, as environment text, for a setting (not its default where it can differ). */
function sample(s: Setting): { text: string; value: unknown } {
  switch (s.kind) {
    case 'integer': {
      const n = s.min !== undefined && s.min > 1 ? s.min + 1 : 7;
      const v = s.max !== undefined ? Math.min(n, s.max) : n;
      return { text: String(v), value: v };
    }
    case 'boolean':
      return s.default === true ? { text: 'false', value: false } : { text: 'true', value: true };
    case 'enum': {
      const v = s.values!.find((x) => x !== s.default) ?? s.values![0]!;
      return { text: String(v), value: v };
    }
    case 'list':
      if (s.key === 'mqttsn.predefinedTopics') return { text: '1=a/b, 2=c', value: ['1=a/b', '2=c'] };
      if (s.key.startsWith('cluster.redis.')) return { text: '127.0.0.1:1, 127.0.0.1:2', value: ['127.0.0.1:1', '127.0.0.1:2'] };
      return { text: 'mqtt://127.0.0.1:1, ws://127.0.0.1:2/x', value: ['mqtt://127.0.0.1:1', 'ws://127.0.0.1:2/x'] };
    default: {
      // Strings with a format of their own.
      const own: Record<string, string> = { 'cluster.redis.url': 'redis://127.0.0.1:1', 'cluster.nodeId': 'node-a', 'cluster.redis.prefix': 'px', 'cluster.redis.sentinelName': 'other', 'cluster.link': '127.0.0.1:7946', 'cluster.advertise': 'node-a:7946', 'http.staticPath': '/app/' };
      const v = own[s.key] ?? `/some/${s.key}`;
      return { text: v, value: v };
    }
  }
}

test('every generated variable (and every alias) reaches its setting', () => {
  for (const s of SETTINGS) {
    for (const name of s.env) {
      const { text, value } = sample(s);
      // Workers cannot share the default SQLite store: sampled worker counts run on the memory store.
      const store: Record<string, string> = s.key === 'cluster.workers' ? { SWITCHBOARD_STORE_TYPE: 'memory' } : {};
      const config = load({ [name]: text, SWITCHBOARD_LOG_PRETTY: s.key === 'log.pretty' ? text : 'false', ...store });
      assert.deepEqual(get(config, s.path), value, name);
    }
  }
  assert.equal(load({ SWITCHBOARD_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT: '5' }).limits.maxSubscriptionsPerClient, 5);
});

test('environment: the long name wins over its alias; empty variables are ignored; booleans', () => {
  assert.equal(load({ SWITCHBOARD_LIMITS_MAX_CONNECTIONS: '20', SWITCHBOARD_MAX_CONNECTIONS: '30' }).limits.maxConnections, 20);
  assert.equal(load({ SWITCHBOARD_MAX_CONNECTIONS: '30' }).limits.maxConnections, 30);
  assert.equal(load({ SWITCHBOARD_LIMITS_MAX_CONNECTIONS: '' }).limits.maxConnections, 1_000_000);
  for (const [text, value] of [['1', true], ['true', true], ['TRUE', true], ['yes', true], ['0', false], ['false', false], ['off', false]] as const) {
    assert.equal(load({ SWITCHBOARD_MQTT_RETAIN_AVAILABLE: text }).mqtt.retainAvailable, value, text);
  }
  const { origins } = envLayer({ SWITCHBOARD_WORKERS: '2' });
  assert.equal(origins.get('cluster.workers'), 'SWITCHBOARD_WORKERS');
});

test('environment: a bad value names the variable and the key', () => {
  const fails = (env: Record<string, string>, re: RegExp) =>
    assert.throws(
      () => load(env),
      (err: unknown) => err instanceof ConfigError && re.test(err.message),
    );
  fails({ SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES: 'lots' }, /^environment: SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES: "lots" is not a number$/);
  fails({ SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES: '12' }, /^environment: SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES: limits\.maxQueuedBytes: Too small/);
  fails({ SWITCHBOARD_MAX_CONNECTIONS: '1.5' }, /^environment: SWITCHBOARD_MAX_CONNECTIONS: limits\.maxConnections: /);
  fails({ SWITCHBOARD_LOG_LEVEL: 'loud' }, /^environment: SWITCHBOARD_LOG_LEVEL: log\.level: /);
  fails({ SWITCHBOARD_MQTT_MAX_QOS: '3' }, /^environment: SWITCHBOARD_MQTT_MAX_QOS: mqtt\.maxQoS: /);
  fails({ SWITCHBOARD_AUTH_ALLOW_ANONYMOUS: 'perhaps' }, /^environment: SWITCHBOARD_AUTH_ALLOW_ANONYMOUS: "perhaps" is not a boolean/);
  fails({ SWITCHBOARD_LISTEN: 'mqtt://127.0.0.1:1,gopher://x' }, /^environment: SWITCHBOARD_LISTEN: listen\[1\]: unsupported listener scheme/);
  fails({ SWITCHBOARD_TLS_PASSPHRASE: '', SWITCHBOARD_MQTT_CONNECT_TIMEOUT_MS: '5' }, /^environment: SWITCHBOARD_MQTT_CONNECT_TIMEOUT_MS: mqtt\.connectTimeoutMs: /);
});

test('flags: derived from the settings that declare one, over --set, naming the flag in errors', () => {
  const options = flagOptions();
  for (const name of ['listen', 'config', 'log-level', 'pretty', 'no-pretty', 'tls-cert', 'tls-key', 'tls-ca', 'max-connections', 'max-packet-size', 'workers', 'allow-anonymous', 'data-dir', 'static-dir', 'redis', 'node-id', 'cluster-link', 'set', 'help', 'version']) {
    assert.ok(name in options, name);
  }
  assert.deepEqual(options.listen, { type: 'string', multiple: true });
  assert.equal(flagSettings().length, 15);
  const { data, origins } = flagLayer({ set: ['limits.maxConnections=5', 'mqtt.maxInflight=9'], 'max-connections': '7', pretty: true, 'no-pretty': true, listen: ['mqtt://127.0.0.1:0'] });
  assert.deepEqual(data, { limits: { maxConnections: 7 }, mqtt: { maxInflight: 9 }, log: { pretty: false }, listen: ['mqtt://127.0.0.1:0'] });
  assert.equal(origins.get('log.pretty'), '--no-pretty');
  assert.throws(() => flagLayer({ workers: 'two' }), /ConfigError: flags: --workers: "two" is not a number$/);
  const bad = flagLayer({ workers: '99' });
  assert.throws(() => loadConfig({ env: {}, flags: bad.data, flagOrigins: bad.origins }), /ConfigError: flags: --workers: cluster\.workers: Too big/);
  assert.throws(() => load({}, setLayerOf('cluster.workers=99')), /ConfigError: flags: cluster\.workers: Too big/);
});

test('redaction hides every setting marked secret, and only those', () => {
  const secrets = SETTINGS.filter((s) => s.meta.secret);
  assert.deepEqual(
    secrets.map((s) => s.key),
    ['tls.passphrase', 'http.metricsToken', 'cluster.redis.url', 'cluster.redis.password', 'applications[].appKey', 'applications[].profileKeys', 'applications[].jwt.hs256Secret', 'applications[].webhooks[].secret'],
  );
  // A configuration with a distinct value in every secret (every profile key of the maps).
  const values: string[] = [];
  const fresh = (): string => {
    const v = `secret-value-${values.length}-${'x'.repeat(16)}`;
    values.push(v);
    return v;
  };
  const config = structuredClone(DEFAULT_CONFIG);
  const app = { id: 'a', appKey: '', profileKeys: {}, duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' }, acl: [], grants: {}, presenceTopics: [] } as (typeof config.applications)[number];
  config.applications.push(app, structuredClone(app));
  const put = (root: Record<string, unknown>, path: readonly string[], s: Setting): void => {
    let node = root;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    const last = path.at(-1)!;
    const keys = s.kind === 'object' ? Object.keys(shapeOf(s.schema) ?? {}) : [];
    node[last] = keys.length > 0 ? Object.fromEntries(keys.map((k) => [k, fresh()])) : fresh();
  };
  // A path through arrays (`applications[].webhooks[].secret`): into every element, an array
  // of one element made where there is none.
  const place = (root: Record<string, unknown>, path: readonly string[], s: Setting): void => {
    const arrayAt = path.indexOf('[]');
    if (arrayAt < 0) return put(root, path, s);
    let list = get(root, path.slice(0, arrayAt)) as Array<Record<string, unknown>> | undefined;
    if (list === undefined) {
      let node = root;
      for (const k of path.slice(0, arrayAt - 1)) node = (node[k] ??= {}) as Record<string, unknown>;
      list = [{}];
      node[path[arrayAt - 1]!] = list;
    }
    for (const el of list) place(el, path.slice(arrayAt + 1), s);
  };
  for (const s of secrets) place(config as unknown as Record<string, unknown>, s.path, s);
  assert.equal(values.length, 4 + 2 * (1 + 4 + 1 + 1));
  const shown = JSON.stringify(redact(config));
  for (const v of values) assert.ok(!shown.includes(v), `secret shown: ${v}`);
  assert.equal(shown.split(JSON.stringify(REDACTED)).length - 1, values.length);
  // The rest is untouched, and the input is not modified.
  assert.equal(redact(config).applications[0]!.id, 'a');
  assert.equal(config.tls.passphrase, values[0]);
});
