/** QoS 1 / 2 flows, resume with DUP, the in-flight window and the offline queue, over in-memory connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine } from '../helpers/memory.js';
import type { Engine, MqttPeer } from '../helpers/memory.js';
import { PacketType } from '../../src/protocols/mqtt/codec/packets.js';

const persistent = { cleanStart: false, properties: { sessionExpiryInterval: 600 } };

async function resume(e: Engine, clientId: string, autoAck = false): Promise<{ c: MqttPeer; present: boolean }> {
  const c = e.open(5, { autoAck });
  const ack = await c.connect({ clientId, ...persistent });
  assert.equal(ack.reasonCode, 0);
  return { c, present: ack.sessionPresent };
}

test('QoS 1: unacknowledged deliveries are resent on resume with DUP, same packet ids, in order [MQTT-4.4.0-1]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub', { ...persistent, autoAck: false });
  await sub.subscribe('t', 1);
  const pub = await e.mqtt('pub');
  for (const x of ['a', 'b', 'c']) await pub.publish('t', x, { qos: 1 });
  const first = await sub.publishes(3);
  assert.deepEqual(first.map((p) => [p.payload.toString(), p.dup]), [['a', false], ['b', false], ['c', false]]);
  sub.ack(first[0]!);
  await sub.quiet();
  sub.drop();
  await sub.whenClosed();

  const { c, present } = await resume(e, 'sub');
  assert.equal(present, true); // [MQTT-3.2.2-2]
  const again = await c.publishes(2);
  assert.deepEqual(again.map((p) => [p.payload.toString(), p.dup, p.packetId]), [['b', true, first[1]!.packetId], ['c', true, first[2]!.packetId]]);
  for (const p of again) c.ack(p);
  assert.equal(await c.quiet(), true);
  assert.equal(e.app().router.sessions.get('sub')!.inflightCount, 0);
});

test('QoS 2 outbound: PUBREC gets PUBREL; on resume a released delivery gets PUBREL again, an unreleased one the PUBLISH with DUP', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub', { ...persistent, autoAck: false });
  await sub.subscribe('t', 2);
  e.broker.publish('default', 't', 'one', { qos: 2 });
  e.broker.publish('default', 't', 'two', { qos: 2 });
  const [one, two] = await sub.publishes(2);
  sub.ack(one!); // PUBREC
  const rel = await sub.expect(PacketType.PUBREL);
  assert.equal(rel.packetId, one!.packetId);
  const session = e.app().router.sessions.get('sub')!;
  assert.equal(session.inflight(one!.packetId)?.phase, 'received');
  assert.equal(session.inflight(two!.packetId)?.phase, 'sent');
  sub.drop();
  await sub.whenClosed();

  const { c } = await resume(e, 'sub');
  const p1 = await c.next();
  assert.equal(p1.type, PacketType.PUBREL);
  assert.equal(p1.type === PacketType.PUBREL && p1.packetId, one!.packetId);
  const p2 = await c.publishPacket();
  assert.deepEqual([p2.payload.toString(), p2.dup, p2.packetId], ['two', true, two!.packetId]);
  c.send({ type: PacketType.PUBCOMP, packetId: one!.packetId, reasonCode: 0, properties: {} });
  c.ack(p2);
  const rel2 = await c.expect(PacketType.PUBREL);
  c.send({ type: PacketType.PUBCOMP, packetId: rel2.packetId, reasonCode: 0, properties: {} });
  assert.equal(await c.quiet(), true);
  assert.equal(session.inflightCount, 0);
});

test('QoS 2 inbound: a PUBLISH sent again before PUBREL is acknowledged again and routed once, also across a reconnect [MQTT-4.3.3-10]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe('q2', 2);
  const pub = await e.mqtt('pub', persistent);
  const publish = (dup: boolean): void =>
    pub.send({ type: PacketType.PUBLISH, dup, qos: 2, retain: false, topic: 'q2', packetId: 7, properties: {}, payload: Buffer.from('exactly once') });
  publish(false);
  assert.equal((await pub.expect(PacketType.PUBREC)).packetId, 7);
  publish(true);
  assert.equal((await pub.expect(PacketType.PUBREC)).packetId, 7);
  pub.drop();
  await pub.whenClosed();
  const { c: again } = await resume(e, 'pub');
  const send = (dup: boolean): void =>
    again.send({ type: PacketType.PUBLISH, dup, qos: 2, retain: false, topic: 'q2', packetId: 7, properties: {}, payload: Buffer.from('exactly once') });
  send(true);
  assert.equal((await again.expect(PacketType.PUBREC)).packetId, 7);
  again.send({ type: PacketType.PUBREL, packetId: 7, reasonCode: 0, properties: {} });
  assert.equal((await again.expect(PacketType.PUBCOMP)).packetId, 7);
  assert.deepEqual(await sub.payloads(1), ['exactly once']);
  assert.equal(await sub.quiet(), true);
  // Released: the id is free, the same id now carries a new message.
  send(false);
  await again.expect(PacketType.PUBREC);
  assert.deepEqual(await sub.payloads(1), ['exactly once']);
});

test('in-flight window: at most Receive Maximum unacknowledged; the rest waits in the session queue, in order', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub', { autoAck: false, properties: { receiveMaximum: 2 } });
  await sub.subscribe('w', 1);
  for (let i = 0; i < 5; i++) e.broker.publish('default', 'w', `${i}`, { qos: 1 });
  const session = e.app().router.sessions.get('sub')!;
  const firstTwo = await sub.publishes(2);
  assert.equal(await sub.quiet(), true);
  assert.equal(session.inflightCount, 2);
  assert.equal(session.queued, 3);
  sub.ack(firstTwo[0]!);
  const third = await sub.publishPacket();
  assert.equal(third.payload.toString(), '2');
  assert.equal(await sub.quiet(), true);
  sub.ack(firstTwo[1]!);
  sub.ack(third);
  const rest = await sub.publishes(2);
  assert.deepEqual(rest.map((p) => p.payload.toString()), ['3', '4']);
  for (const p of rest) sub.ack(p);
  await sub.quiet();
  assert.equal(session.inflightCount + session.queued, 0);
});

test('offline queue: a persistent session keeps QoS 1/2 (not QoS 0) and gets them in order on resume', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub', persistent);
  await sub.subscribe('off/#', 2);
  await sub.disconnect();
  const pub = await e.mqtt('pub');
  await pub.publish('off/1', 'q1', { qos: 1 });
  await pub.publish('off/0', 'q0', { qos: 0 });
  await pub.publish('off/2', 'q2', { qos: 2 });
  assert.equal(e.app().router.sessions.get('sub')!.queued, 2);
  const { c, present } = await resume(e, 'sub', true);
  assert.equal(present, true);
  const got = await c.publishes(2);
  assert.deepEqual(got.map((p) => [p.payload.toString(), p.qos]), [['q1', 1], ['q2', 2]]);
  assert.equal(await c.quiet(), true);
});

test('offline queue bound: past limits.maxQueuedMessages deliveries are dropped, counted and dead-lettered', async (t) => {
  const e = engine({ limits: { maxQueuedMessages: 2 } });
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq');
  await dlq.subscribe('$dlq/#', 1);
  const sub = await e.mqtt('sub', persistent);
  await sub.subscribe('full', 1);
  await sub.disconnect();
  for (let i = 0; i < 4; i++) e.broker.publish('default', 'full', `${i}`, { qos: 1 });
  const letters = await dlq.publishes(2);
  assert.deepEqual(letters.map((p) => p.topic), ['$dlq/queue-full/full', '$dlq/queue-full/full']);
  assert.deepEqual(letters.map((p) => (JSON.parse(p.payload.toString()) as { payload: string; to: string }).payload), ['2', '3']);
  assert.equal((JSON.parse(letters[0]!.payload.toString()) as { to: string }).to, 'sub');
  const router = e.app().router;
  assert.equal(router.stats.droppedByReason['queue-full'], 2);
  assert.equal(router.sessions.get('sub')!.dropped, 2);
  const { c } = await resume(e, 'sub', true);
  assert.deepEqual(await c.payloads(2), ['0', '1']);
});

test('a message that expires while queued is dropped as expired; one still valid carries its remaining lifetime [MQTT-3.3.2-5, MQTT-3.3.2-6]', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
  const e = engine();
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq');
  await dlq.subscribe('$dlq/#', 1);
  const sub = await e.mqtt('sub', persistent);
  await sub.subscribe('exp/#', 1);
  await sub.disconnect();
  const pub = await e.mqtt('pub');
  await pub.publish('exp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 10 } });
  await pub.publish('exp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } });
  t.mock.timers.tick(20_500);
  const { c } = await resume(e, 'sub', true);
  const p = await c.publishPacket();
  assert.equal(p.payload.toString(), 'long');
  assert.equal(p.properties.messageExpiryInterval, 40); // 39.5 s left, rounded up
  assert.equal(await c.quiet(), true);
  assert.equal((await dlq.publishPacket()).topic, '$dlq/expired/exp/short');
});
