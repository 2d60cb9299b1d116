/**
 * Asynchronous embedding hooks: a client's input waits while a hook decides, so order is kept.
 * Hooks answer after a number of event-loop turns (no timers): deterministic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine, settle } from '../helpers/memory.js';
import { PacketType } from '../../src/protocols/mqtt/codec/packets.js';

/** Resolve with `v` after `turns` event-loop turns. */
function after<T>(v: T, turns: number): Promise<T> {
  return new Promise((resolve) => {
    let n = turns;
    const step = (): void => {
      if (n-- <= 0) resolve(v);
      else setImmediate(step);
    };
    step();
  });
}

test('an asynchronous authorizePublish keeps the order of messages; refusals are answered in place (MQTT)', async (t) => {
  const e = engine({}, { hooks: { authorizePublish: (_c, msg) => after(!msg.topic.startsWith('secret/'), msg.topic.endsWith('slow') ? 8 : 0) } });
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe(['o/#', 'secret/#'], 1);
  const pub = await e.mqtt('pub');
  const sent = [
    pub.publish('o/slow', '1', { qos: 0 }),
    pub.publish('o/fast', '2', { qos: 0 }),
    pub.publish('secret/x', 'no', { qos: 1 }),
    pub.publish('o/slow', '3', { qos: 1 }),
    pub.publish('o/fast', '4', { qos: 2 }),
  ];
  assert.deepEqual(await Promise.all(sent), [null, null, 0x87, 0, 0]);
  assert.deepEqual(await sub.payloads(4), ['1', '2', '3', '4']);
  assert.equal(await sub.quiet(), true);
  // 3.1.1 cannot refuse: acknowledged and dropped.
  const v4 = await e.mqtt('v4', { level: 4 });
  assert.equal(await v4.publish('secret/y', 'no', { qos: 1 }), 0);
  assert.equal(await sub.quiet(), true);
});

test('an asynchronous authorizePublish keeps the order of STOMP SENDs and their receipts', async (t) => {
  const e = engine({}, { hooks: { authorizePublish: (_c, msg) => after(true, msg.payload.toString() === 'a' ? 8 : 1) } });
  t.after(() => e.stop());
  const sub = await e.stomp('sub');
  await sub.subscribe('/topic/s', 's');
  const pub = await e.stomp('pub');
  for (const [i, x] of ['a', 'b', 'c'].entries()) pub.send('SEND', { destination: '/topic/s', receipt: `r${i}` }, x);
  const receipts = [await pub.next(), await pub.next(), await pub.next()];
  assert.deepEqual(receipts.map((f) => [f.command, f.headers['receipt-id']]), [['RECEIPT', 'r0'], ['RECEIPT', 'r1'], ['RECEIPT', 'r2']]);
  assert.deepEqual(await sub.bodies(3), ['a', 'b', 'c']);
});

test('an asynchronous authorizeSubscribe: the SUBACK follows the decision, and a publish sent right behind it already matches', async (t) => {
  const e = engine({}, {
    hooks: {
      authorizeSubscribe: (_c, filter) => (filter === 'boom/#' ? Promise.reject(new Error('hook failed')) : after(filter !== 'forbidden/#', 5)),
    },
  });
  t.after(() => e.stop());
  const c = await e.mqtt('c');
  c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ filter: 'mine/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }], properties: {} });
  c.send({ type: PacketType.PUBLISH, dup: false, qos: 1, retain: false, topic: 'mine/x', packetId: 2, properties: {}, payload: Buffer.from('behind') });
  assert.deepEqual((await c.next()).type, PacketType.SUBACK);
  const rest = [await c.next(), await c.next()].map((p) => p.type).sort();
  assert.deepEqual(rest, [PacketType.PUBLISH, PacketType.PUBACK].sort());
  assert.deepEqual(await c.subscribe(['forbidden/#', 'boom/#', 'fine/#']), [0x87, 0x87, 1]); // a failing hook denies
  const st = await e.stomp('st');
  await assert.rejects(st.subscribe('/topic/forbidden/#', 'f'), /not authorized/);
});

test('an asynchronous authorizeUnsubscribe: a refusal keeps the subscription', async (t) => {
  const e = engine({}, { hooks: { authorizeUnsubscribe: (_c, filter) => after(filter !== 'pinned', 3) } });
  t.after(() => e.stop());
  const c = await e.mqtt('c');
  await c.subscribe(['pinned', 'loose'], 0);
  assert.deepEqual(await c.unsubscribe(['pinned', 'loose']), [0x87, 0]);
  e.broker.publish('default', 'pinned', 'still');
  e.broker.publish('default', 'loose', 'gone');
  assert.deepEqual(await c.payloads(1), ['still']);
  assert.equal(await c.quiet(), true);
});

test('an asynchronous login holds the packets pipelined behind CONNECT, in order', async (t) => {
  const e = engine({}, { hooks: { authenticate: () => after({ app: 'default', profile: 'AGENT' as const }, 6), authorizeConnect: () => after(true, 2) } });
  t.after(() => e.stop());
  const c = e.open();
  c.send({ type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 5, cleanStart: true, keepAlive: 0, clientId: 'pipe', will: null, username: null, password: null, properties: {} });
  c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ filter: 'p', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }], properties: {} });
  c.send({ type: PacketType.PUBLISH, dup: false, qos: 0, retain: false, topic: 'p', packetId: 0, properties: {}, payload: Buffer.from('self') });
  const types = [await c.next(), await c.next(), await c.next()].map((p) => p.type);
  assert.deepEqual(types, [PacketType.CONNACK, PacketType.SUBACK, PacketType.PUBLISH]);
});

test('a client that leaves while a hook decides its CONNECT leaves no session behind', async (t) => {
  let release: ((ok: boolean) => void) | null = null;
  const e = engine({}, {
    hooks: {
      // The will is authorised as a publish at CONNECT: held until the test releases it.
      authorizePublish: (_c, msg) => (msg.topic === 'lw/held' ? new Promise<boolean>((r) => (release = r)) : true),
    },
  });
  t.after(() => e.stop());
  const watcher = await e.mqtt('watcher');
  await watcher.subscribe('lw/#', 1);
  const c = e.open();
  c.send({
    type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 5, cleanStart: true, keepAlive: 0, clientId: 'leaver',
    will: { topic: 'lw/held', payload: Buffer.from('w'), qos: 1, retain: false, properties: {} }, username: null, password: null, properties: {},
  });
  await settle();
  assert.notEqual(release, null);
  c.drop();
  await settle();
  release!(true);
  await settle();
  assert.equal(c.received.length, 0); // never acknowledged
  assert.equal(e.app().router.sessions.has('leaver'), false); // expiry 0: gone with its connection
});
