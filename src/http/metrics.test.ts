/** BrokerMetrics: the Prometheus text of a real broker (MQTT.js client, server-side publishes). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerAdmin } from '../core/admin.js';
import { contactCentre, APP_KEY, KEYS } from '../../test/helpers/apps.js';
import { startBroker } from '../../test/helpers/broker.js';
import type { RunningBroker } from '../../test/helpers/broker.js';
import { connect, end, Inbox } from '../../test/helpers/mqtt.js';
import { BrokerMetrics } from './metrics.js';

/**
 * Parse the text exposition format strictly: every line is a HELP, a TYPE or a sample of a
 * family whose TYPE came first; label values are unescaped. Keys: `name{a="x",b="y"}` (labels
 * as written), or `name`.
 */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${NAME})(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\})? (\\S+)$`);
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = new RegExp(`^# HELP (${NAME}) .*$`).exec(line);
    if (m !== null) continue;
    m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (m !== null) {
      assert.ok(!types.has(m[1]!), `one TYPE for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = sampleRe.exec(line);
    assert.ok(m !== null, `a valid sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `TYPE before the samples of ${name}`);
    const raw = m[3]!;
    const value = raw === 'Nan' || raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    assert.ok(!Number.isNaN(value) || /nan/i.test(raw), `a number: ${raw}`);
    const key = name + (m[2] ?? '');
    assert.ok(!samples.has(key), `one sample for ${key}`);
    samples.set(key, value);
  }
  return { samples, types };
}

function value(samples: Map<string, number>, key: string): number {
  const v = samples.get(key);
  assert.ok(v !== undefined, `${key} is exported`);
  return v;
}

let b: RunningBroker;
before(async () => {
  b = await startBroker({ applications: [contactCentre()] });
});
after(() => b.stop());

test('per-application counts, drops by reason, budget and connections, read at scrape time', async () => {
  const metrics = new BrokerMetrics(b.broker.admin);
  assert.match(metrics.contentType, /^text\/plain/);
  const admin = b.broker.admin.app('cc')!;

  // Nobody subscribed: 5 messages in, none out.
  for (let i = 0; i < 5; i++) assert.equal(admin.publish('calls/a1/event', `m${i}`).ok, true);
  let { samples, types } = parse(await metrics.text());
  assert.equal(value(samples, 'switchboard_messages_in_total{app="cc"}'), 5);
  assert.equal(value(samples, 'switchboard_bytes_in_total{app="cc"}'), 10);
  assert.equal(value(samples, 'switchboard_messages_out_total{app="cc"}'), 0);
  assert.equal(value(samples, 'switchboard_sessions{app="cc"}'), 0);
  assert.equal(value(samples, 'switchboard_connections'), 0);
  assert.equal(types.get('switchboard_messages_in_total'), 'counter');
  assert.equal(types.get('switchboard_sessions'), 'gauge');
  assert.equal(types.get('process_cpu_user_seconds_total'), 'counter');
  assert.ok(samples.has('process_cpu_user_seconds_total'));
  assert.ok(samples.has('nodejs_heap_size_used_bytes'));
  assert.equal(value(samples, 'switchboard_memory_budget_limit_bytes'), b.broker.admin.stats().budget.limit);
  assert.ok(value(samples, 'switchboard_memory_budget_limit_bytes') > 0);
  assert.equal(value(samples, 'switchboard_memory_budget_used_bytes'), 0);
  assert.equal(value(samples, 'switchboard_memory_budget_exceeded'), 0);
  for (const reason of ['queue-full', 'expired', 'slow-consumer', 'offline', 'no-subscribers', 'nack-limit', 'overload']) {
    assert.equal(value(samples, `switchboard_messages_dropped_total{app="cc",reason="${reason}"}`), 0);
  }

  // A persistent subscriber, 3 more messages to it, one retained, one direct message to nobody.
  const c = await connect(b.url('mqtt'), {
    protocolVersion: 5,
    clientId: 'sup-1',
    username: APP_KEY,
    password: KEYS.SUPER_AGENT,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  try {
    const inbox = new Inbox(c);
    await c.subscribeAsync('calls/#', { qos: 1 });
    for (let i = 0; i < 3; i++) assert.equal(admin.publish('calls/a1/event', 'xyz', { qos: 1 }).ok, true);
    assert.equal(admin.publish('calls/a1/state', 'busy', { qos: 1, retain: true }).ok, true);
    assert.equal(admin.sendDirect('ghost', 'hello').ok, true);
    await inbox.take(4);

    ({ samples } = parse(await metrics.text()));
    assert.equal(value(samples, 'switchboard_messages_in_total{app="cc"}'), 5 + 3 + 1 + 1);
    assert.equal(value(samples, 'switchboard_bytes_in_total{app="cc"}'), 10 + 9 + 4 + 5);
    assert.equal(value(samples, 'switchboard_messages_out_total{app="cc"}'), 4);
    assert.equal(value(samples, 'switchboard_sessions{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_clients_online{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_sessions_persistent{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_subscriptions{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_retained_messages{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_connections'), 1);
    assert.equal(value(samples, 'switchboard_messages_dropped_total{app="cc",reason="no-subscribers"}'), 1);
    assert.equal(value(samples, 'switchboard_messages_dropped_total{app="cc",reason="overload"}'), 0);
    assert.equal(value(samples, 'switchboard_dead_letters_total{app="cc"}'), 1);
    assert.equal(value(samples, 'switchboard_dead_letters_kept{app="cc"}'), 1);
    const stats = admin.stats();
    assert.ok(stats.storedBytes > 0);
    assert.equal(value(samples, 'switchboard_stored_bytes{app="cc"}'), stats.storedBytes);
    assert.ok(value(samples, 'switchboard_memory_budget_used_bytes') > 0, 'the retained message is in the budget');
  } finally {
    await end(c);
  }
});

test('extra values become switchboard_cluster_* gauges; no connections gauge when the admin does not know them', async () => {
  let extra: Record<string, number> | undefined = { 'cluster/peers': 2, 'Bus Frames-Sent': 7, 'bus.frames.sent': 9, '///': 1 };
  const metrics = new BrokerMetrics(new BrokerAdmin(new Map()), { extra: () => extra });
  let { samples, types } = parse(await metrics.text());
  assert.equal(value(samples, 'switchboard_cluster_peers'), 2);
  assert.equal(types.get('switchboard_cluster_peers'), 'gauge');
  assert.equal(value(samples, 'switchboard_cluster_bus_frames_sent'), 7, 'of keys that sanitise alike, the first wins');
  assert.equal([...samples.keys()].filter((k) => k.startsWith('switchboard_cluster_')).length, 2);
  assert.ok(!samples.has('switchboard_connections'));
  assert.ok(!samples.has('switchboard_cluster_'));
  assert.equal([...samples.keys()].filter((k) => k.includes('{app=')).length, 0, 'no application, no per-application series');

  extra = { 'cluster/peers': 3 };
  ({ samples } = parse(await metrics.text()));
  assert.equal(value(samples, 'switchboard_cluster_peers'), 3);
  assert.ok(!samples.has('switchboard_cluster_bus_frames_sent'), 'a key that is gone is no longer exported');

  extra = undefined;
  ({ samples } = parse(await metrics.text()));
  assert.ok(!samples.has('switchboard_cluster_peers'));
  assert.ok(samples.has('process_cpu_user_seconds_total'));
});
