/**
 * createBroker(config, { bus }): brokers in one process linked by an embedder's own bus
 * (memory-bus.ts), no worker processes. The core needs nothing else from a bus than the
 * interface in core/bus.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connectWithInbox, end } from '../helpers/mqtt.js';
import type { Inbox, MqttClient } from '../helpers/mqtt.js';
import type { ApplicationConfig } from '../../src/config/types.js';
import { MemoryBus, MemoryHub } from './memory-bus.js';
import { APP_KEY, eventually, KEYS } from './helpers.js';
import type { P } from './helpers.js';

const app: ApplicationConfig = {
  id: 'cl',
  appKey: APP_KEY,
  profileKeys: { ...KEYS },
  duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'reject', ADMIN: 'takeover' },
  acl: [],
  grants: {},
  presenceTopics: [],
} as ApplicationConfig;

const hub = new MemoryHub();
const nodes: RunningBroker[] = [];
const clients: MqttClient[] = [];

async function node(id: string): Promise<RunningBroker> {
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0'], applications: [app], sys: { interval: 1 } }, { bus: new MemoryBus(hub, id) });
  nodes.push(b);
  return b;
}

async function login(b: RunningBroker, clientId: string, profile: P = 'ADMIN', extra: Record<string, unknown> = {}): Promise<{ client: MqttClient; inbox: Inbox }> {
  const r = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId, username: APP_KEY, password: KEYS[profile], ...extra });
  clients.push(r.client);
  return r;
}

/** Wait until the bus has delivered what is in flight. */
const settle = (): Promise<void> => hub.idle();

let a: RunningBroker;
let b: RunningBroker;
before(async () => {
  a = await node('a');
  b = await node('b');
});
after(async () => {
  await end(...clients);
  for (const n of nodes) await n.stop();
});

test('a publish crosses once, only to a node with matching interest', async () => {
  const { client: sub, inbox } = await login(b, 'mb-sub');
  await sub.subscribeAsync('mb/+', { qos: 1 });
  const { client: pub } = await login(a, 'mb-pub');
  await settle();
  const before = hub.sent.get('fanout') ?? 0;
  await pub.publishAsync('mb/x', 'hello', { qos: 1 });
  await pub.publishAsync('elsewhere/x', 'nobody there', { qos: 1 });
  const m = await inbox.next();
  assert.deepEqual([m.topic, m.payload.toString()], ['mb/x', 'hello']);
  assert.ok(await inbox.none());
  assert.equal((hub.sent.get('fanout') ?? 0) - before, 1);
});

test('shared group members on two nodes: each message once', async () => {
  const { client: s1, inbox: i1 } = await login(a, 'mb-s1', 'SERVICE');
  const { client: s2, inbox: i2 } = await login(b, 'mb-s2', 'SERVICE');
  await s1.subscribeAsync('$share/g/mbs/+', { qos: 1 });
  await s2.subscribeAsync('$share/g/mbs/+', { qos: 1 });
  const { client: pub } = await login(b, 'mb-spub');
  await settle();
  for (let i = 0; i < 10; i++) await pub.publishAsync(`mbs/${i}`, String(i), { qos: 1 });
  await eventually(() => i1.pending + i2.pending >= 10, '10 deliveries');
  await new Promise((r) => setTimeout(r, 100)); // nothing more arrives
  const got = [i1.pending, i2.pending];
  assert.equal(got[0]! + got[1]!, 10, `${got}`);
  assert.ok(got[0]! > 0 && got[1]! > 0, `${got}`);
});

test('a node that starts later gets the retained messages, and names its $SYS topics', async () => {
  const { client: pub } = await login(a, 'mb-rpub');
  await pub.publishAsync('mbr/kept', 'kept', { qos: 1, retain: true });
  await settle();
  const c = await node('c');
  const { client: late, inbox } = await login(c, 'mb-late');
  await late.subscribeAsync('mbr/#', { qos: 1 });
  const m = await inbox.next();
  assert.deepEqual([m.topic, m.payload.toString(), m.packet.retain], ['mbr/kept', 'kept', true]);
  await late.subscribeAsync('$SYS/broker/c/version', { qos: 0 });
  assert.equal((await inbox.next()).topic, '$SYS/broker/c/version');
});

test('$inbox: once to a client on another node; to nobody, one dead letter', async () => {
  const { client: w, inbox: dlq } = await login(a, 'mb-dlq', 'SERVICE');
  await w.subscribeAsync('$dlq/#', { qos: 1 });
  const { client: r, inbox: rIn } = await login(b, 'mb-r', 'AGENT');
  await r.subscribeAsync('$inbox/mb-r/#', { qos: 1 });
  const { client: s } = await login(a, 'mb-sender', 'AGENT');
  await settle();
  await s.publishAsync('$inbox/mb-r', 'direct', { qos: 1 });
  await s.publishAsync('$inbox/mb-nobody', 'lost', { qos: 1 });
  assert.equal((await rIn.next()).payload.toString(), 'direct');
  const letter = JSON.parse((await dlq.next()).payload.toString()) as { originalTopic: string };
  assert.equal(letter.originalTopic, '$inbox/mb-nobody');
  assert.ok(await rIn.none());
  assert.ok(await dlq.none(50));
});
