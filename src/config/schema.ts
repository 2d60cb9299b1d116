/**
 * The configuration schema: every setting is declared here once, with its type, bounds,
 * default and a one-line description (units in it), whether it is a secret, and optionally
 * short environment variable aliases and a flag (settings.ts). Everything else derives from it:
 *
 * - the types (types.ts: z.output of these schemas) and DEFAULT_CONFIG (defaults.ts);
 * - the per-layer validation and the merge (resolve.ts);
 * - the environment variables: SWITCHBOARD_<SECTION>_<KEY> for every single-valued setting,
 *   plus the aliases below (load.ts);
 * - the flags (flags.ts), --help and docs/configuration.md (reference.ts);
 * - check-config's redaction of the settings marked `secret` (redact.ts).
 */
import { z } from 'zod';
import { parseListenUrl } from '../shared/listen-url.js';
import { settings } from './settings.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** An integer in [min, max]. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const bool = () => z.boolean();
const PROFILES = ['AGENT', 'SUPER_AGENT', 'SERVICE', 'ADMIN'] as const;
const profile = z.enum(PROFILES);
const listenUrl = z.string().superRefine((s, ctx) => {
  try {
    parseListenUrl(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
/** An object of settings that all have defaults or are optional: `{}` gives the defaults. */
const section = <T extends z.core.$ZodLooseShape>(shape: T, description: string) =>
  z
    .strictObject(shape)
    .prefault({} as z.core.$InferObjectInput<T, {}>)
    .register(settings, { description, section: true });
/** One optional value per profile. */
const profileMap = <T extends z.ZodType>(t: T) =>
  z.strictObject({ AGENT: t.optional(), SUPER_AGENT: t.optional(), SERVICE: t.optional(), ADMIN: t.optional() });

// ---------------------------------------------------------------------------------------------
// Sections

export const tlsSchema = section(
  {
    cert: z.string().optional().register(settings, { description: 'TLS certificate, PEM file path; required by `mqtts://`, `wss://` and `stomps://` listeners', flag: { name: 'tls-cert', arg: 'FILE' } }),
    key: z.string().optional().register(settings, { description: 'TLS private key, PEM file path; required with `tls.cert`', flag: { name: 'tls-key', arg: 'FILE' } }),
    ca: z.string().optional().register(settings, { description: 'CA bundle, PEM file path: clients may then log in with certificates (`mtls`)', flag: { name: 'tls-ca', arg: 'FILE' } }),
    passphrase: z.string().optional().register(settings, { description: 'Passphrase of the TLS private key', secret: true }),
  },
  'TLS for the `mqtts://`, `wss://` and `stomps://` listeners.',
);

export const mqttSchema = section(
  {
    maxPacketSize: int(64, 268_435_455)
      .default(1024 * 1024)
      .register(settings, { description: 'Largest packet accepted from a client, bytes (whole packet); advertised in the v5 CONNACK', unit: 'bytes', envAliases: ['SWITCHBOARD_MAX_PACKET_SIZE'], flag: { name: 'max-packet-size', arg: 'N' } }),
    receiveMaximum: int(1, 65_535).default(100).register(settings, { description: 'Server Receive Maximum: inbound QoS 1/2 publishes in flight per client, messages' }),
    maxInflight: int(1, 65_535).default(64).register(settings, { description: "Upper bound on the outbound in-flight window per client, messages (min'ed with the client's Receive Maximum)" }),
    topicAliasMaximum: int(0, 65_535).default(10).register(settings, { description: 'Topic Alias Maximum the server accepts from clients (0 disables)' }),
    serverTopicAliases: int(0, 65_535).default(0).register(settings, { description: 'Topic aliases the server uses towards v5 clients that allow them (0 disables)' }),
    maxKeepAlive: int(0, 65_535).default(0).register(settings, { description: 'Largest keepalive a client may ask for, seconds; above it v5 clients get Server Keep Alive (0 = no cap)' }),
    maxSessionExpiry: int(0, 0xffffffff)
      .default(7 * 24 * 3600)
      .register(settings, { description: 'Cap on a v5 Session Expiry Interval, seconds; 3.1.1 persistent sessions use it too', unit: 'seconds' }),
    maxQoS: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .default(2)
      .register(settings, { description: 'Highest QoS granted to subscriptions and accepted on publishes' }),
    retainAvailable: bool().default(true).register(settings, { description: 'Retained messages are supported (false: a retained publish is refused, v5 0x9A)' }),
    wildcardSubscriptions: bool().default(true).register(settings, { description: 'Subscriptions may use the `+` and `#` wildcards' }),
    sharedSubscriptions: bool().default(true).register(settings, { description: 'Shared subscriptions (`$share/GROUP/FILTER`) are available' }),
    subscriptionIdentifiers: bool().default(true).register(settings, { description: 'Subscription Identifiers (v5) are available' }),
    connectTimeoutMs: int(100, 600_000)
      .default(10_000)
      .register(settings, { description: 'Close an MQTT connection that sends no CONNECT within this time, ms; with stomp.connectTimeoutMs (the smaller) it also bounds the TLS handshake and the WebSocket upgrade' }),
    maxTopicLength: int(1, 65_535).default(4096).register(settings, { description: 'Longest topic name or filter accepted, characters (topics are keys of the broker\'s maps: keep them short)' }),
    maxTopicLevels: int(1, 65_535).default(32).register(settings, { description: 'Most levels in a topic name or filter (each level of a filter is a node of the subscription trie)' }),
  },
  'MQTT protocol settings (what the broker advertises and accepts).',
);

export const stompSchema = section(
  {
    heartbeatSendMs: int(0).default(10_000).register(settings, { description: 'Heart-beat the server offers to send, ms: at least this often (0 = off)' }),
    heartbeatReceiveMs: int(0).default(10_000).register(settings, { description: 'Heart-beat the server wants to receive, ms: at least this often (0 = off)' }),
    maxHeaderCount: int(1, 10_000).default(64).register(settings, { description: 'Most headers in one frame' }),
    maxHeaderLineBytes: int(64, 1_048_576).default(8192).register(settings, { description: 'Longest header line, bytes' }),
    maxBodyBytes: int(0, 268_435_455)
      .default(1024 * 1024)
      .register(settings, { description: 'Largest frame body, bytes', unit: 'bytes' }),
    window: int(1, 65_535).default(64).register(settings, { description: 'Unacknowledged MESSAGEs per connection in the client ack modes (prefetch), messages' }),
    maxRedeliveries: int(1, 1000).default(5).register(settings, { description: 'Deliveries of one queue message (first + redeliveries after NACK) before it is dead-lettered' }),
    connectTimeoutMs: int(100, 600_000).default(10_000).register(settings, { description: 'Close a STOMP connection that sends no CONNECT frame within this time, ms' }),
  },
  'STOMP protocol settings.',
);

export const mqttsnSchema = section(
  {
    app: z
      .string()
      .optional()
      .register(settings, { description: 'The application MQTT-SN clients log in to (MQTT-SN CONNECT carries no credentials: whoever reaches an `mqttsn://` listener is a client of this application, with `mqttsn.profile`, its client id as login). Required when applications are configured; unset in development mode: the default application' }),
    profile: profile.default('AGENT').register(settings, { description: 'The profile of MQTT-SN clients (permissions as for any client of that profile)' }),
    predefinedTopics: z
      .array(z.string().regex(/^([1-9]\d{0,4})=(.+)$/, 'ID=TOPIC with ID in 1..65535'))
      .default([])
      .register(settings, { description: 'Predefined topic ids, `ID=TOPIC` (e.g. `1=sensors/temperature`): usable without REGISTER, and for QoS -1 publishes' }),
    gatewayId: int(0, 255).default(1).register(settings, { description: 'The gateway id sent in ADVERTISE and GWINFO' }),
    advertise: bool().default(false).register(settings, { description: 'Discovery: send ADVERTISE periodically to `mqttsn.multicastGroup` and answer SEARCHGW with GWINFO (off: SEARCHGW is not answered either)' }),
    multicastGroup: z.string().default('225.1.1.1').register(settings, { description: 'Multicast group (IPv4) for ADVERTISE and SEARCHGW' }),
    multicastPort: int(1, 65_535).default(1884).register(settings, { description: 'UDP port of the discovery group' }),
    multicastInterface: z.string().optional().register(settings, { description: 'Address of the local interface discovery uses (unset: the system default)' }),
    advertiseSeconds: int(1, 65_535).default(900).register(settings, { description: 'Interval between ADVERTISE messages, seconds (the Duration they carry)' }),
    retryMs: int(100, 600_000).default(10_000).register(settings, { description: 'Tretry: a PUBLISH or REGISTER to a client is sent again after this, ms' }),
    retries: int(0, 100).default(3).register(settings, { description: 'Nretry: resends before the client is considered lost' }),
    maxClients: int(1).default(10_000).register(settings, { description: 'Most MQTT-SN clients (addresses) at once; more are ignored until one leaves' }),
    maxBufferedPerSleeper: int(0, 1_000_000).default(100).register(settings, { description: 'Messages kept for a sleeping client until it wakes; more are dropped and dead-lettered (queue-full)' }),
    receiveBufferBytes: int(0, 1 << 30)
      .default(4 * 1024 * 1024)
      .register(settings, { description: "The gateway socket's receive buffer, bytes (SO_RCVBUF; the kernel caps it at net.core.rmem_max; 0 = the system default): datagrams arriving faster than the gateway reads them wait there, beyond it the kernel drops them", unit: 'bytes' }),
    datagramsPerSecond: int(1, 1_000_000).default(100).register(settings, { description: 'Datagrams accepted per second from one address (a burst of as many); the rest are dropped and counted' }),
  },
  'The MQTT-SN 1.2 gateway (`mqttsn://` listeners, UDP).',
);

export const limitsSchema = section(
  {
    maxConnections: int(1)
      .default(1_000_000)
      .register(settings, { description: 'Concurrent connections across all listeners; more are refused (v5 CONNACK 0x97 / close)', envAliases: ['SWITCHBOARD_MAX_CONNECTIONS'], flag: { name: 'max-connections', arg: 'N' } }),
    maxQueuedMessages: int(1).default(1000).register(settings, { description: 'Per-session queue of messages waiting for delivery (offline, or past the in-flight window), messages' }),
    maxQueuedBytes: int(1024)
      .default(16 * 1024 * 1024)
      .register(settings, { description: 'The same per-session queue, bounded in bytes (payload, topic and properties)', unit: 'bytes' }),
    slowConsumerBytes: int(1024)
      .default(8 * 1024 * 1024)
      .register(settings, { description: 'Socket backlog (written but not yet flushed) above which QoS 0 is dropped for that client, bytes', unit: 'bytes' }),
    maxRetained: int(0).default(1_000_000).register(settings, { description: 'Retained messages kept broker-wide; a publish that would store one more gets v5 0x97' }),
    maxRetainedPerClient: int(0).default(1000).register(settings, { description: 'Retained messages one login may have set (counted per application)' }),
    maxRetainedBytesPerClient: int(0)
      .default(16 * 1024 * 1024)
      .register(settings, { description: 'Bytes of retained messages (payload, topic and properties) one login may have set', unit: 'bytes' }),
    maxSubscriptionsPerClient: int(1).default(1000).register(settings, { description: 'Subscriptions one session may hold; more get SUBACK 0x97 (v5) / 0x80, or a STOMP ERROR' }),
    maxPersistentSessions: int(0)
      .default(100_000)
      .register(settings, { description: 'Persistent sessions of AGENTs and SUPER_AGENTs (online or parked) per application; a new one beyond gets CONNACK 0x97 / 3 (SERVICE and ADMIN are not counted)' }),
    maxStoredBytesPerApp: int(1024)
      .default(256 * 1024 * 1024)
      .register(settings, { description: 'Bytes an application holds for its clients: queued messages, queue backlogs, retained messages, wills and subscriptions', unit: 'bytes' }),
    memoryBudget: int(1024 * 1024)
      .default(1024 * 1024 * 1024)
      .register(settings, {
        description: 'Broker-wide budget of what is held for clients (queued, retained, queue backlogs, wills, subscriptions, STOMP transactions), bytes; past it QoS 1/2 publishes get 0x97 (STOMP ERROR), QoS 0 ones are dropped and counted',
        unit: 'bytes',
      }),
    maxClientIdLength: int(23, 65_535).default(256).register(settings, { description: 'Longest client identifier / login accepted, characters' }),
    maxConnectionsPerAddress: int(0).default(0).register(settings, { description: 'Concurrent connections from one remote address; more are refused at accept (0 = no limit)' }),
    wsPingsPerSecond: int(1, 10_000).default(10).register(settings, { description: 'WebSocket pings answered per connection per second; a client that keeps pinging faster is closed (1008)' }),
  },
  'Limits that protect the broker (see the README, Security).',
);

export const authSchema = section(
  {
    failureWindowMs: int(1000).default(60_000).register(settings, { description: 'Failed logins are remembered this long, ms' }),
    freeFailuresPerAddress: int(0).default(10).register(settings, { description: 'Failures from one address inside the window before answers are slowed down' }),
    freeFailuresPerLogin: int(0).default(3).register(settings, { description: 'Failures for one login id (from anywhere) inside the window before answers are slowed down' }),
    maxDelayMs: int(0, 600_000).default(5_000).register(settings, { description: 'Longest delay before a failed login is answered, ms' }),
    maxPendingPerAddress: int(1).default(16).register(settings, { description: 'Logins from one address being decided or waiting for their delayed answer; more are refused at once' }),
    maxTokenLifetime: int(1)
      .default(30 * 24 * 3600)
      .register(settings, { description: 'A JWT whose `exp` lies further in the future than this is refused, seconds', unit: 'seconds' }),
    allowAnonymous: bool()
      .default(false)
      .register(settings, {
        description: 'Development mode (no application: any login, any profile, ADMIN included) may listen beyond loopback; refused at start unless true',
        envAliases: ['SWITCHBOARD_ALLOW_ANONYMOUS'],
        flag: { name: 'allow-anonymous' },
      }),
  },
  'Login throttling and the development-mode guard.',
);

export const httpSchema = section(
  {
    metricsToken: z
      .string()
      .min(16)
      .optional()
      .register(settings, { description: 'When set, `/metrics` answers only `Authorization: Bearer <this>` (at least 16 characters); unset: open, like /healthz', secret: true }),
    staticDir: z
      .string()
      .optional()
      .register(settings, { description: 'A folder of static files (a web page) served on the ws/wss ports under `http.staticPath`; unset: none', flag: { name: 'static-dir', arg: 'DIR' } }),
    staticPath: z
      .string()
      .regex(/^\/([A-Za-z0-9._~-]+\/)*$/, 'a URL path that starts and ends with "/"')
      .default('/')
      .register(settings, { description: 'The URL path `http.staticDir` is served under (API, metrics, console and WebSocket paths keep theirs)' }),
  },
  'The HTTP side of the ws/wss listeners: API, metrics, console, static files.',
);

export const wsSchema = section(
  {
    allowedOrigins: z
      .array(z.string().min(1))
      .optional()
      .register(settings, {
        description:
          'WebSocket upgrades whose `Origin` header is not in this list get HTTP 403: exact origins (`https://app.example.com`), `*` for any; requests without `Origin` (non-browser clients) are always allowed. Unset: every origin (logins carry their keys in the CONNECT, never in cookies, as with Mosquitto and EMQX); set it when pages of other sites must not reach the broker',
      }),
  },
  'WebSocket listeners (`ws://`, `wss://`).',
);

export const sysSchema = section(
  { interval: int(0, 86_400).default(10).register(settings, { description: 'Publish `$SYS` statistics every N seconds (0 = off)' }) },
  '`$SYS/broker/...` statistics.',
);

export const storeSchema = section(
  {
    type: z
      .enum(['memory', 'sqlite', 'redis'])
      .default('sqlite')
      .register(settings, {
        description: 'Where sessions, retained messages, queues and dead letters are kept: `memory` (nothing survives a restart), `sqlite` (a file in `store.dataDir`) or `redis` (the `cluster.redis` server, shared by the nodes)',
        defaultText: '`redis` when `cluster.redis` is set, else `sqlite`',
      }),
    dataDir: z.string().min(1).default('./data').register(settings, { description: 'Directory of the SQLite store (`switchboard.db`); created if missing', flag: { name: 'data-dir', arg: 'DIR' } }),
    durability: z
      .enum(['sync', 'batched', 'none'])
      .default('sync')
      .register(settings, { description: 'When a PUBACK, PUBREC or STOMP RECEIPT for a stored message is sent: `sync` after its transaction is on disk, `batched` at once (committed every `store.batchMs`), `none` at once (no fsync)' }),
    batchMs: int(1, 10_000).default(10).register(settings, { description: 'Commit interval of the `batched` durability, ms' }),
  },
  'Persistence (see the README, Stores).',
);

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port');

export const redisSchema = section(
  {
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'expected redis://[user:password@]host:port[/db] or rediss://...')
      .optional()
      .register(settings, { description: 'One Redis server (7 or later): `redis://[user:password@]host:port[/db]`, `rediss://` for TLS', secret: true, flag: { name: 'redis', arg: 'URL' } }),
    nodes: z.array(hostPort).optional().register(settings, { description: 'A Redis Cluster instead: seed nodes as `host:port` (sharded pub/sub carries the messages)' }),
    sentinels: z.array(hostPort).optional().register(settings, { description: 'Redis Sentinel instead: sentinels as `host:port` (the client follows failovers)' }),
    sentinelName: z.string().default('mymaster').register(settings, { description: 'The master name the sentinels watch' }),
    username: z.string().optional().register(settings, { description: 'Redis ACL user (for `nodes` and `sentinels`; a URL carries its own)' }),
    password: z.string().optional().register(settings, { description: 'Redis password (for `nodes` and `sentinels`; a URL carries its own)', secret: true }),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,32}$/, '1 to 32 of A-Z a-z 0-9 _ . : -')
      .default('sb')
      .register(settings, { description: 'Prefix of every Redis key and channel: brokers with different prefixes are separate clusters' }),
  },
  'Redis: the nodes that share one Redis (or Redis Cluster, or Sentinel) act as one broker (see the README, Cluster).',
);

export const clusterSchema = section(
  {
    workers: int(1, 32)
      .default(1)
      .register(settings, { description: 'Broker processes (node:cluster) sharing the listeners; 1 = a single process (see the README, Cluster)', envAliases: ['SWITCHBOARD_WORKERS'], flag: { name: 'workers', arg: 'N' } }),
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, '1 to 64 of A-Z a-z 0-9 _ . : -')
      .optional()
      .register(settings, { description: 'This node\'s name in the cluster (`$SYS/broker/<node>/...`, logs)', defaultText: '<hostname>-<pid>', flag: { name: 'node-id', arg: 'ID' } }),
    heartbeatMs: int(100, 60_000).default(1000).register(settings, { description: 'How often a node tells the others it is alive, ms' }),
    deadAfterMs: int(300, 600_000).default(3000).register(settings, { description: 'A node not heard of for this long is dead: its wills are published, its clients are offline, ms' }),
    link: hostPort
      .optional()
      .register(settings, { description: 'With `cluster.redis`: direct TCP links between the nodes for messages, listening on `host:port` (port 0 = any free one); Redis keeps membership, liveness and state', flag: { name: 'cluster-link', arg: 'HOST:PORT' } }),
    advertise: hostPort.optional().register(settings, { description: 'The `host:port` other nodes dial for `cluster.link`', defaultText: "the link's address; the host name when it listens on every interface" }),
    redis: redisSchema,
  },
  'Cluster: several processes or hosts, one broker.',
);

export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const logSchema = section(
  {
    level: logLevelSchema.default('info').register(settings, { description: 'Lowest severity that is logged (`silent`: nothing)', flag: { name: 'log-level', arg: 'LEVEL' } }),
    pretty: bool().default(false).register(settings, { description: 'Human-readable logs instead of JSON', defaultText: 'true when stderr is a terminal', flag: { name: 'pretty', negatable: true } }),
  },
  'Logs (on stderr).',
);

// ---------------------------------------------------------------------------------------------
// Applications

export const duplicateLoginPolicySchema = z.enum(['takeover', 'reject']);
const grants = z.strictObject({ publish: z.array(z.string()).optional(), subscribe: z.array(z.string()).optional() });

export const jwtSchema = z.strictObject({
  hs256Secret: z.string().min(16, 'at least 16 characters').optional().register(settings, { description: 'HS256 secret (the "app secret"), at least 16 characters', secret: true }),
  publicKeyFile: z.string().optional().register(settings, { description: 'PEM public key file for RS256 / ES256' }),
  jwksFile: z.string().optional().register(settings, { description: 'JWKS file (JSON) for RS256 / ES256' }),
});

export const httpAuthSchema = z.strictObject({
  url: z.url().register(settings, { description: 'The broker POSTs `{app, login, password, protocol, remoteAddress}` here; answer `{allow, profile, grants}`' }),
  timeoutMs: int(1, 60_000).default(2000).register(settings, { description: 'Time allowed for one call, ms' }),
  retries: int(0, 5).default(1).register(settings, { description: 'Calls repeated after a failed one' }),
  cacheTtlMs: int(0).default(10_000).register(settings, { description: 'Answers are reused for the same credentials this long, ms' }),
  denyOnError: bool().default(true).register(settings, { description: 'Deny when the hook cannot be reached (false: allow as AGENT)' }),
});

export const aclRuleSchema = z.strictObject({
  permission: z.enum(['allow', 'deny']).register(settings, { description: 'What the rule does' }),
  action: z.enum(['publish', 'subscribe', 'all']).register(settings, { description: 'What it applies to' }),
  topic: z.string().min(1).register(settings, { description: 'Topic filter pattern; `%c` = client id, `%u` = login' }),
  profiles: z.array(profile).optional().register(settings, { description: 'Profiles the rule applies to (absent = all)' }),
});

/** The events a webhook may ask for (README, Webhooks; src/http/webhooks.ts). */
export const WEBHOOK_EVENTS = ['client.connected', 'client.disconnected', 'subscription.added', 'subscription.removed', 'message.published', 'message.dead_lettered'] as const;
export const webhookEventSchema = z.enum(WEBHOOK_EVENTS);

/**
 * A topic filter: `+` fills one whole level, `#` is the last level. Checked here because
 * config/ does not import core/ (core/topic.ts has the same rule for subscriptions).
 */
function isTopicFilter(f: string): boolean {
  const levels = f.split('/');
  return levels.every((l, i) => (l.includes('+') ? l === '+' : true) && (l.includes('#') ? l === '#' && i === levels.length - 1 : true));
}

export const webhookSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .register(settings, { description: 'Where the events are POSTed as JSON: an `http://` or `https://` URL (redirects are not followed)' }),
    secret: z
      .string()
      .min(16, 'at least 16 characters')
      .register(settings, { description: 'Key of the `x-switchboard-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`; at least 16 characters', secret: true }),
    events: z
      .array(webhookEventSchema)
      .min(1, 'at least one event')
      .register(settings, { description: 'The events sent to this URL' }),
    topics: z
      .array(z.string().min(1).refine(isTopicFilter, 'not a valid topic filter (`+` fills a whole level, `#` only as the last level)'))
      .min(1, 'at least one topic filter')
      .optional()
      .register(settings, { description: 'Topic filters of the `message.published` events (required with that event; `$` topics only match filters that start with `$`)' }),
    timeoutMs: int(100, 60_000).default(5000).register(settings, { description: 'Time allowed for one attempt, ms' }),
    maxAttempts: int(1, 10).default(5).register(settings, { description: 'Attempts per event (network error, timeout, HTTP 408, 429 or 5xx: tried again), then it is given up' }),
    retryDelayMs: int(10, 600_000).default(1000).register(settings, { description: 'Wait before the second attempt, ms; doubled before each next one (at most 10 minutes)' }),
    maxQueue: int(1, 1_000_000).default(1000).register(settings, { description: 'Events waiting for this URL (sent one at a time, in order); more are dropped and counted' }),
    maxPayloadBytes: int(0, 16 * 1024 * 1024)
      .default(64 * 1024)
      .register(settings, { description: 'Larger message payloads are left out of `message.published` and `message.dead_lettered` bodies (`payloadOmitted: true`), bytes', unit: 'bytes' }),
  })
  .superRefine((w, ctx) => {
    if (w.events.includes('message.published') && w.topics === undefined) ctx.addIssue({ code: 'custom', path: ['topics'], message: 'required with the message.published event' });
  });

export const applicationSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only')
    .register(settings, { description: 'Application id: letters, digits, `_`, `.` and `-`' }),
  appKey: z
    .string()
    .min(8, 'at least 8 characters')
    .register(settings, { description: 'The key clients log in to the application with (MQTT user name, STOMP `host`), at least 8 characters', secret: true }),
  profileKeys: profileMap(z.string().min(8, 'at least 8 characters'))
    .default({})
    .register(settings, { description: 'Static profile keys, by profile (`AGENT`, `SUPER_AGENT`, `SERVICE`, `ADMIN`): a client presenting one gets that profile; at least 8 characters', secret: true }),
  jwt: jwtSchema.optional(),
  passwordFile: z.string().optional().register(settings, { description: 'File of `login:PROFILE:scrypt-hash` lines (see `switchboard passwd`)' }),
  httpAuth: httpAuthSchema.optional(),
  mtls: z.strictObject({ profile: profile.register(settings, { description: 'TLS client certificates (with `tls.ca`): the verified subject CN is the login, with this profile' }) }).optional(),
  duplicateLogin: z
    .strictObject({ AGENT: duplicateLoginPolicySchema.default('takeover'), SUPER_AGENT: duplicateLoginPolicySchema.default('takeover'), SERVICE: duplicateLoginPolicySchema.default('takeover'), ADMIN: duplicateLoginPolicySchema.default('takeover') })
    .prefault({})
    .register(settings, { description: 'Per profile, a second login with a client id already connected: `takeover` (the old connection is closed) or `reject`', defaultText: 'takeover for every profile' }),
  acl: z.array(aclRuleSchema).default([]).register(settings, { description: 'Ordered allow/deny rules, first match wins, checked before the profile defaults' }),
  grants: profileMap(grants).default({}).register(settings, { description: 'Extra topics per profile: `{publish: [filters], subscribe: [filters]}`' }),
  presenceTopics: z.array(z.string().min(1)).default([]).register(settings, { description: 'Topic filters whose subscribers are announced on `$members/<filter>`' }),
  webhooks: z
    .array(webhookSchema)
    .optional()
    .register(settings, { description: 'Lifecycle webhooks: events POSTed as signed JSON to each URL (see the README, Webhooks); a reload applies changes' }),
});

// ---------------------------------------------------------------------------------------------
// The whole configuration

export const DEFAULT_LISTEN = ['mqtt://127.0.0.1:1883', 'ws://127.0.0.1:8080/mqtt', 'stomp://127.0.0.1:61613', 'ws://127.0.0.1:8080/stomp'];

export const configSchema = z.strictObject({
  listen: z
    .array(listenUrl)
    .min(1, 'at least one listener')
    .default(DEFAULT_LISTEN)
    .register(settings, {
      description: 'Listener URLs: `mqtt://H:P`, `mqtts://H:P`, `stomp://H:P`, `stomps://H:P`, `ws://H:P/PATH`, `wss://H:P/PATH`, `mqttsn://H:P` (UDP) (port 0 = any free port)',
      flag: { name: 'listen', arg: 'URL' },
    }),
  tls: tlsSchema,
  mqtt: mqttSchema,
  stomp: stompSchema,
  mqttsn: mqttsnSchema,
  limits: limitsSchema,
  auth: authSchema,
  http: httpSchema,
  ws: wsSchema,
  sys: sysSchema,
  store: storeSchema,
  cluster: clusterSchema,
  log: logSchema,
  applications: z
    .array(applicationSchema)
    .default([])
    .register(settings, { description: 'Applications: separate namespaces, each with its own logins (none = development mode: any login accepted, with any profile)' }),
});
