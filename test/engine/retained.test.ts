/** Retained messages through the core: store, replace, clear, Retain Handling, limits, across protocols. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine, settle } from '../helpers/memory.js';

test('retained: set, replace, clear; sent on subscribe with the retain flag, live copies without it [MQTT-3.3.1-5..12]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const pub = await e.mqtt('pub');
  await pub.publish('r/a', 'first', { qos: 1, retain: true });
  await pub.publish('r/a', 'second', { qos: 1, retain: true });
  await pub.publish('r/b', 'other', { qos: 0, retain: true });
  await settle();
  assert.equal(e.app().router.retained.size, 2);
  const s1 = await e.mqtt('s1');
  await s1.subscribe('r/#', 1);
  const got = await s1.publishes(2);
  assert.deepEqual(got.map((p) => [p.topic, p.payload.toString(), p.retain]).sort(), [['r/a', 'second', true], ['r/b', 'other', true]]);
  assert.equal(got.find((p) => p.topic === 'r/b')!.qos, 0); // min(published, granted)
  const rap = await e.mqtt('rap');
  await rap.subscribe([{ filter: 'r/a', retainAsPublished: true }]);
  await rap.publishPacket();
  await pub.publish('r/a', 'third', { qos: 1, retain: true });
  assert.equal((await s1.publishPacket()).retain, false); // [MQTT-3.3.1-12]
  assert.equal((await rap.publishPacket()).retain, true); // Retain As Published [MQTT-3.3.1-13]
  await pub.publish('r/a', '', { qos: 1, retain: true }); // clears [MQTT-3.3.1-10]
  assert.equal((await s1.publishPacket()).payload.length, 0); // still forwarded
  assert.equal(e.app().router.retained.size, 1);
  const s2 = await e.mqtt('s2');
  await s2.subscribe('r/a', 1);
  assert.equal(await s2.quiet(), true);
});

test('Retain Handling: 0 on every subscribe, 1 only for a new subscription, 2 never [MQTT-3.3.1-9..11]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  e.broker.publish('default', 'rh', 'kept', { qos: 1, retain: true });
  const c = await e.mqtt('c');
  for (const [rh, again, want] of [[0, false, 1], [0, true, 1], [1, true, 0], [2, false, 0]] as const) {
    if (!again) await c.unsubscribe('rh');
    await c.subscribe([{ filter: 'rh', retainHandling: rh }]);
    const n = (await c.quiet()) ? 0 : (await c.publishes(1)).length;
    assert.equal(n, want, `retain handling ${rh}, ${again ? 'existing' : 'new'} subscription`);
  }
  await c.unsubscribe('rh');
  await c.subscribe([{ filter: 'rh', retainHandling: 1 }]);
  assert.equal((await c.publishPacket()).payload.toString(), 'kept');
});

test('retained messages reach STOMP subscribers; shared subscriptions get none (MQTT 5.0 section 4.8.2)', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const pub = await e.mqtt('pub', { level: 4 });
  await pub.publish('st/r', 'for stomp', { qos: 1, retain: true });
  const st = await e.stomp('st');
  await st.subscribe('/topic/st/#', 's');
  const m = await st.message();
  assert.deepEqual([m.body.toString(), m.headers.destination, m.headers.subscription], ['for stomp', '/topic/st/r', 's']);
  const shared = await e.mqtt('shared');
  await shared.subscribe('$share/g/st/#', 1);
  assert.equal(await shared.quiet(), true);
});

test('an expired retained message is not sent to new subscribers', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
  const e = engine();
  t.after(() => e.stop());
  const pub = await e.mqtt('pub');
  await pub.publish('ex/short', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 5 } });
  await pub.publish('ex/long', 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 50 } });
  t.mock.timers.tick(10_000);
  const c = await e.mqtt('c');
  await c.subscribe('ex/#', 1);
  assert.deepEqual(await c.payloads(1), ['long']);
  assert.equal(await c.quiet(), true);
});

test('limits.maxRetained: a new retained topic past the limit gets 0x97; replacing and clearing still work', async (t) => {
  const e = engine({ limits: { maxRetained: 2 } });
  t.after(() => e.stop());
  const c = await e.mqtt('c');
  assert.equal(await c.publish('lim/1', 'a', { qos: 1, retain: true }), 0x10); // stored; nobody subscribed
  assert.equal(await c.publish('lim/2', 'b', { qos: 1, retain: true }), 0x10);
  assert.equal(await c.publish('lim/3', 'c', { qos: 1, retain: true }), 0x97);
  assert.equal(await c.publish('lim/1', 'a2', { qos: 1, retain: true }), 0x10); // replace
  assert.equal(await c.publish('lim/2', '', { qos: 1, retain: true }), 0x10); // clear
  assert.equal(await c.publish('lim/3', 'c', { qos: 1, retain: true }), 0x10);
  assert.deepEqual([...e.app().router.retained.match('lim/#')].map((m) => m.payload.toString()).sort(), ['a2', 'c']);
});

test('limits.maxRetainedPerClient counts per publisher; a 3.1.1 client over quota is closed without PUBACK', async (t) => {
  const e = engine({ limits: { maxRetainedPerClient: 1 } });
  t.after(() => e.stop());
  const a = await e.mqtt('a');
  assert.equal(await a.publish('pc/1', 'x', { qos: 1, retain: true }), 0x10);
  assert.equal(await a.publish('pc/2', 'x', { qos: 1, retain: true }), 0x97);
  assert.equal(await a.publish('pc/1', 'y', { qos: 1, retain: true }), 0x10); // its own, replaced
  const b = await e.mqtt('b', { level: 4 });
  assert.equal(await b.publish('pc/2', 'x', { qos: 1, retain: true }), 0);
  b.send({ type: 3, dup: false, qos: 1, retain: true, topic: 'pc/3', packetId: 99, properties: {}, payload: Buffer.from('over') });
  await b.whenClosed();
  assert.equal(b.received.length, 0); // no PUBACK: 3.1.1 has no negative acknowledgement, it may send it again later
  assert.equal(e.app().router.retained.get('pc/3'), undefined);
});
