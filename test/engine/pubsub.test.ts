/** Publish / subscribe through the core over in-memory connections: one topic space for MQTT 3.1.1, 5.0 and STOMP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine, settle } from '../helpers/memory.js';

test('one topic space: MQTT 5, MQTT 3.1.1 and STOMP reach each other, payload bytes unchanged', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const v5 = await e.mqtt('v5');
  const v4 = await e.mqtt('v4', { level: 4 });
  const st = await e.stomp('st');
  assert.deepEqual(await v5.subscribe('room/#', 1), [1]);
  assert.deepEqual(await v4.subscribe('room/#', 1), [1]);
  await st.subscribe('/topic/room/#', 's-1');
  const binary = Buffer.from([0, 1, 2, 0, 255]);

  assert.equal(await v5.publish('room/a', binary, { qos: 1 }), 0);
  assert.deepEqual((await v4.publishPacket()).payload, binary);
  assert.deepEqual((await st.message()).body, binary); // content-length carries the NULs
  assert.deepEqual((await v5.publishPacket()).payload, binary); // its own subscription matches too

  await st.publish('/topic/room/b', 'from stomp');
  for (const c of [v5, v4]) {
    const p = await c.publishPacket();
    assert.equal(p.topic, 'room/b');
    assert.equal(p.payload.toString(), 'from stomp');
  }
  const own = await st.message();
  assert.equal(own.headers.destination, '/topic/room/b');

  await v4.publish('room/c', 'from 3.1.1', { qos: 1 });
  assert.equal((await st.message()).body.toString(), 'from 3.1.1');
  assert.equal((await v5.publishPacket()).topic, 'room/c');
});

test('delivery QoS is the lower of the published and the granted QoS [MQTT-3.8.4-8]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe([{ filter: 'q/two', qos: 2 }, { filter: 'q/one', qos: 1 }, { filter: 'q/zero', qos: 0 }]);
  const pub = await e.mqtt('pub');
  for (const [topic, qos, want] of [['q/two', 2, 2], ['q/two', 1, 1], ['q/one', 2, 1], ['q/zero', 2, 0], ['q/two', 0, 0]] as const) {
    await pub.publish(topic, `${topic}@${qos}`, { qos });
    const p = await sub.publishPacket();
    assert.equal(p.payload.toString(), `${topic}@${qos}`);
    assert.equal(p.qos, want, `${topic} published at ${qos}`);
  }
});

test('wildcards match by level; leading wildcards never match $-topics [MQTT-4.7.2-1]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe(['#', 'w/+/x'], 0);
  const pub = await e.mqtt('pub');
  await pub.publish('$test/w', 'dollar', { qos: 1 });
  await pub.publish('w/a/x', 'plus', { qos: 1 });
  await pub.publish('w/a/b/x', 'deep', { qos: 1 });
  assert.deepEqual(await sub.payloads(2), ['plus', 'deep']); // '#' and 'w/+/x' overlap: one copy of 'plus'
  assert.equal(await sub.quiet(), true);
});

test('overlapping subscriptions of one session: one delivery, highest QoS, every subscription identifier [MQTT-3.3.4-2, MQTT-3.3.4-3]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe('o/#', 0, { subscriptionIdentifiers: [7] });
  await sub.subscribe('o/+', 1, { subscriptionIdentifiers: [9] });
  const pub = await e.mqtt('pub');
  await pub.publish('o/x', 'once', { qos: 1 });
  const p = await sub.publishPacket();
  assert.equal(p.qos, 1);
  assert.deepEqual([...(p.properties.subscriptionIdentifiers ?? [])].sort(), [7, 9]);
  assert.equal(await sub.quiet(), true);
});

test('No Local: a session does not receive its own publishes on that subscription [MQTT-3.8.3-3]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const a = await e.mqtt('a');
  await a.subscribe([{ filter: 'nl/#', noLocal: true }]);
  await a.publish('nl/1', 'mine', { qos: 1 });
  const b = await e.mqtt('b');
  await b.publish('nl/2', 'theirs', { qos: 1 });
  assert.deepEqual(await a.payloads(1), ['theirs']);
  assert.equal(await a.quiet(), true);
});

test('metadata crosses protocols: content type, reply-to / response topic, correlation, custom headers / user properties', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const m5 = await e.mqtt('m5');
  await m5.subscribe('meta/#');
  const st = await e.stomp('st');
  await st.subscribe('/topic/meta/#', 's');

  await m5.publish('meta/from-mqtt', '{}', {
    qos: 1,
    properties: { contentType: 'application/json', responseTopic: '$queue/replies', correlationData: Buffer.from('c-1'), userProperties: [['k', 'v']] },
  });
  const msg = await st.message();
  assert.equal(msg.headers['content-type'], 'application/json');
  assert.equal(msg.headers['reply-to'], '/queue/replies');
  assert.equal(msg.headers['correlation-id'], 'c-1');
  assert.equal(msg.headers.k, 'v');
  assert.equal(msg.headers.from, 'm5'); // stamped by the broker
  await m5.publishPacket(); // its own copy

  await st.publish('/topic/meta/from-stomp', 'x', { 'content-type': 'text/plain', 'reply-to': '/topic/answers', 'correlation-id': 'c-2', 'x-custom': 'y', from: 'forged' });
  const p = await m5.publishPacket();
  assert.equal(p.properties.contentType, 'text/plain');
  assert.equal(p.properties.responseTopic, 'answers');
  assert.equal(p.properties.correlationData?.toString(), 'c-2');
  assert.deepEqual(p.properties.userProperties, [['x-custom', 'y']]); // a client's `from` never travels
});

test('STOMP: one MESSAGE per matching subscription, each naming its subscription', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const st = await e.stomp('st');
  await st.subscribe('/topic/m/#', 'all');
  await st.subscribe('/topic/m/x', 'exact');
  e.broker.publish('default', 'm/x', 'one');
  const got = (await st.messages(2)).map((m) => m.headers.subscription).sort();
  assert.deepEqual(got, ['all', 'exact']);
  e.broker.publish('default', 'm/y', 'two');
  assert.equal((await st.message()).headers.subscription, 'all');
  assert.equal(await st.quiet(), true);
});

test('unsubscribe stops delivery; 0x11 when nothing was subscribed [MQTT-3.10.4-5]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe('u/#');
  assert.deepEqual(await sub.unsubscribe(['u/#', 'never']), [0x00, 0x11]);
  const st = await e.stomp('st');
  await st.subscribe('/topic/u/#', 'x');
  await st.unsubscribe('x');
  assert.equal(e.broker.publish('default', 'u/1', 'nobody', { qos: 1 }), 0);
  assert.equal(await sub.quiet(), true);
  assert.equal(await st.quiet(), true);
});

test('a burst of deliveries in one turn reaches a client as one write', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const sub = await e.mqtt('sub');
  await sub.subscribe('burst', 0);
  await settle();
  const before = sub.peer.chunks;
  for (let i = 0; i < 10; i++) e.broker.publish('default', 'burst', `${i}`);
  assert.deepEqual(await sub.payloads(10), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.equal(sub.peer.chunks - before, 1);
});
