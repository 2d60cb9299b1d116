/** Limits that protect the broker, enforced by the core for every protocol, over in-memory connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine, settle } from '../helpers/memory.js';
import { PacketType } from '../../src/protocols/mqtt/codec/packets.js';
import { createMessage, messageSize } from '../../src/core/message.js';
import { subscriptionSize } from '../../src/core/router.js';

test('limits.memoryBudget: past the budget QoS 1/2 get 0x97, QoS 0 is dropped and counted, STOMP gets an ERROR; clearing frees it', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe('b/#', 1);
  const c = await e.mqtt('c');
  const router = e.app().router;
  const base = router.budget.used; // the subscription
  router.budget.limit = base + 100;
  const big = Buffer.alloc(150, 1);
  assert.equal(await c.publish('b/big', big, { qos: 1, retain: true }), 0); // accepted: the budget was not spent yet
  await sub.publishPacket();
  assert.equal(router.budget.used, base + messageSize(createMessage('b/big', big, 1, true, null, 0, null))); // full size: payload, topic, overhead
  assert.equal(await c.publish('b/x', 'q1', { qos: 1 }), 0x97);
  assert.equal(await c.publish('b/x', 'q2', { qos: 2 }), 0x97);
  await c.publish('b/x', 'q0', { qos: 0 });
  await settle();
  assert.equal(router.stats.droppedByReason.overload, 3);
  const st = await e.stomp('st');
  await assert.rejects(st.publish('/topic/b/x', 'refused'), /quota exceeded/);
  assert.equal(await sub.quiet(), true);
  assert.equal(await c.publish('b/big', '', { qos: 1, retain: true }), 0); // clearing is always let through
  await sub.publishPacket();
  assert.equal(router.budget.used, base);
  assert.equal(await c.publish('b/x', 'again', { qos: 1 }), 0);
  assert.deepEqual(await sub.payloads(1), ['again']);
});

test('limits.maxSubscriptionsPerClient: one more gets 0x97 (v5) / 0x80 (3.1.1) / a STOMP ERROR; replacing one is allowed', async (t) => {
  const e = engine({ limits: { maxSubscriptionsPerClient: 2 } });
  t.after(() => e.stop());
  const v5 = await e.mqtt('v5');
  assert.deepEqual(await v5.subscribe(['a', 'b', 'c'], 1), [1, 1, 0x97]);
  assert.deepEqual(await v5.subscribe('a', 2), [2]);
  const v4 = await e.mqtt('v4', { level: 4 });
  assert.deepEqual(await v4.subscribe(['a', 'b', 'c'], 1), [1, 1, 0x80]);
  const st = await e.stomp('st');
  await st.subscribe('/topic/a', '1');
  await st.subscribe('/topic/b', '2');
  await assert.rejects(st.subscribe('/topic/c', '3'), /quota exceeded/);
});

test('limits.maxPersistentSessions: a new persistent session past the limit is refused; resuming and clean sessions are not', async (t) => {
  const e = engine({ limits: { maxPersistentSessions: 1 } });
  t.after(() => e.stop());
  const persistent = { cleanStart: false, properties: { sessionExpiryInterval: 60 } };
  const first = await e.mqtt('first', persistent);
  await first.disconnect();
  assert.equal((await e.open().connect({ clientId: 'second', ...persistent })).reasonCode, 0x97);
  const v4 = e.open(4);
  assert.equal((await v4.connect({ clientId: 'second-v4', cleanStart: false })).reasonCode, 3); // 3.1.1: server unavailable
  assert.equal((await e.open().connect({ clientId: 'clean' })).reasonCode, 0);
  const back = e.open();
  const ack = await back.connect({ clientId: 'first', ...persistent });
  assert.deepEqual([ack.reasonCode, ack.sessionPresent], [0, true]);
});

test('session queues are bounded in bytes (limits.maxQueuedBytes) and per application (limits.maxStoredBytesPerApp)', async (t) => {
  const persistent = { cleanStart: false, properties: { sessionExpiryInterval: 60 } };
  const parked = async (limits: { maxQueuedBytes: number; maxStoredBytesPerApp: number }) => {
    const e = engine({ limits });
    t.after(() => e.stop());
    for (const id of ['p1', 'p2']) {
      const c = await e.mqtt(id, persistent);
      await c.subscribe('bytes', 1);
      await c.disconnect();
    }
    const router = e.app().router;
    const send = (n: number): number => e.broker.publish('default', 'bytes', Buffer.alloc(n), { qos: 1 });
    return { router, send, p1: router.sessions.get('p1')!, p2: router.sessions.get('p2')! };
  };
  // Messages count at their full size (payload, topic, overhead); subscriptions count per application.
  const size = (n: number): number => messageSize(createMessage('bytes', Buffer.alloc(n), 1, false, null, 0, null));
  // Per session: room for 600 + 400, not 600 + 500, although the application has room.
  const a = await parked({ maxQueuedBytes: size(600) + size(400), maxStoredBytesPerApp: 1_000_000 });
  a.send(600);
  a.send(500);
  a.send(400);
  assert.deepEqual([a.p1.queuedBytes, a.p2.queuedBytes], [size(600) + size(400), size(600) + size(400)]);
  assert.equal(a.router.stats.droppedByReason['queue-full'], 2);
  // Per application: both subscriptions and 600 each fit, and room for one more 200 only.
  const subs = 2 * subscriptionSize({ subscriber: { clientId: 'p' } as never, raw: 'bytes', filter: 'bytes', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
  const b = await parked({ maxQueuedBytes: 1_000_000, maxStoredBytesPerApp: subs + 2 * size(600) + 2 * size(200) - 1 });
  b.send(600);
  b.send(200); // p1 gets it, p2 does not
  assert.deepEqual([b.p1.queuedBytes, b.p2.queuedBytes, b.router.storedBytes], [size(600) + size(200), size(600), subs + 2 * size(600) + size(200)]);
  assert.equal(b.router.stats.droppedByReason['queue-full'], 1);
});

test('slow consumer: QoS 0 is dropped (and dead-lettered) while a client has more than limits.slowConsumerBytes unsent', async (t) => {
  const e = engine({ limits: { slowConsumerBytes: 1024 } });
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq');
  await dlq.subscribe('$dlq/#', 1);
  const slow = await e.mqtt('slow');
  await slow.subscribe('firehose', 1);
  const st = await e.stomp('st');
  await st.subscribe('/topic/firehose', 's');
  slow.peer.stall();
  st.peer.stall();
  e.broker.publish('default', 'firehose', Buffer.alloc(2000, 0x61)); // written: the backlog was empty
  await settle();
  e.broker.publish('default', 'firehose', 'dropped'); // 2000 bytes unread
  e.broker.publish('default', 'firehose', 'kept', { qos: 1 }); // QoS 1 is never dropped for a slow MQTT consumer
  const letters = await dlq.publishes(2);
  assert.deepEqual(letters.map((p) => p.topic), ['$dlq/slow-consumer/firehose', '$dlq/slow-consumer/firehose']);
  assert.deepEqual(letters.map((p) => JSON.parse(p.payload.toString()) as { to: string; payload: string }).map((l) => `${l.to}:${l.payload}`).sort(), ['slow:dropped', 'st:dropped']);
  slow.peer.unstall();
  st.peer.unstall();
  assert.deepEqual((await slow.publishes(2)).map((p) => p.payload.length), [2000, 4]);
  assert.equal(await slow.quiet(), true);
});

test('mqtt.receiveMaximum: more unreleased inbound QoS 2 than allowed is DISCONNECT 0x93 [MQTT-3.3.4-9]', async (t) => {
  const e = engine({ mqtt: { receiveMaximum: 2 } });
  t.after(() => e.stop());
  const c = await e.mqtt('c');
  for (const id of [1, 2, 3]) c.send({ type: PacketType.PUBLISH, dup: false, qos: 2, retain: false, topic: 'rm', packetId: id, properties: {}, payload: Buffer.from('x') });
  await c.expect(PacketType.PUBREC);
  await c.expect(PacketType.PUBREC);
  assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x93);
  await c.whenClosed();
});
