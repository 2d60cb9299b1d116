/** Shared subscriptions and queues (one object in the core for MQTT $share and STOMP /queue), over in-memory connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine } from '../helpers/memory.js';

interface Letter {
  reason: string;
  originalTopic: string;
  payload: string;
  to: string | null;
}

test('shared subscription: each message to one member, round robin, online members first [MQTT-4.8.2-3]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const a = await e.mqtt('a');
  const b = await e.mqtt('b', { cleanStart: false, properties: { sessionExpiryInterval: 600 } });
  await a.subscribe('$share/g/jobs/+', 1);
  await b.subscribe('$share/g/jobs/+', 1);
  for (let i = 0; i < 6; i++) e.broker.publish('default', `jobs/${i}`, `${i}`, { qos: 1 });
  assert.deepEqual(await a.payloads(3), ['0', '2', '4']);
  assert.deepEqual(await b.payloads(3), ['1', '3', '5']);
  await b.disconnect();
  for (let i = 6; i < 9; i++) e.broker.publish('default', `jobs/${i}`, `${i}`, { qos: 1 });
  assert.deepEqual(await a.payloads(3), ['6', '7', '8']); // the offline member is skipped
  assert.equal(e.app().router.sessions.get('b')!.queued, 0);
});

test('shared subscription with only offline members: the message waits in one member session', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const b = await e.mqtt('b', { cleanStart: false, properties: { sessionExpiryInterval: 600 } });
  await b.subscribe('$share/g/only/#', 1);
  await b.disconnect();
  assert.equal(e.broker.publish('default', 'only/x', 'kept', { qos: 1 }), 1);
  assert.equal(e.app().router.sessions.get('b')!.queued, 1);
});

test('a STOMP queue holds messages until a consumer comes, then hands them over in order', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const producer = await e.stomp('producer');
  for (const x of ['a', 'b', 'c']) await producer.publish('/queue/jobs', x);
  const consumer = await e.stomp('consumer');
  await consumer.subscribe('/queue/jobs', 'q');
  const got = await consumer.messages(3);
  assert.deepEqual(got.map((m) => m.body.toString()), ['a', 'b', 'c']);
  assert.deepEqual(new Set(got.map((m) => m.headers.destination)), new Set(['/queue/jobs']));
  // The queue stays declared without consumers.
  await consumer.unsubscribe('q');
  await producer.publish('/queue/jobs', 'd');
  await consumer.subscribe('/queue/jobs', 'q2');
  assert.deepEqual(await consumer.bodies(1), ['d']);
});

test('STOMP and MQTT consumers compete on one queue; MQTT produces to $queue/<name>', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const st = await e.stomp('st');
  await st.subscribe('/queue/work', 'q');
  const m = await e.mqtt('m');
  assert.deepEqual(await m.subscribe('$share/work/$queue/work', 1), [1]);
  const pub = await e.mqtt('pub');
  for (let i = 0; i < 4; i++) await pub.publish('$queue/work', `${i}`, { qos: 1 });
  assert.deepEqual(await st.bodies(2), ['0', '2']);
  assert.deepEqual(await m.payloads(2), ['1', '3']);
  assert.equal(await st.quiet(), true);
});

test('NACK gives a queue message to another consumer; after stomp.maxRedeliveries deliveries it is dead-lettered', async (t) => {
  const e = engine({ stomp: { maxRedeliveries: 3 } });
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq');
  await dlq.subscribe('$dlq/#', 1);
  const c1 = await e.stomp('c1');
  const c2 = await e.stomp('c2');
  await c1.subscribe('/queue/retry', 'q', 'client-individual');
  await c2.subscribe('/queue/retry', 'q', 'client-individual');
  e.broker.publish('default', '$queue/retry', 'poison', { qos: 1 });
  e.broker.publish('default', '$queue/retry', 'fine', { qos: 1 }); // round robin: c1 is next again
  const first = await c1.message();
  const fine = await c2.message();
  await c2.ack(fine);
  await c1.nack(first);
  const second = await c2.message(); // not back to the consumer that refused it
  assert.equal(second.body.toString(), 'poison');
  await c2.nack(second);
  const third = await c1.message();
  await c1.nack(third);
  const letter = await dlq.publishPacket();
  assert.equal(letter.topic, '$dlq/nack-limit/$queue/retry');
  const body = JSON.parse(letter.payload.toString()) as Letter;
  assert.deepEqual([body.reason, body.originalTopic, body.payload, body.to], ['nack-limit', '$queue/retry', 'poison', 'c1']);
  assert.equal(await c1.quiet(), true);
  assert.equal(await c2.quiet(), true);
});

test('unacknowledged queue messages go back to the queue when their consumer leaves', async (t) => {
  const e = engine({ stomp: { maxRedeliveries: 2 } });
  t.after(() => e.stop());
  const c1 = await e.stomp('c1');
  await c1.subscribe('/queue/back', 'q', 'client');
  e.broker.publish('default', '$queue/back', 'm1', { qos: 1 });
  e.broker.publish('default', '$queue/back', 'm2', { qos: 1 });
  assert.deepEqual(await c1.bodies(2), ['m1', 'm2']);
  c1.drop();
  await c1.whenClosed();
  // Not counted as redeliveries: maxRedeliveries 2 would dead-letter a counted second attempt.
  for (let i = 0; i < 2; i++) {
    const c = await e.stomp(`c-${i}`);
    await c.subscribe('/queue/back', 'q', 'client');
    assert.deepEqual(await c.bodies(2), ['m1', 'm2']);
    await c.disconnect();
  }
});

test('at most stomp.window unacknowledged MESSAGEs per connection; `client` ACK is cumulative', async (t) => {
  const e = engine({ stomp: { window: 2 } });
  t.after(() => e.stop());
  const c = await e.stomp('c');
  await c.subscribe('/queue/win', 'q', 'client');
  for (let i = 0; i < 5; i++) e.broker.publish('default', '$queue/win', `${i}`, { qos: 1 });
  const two = await c.messages(2);
  assert.equal(await c.quiet(), true);
  assert.equal(e.app().router.sessions.get('c')!.queued, 3);
  await c.ack(two[1]!); // covers both
  assert.deepEqual(await c.bodies(2), ['2', '3']);
  assert.equal(await c.quiet(), true);
});

test('a queue backlog is bounded by limits.maxQueuedMessages; the overflow is dead-lettered', async (t) => {
  const e = engine({ limits: { maxQueuedMessages: 2 } });
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq');
  await dlq.subscribe('$dlq/#', 1);
  const p = await e.stomp('p');
  for (const x of ['1', '2', '3']) await p.publish('/queue/small', x);
  const letter = await dlq.publishPacket();
  assert.equal(letter.topic, '$dlq/queue-full/$queue/small');
  assert.equal((JSON.parse(letter.payload.toString()) as Letter).payload, '3');
  const c = await e.stomp('c');
  await c.subscribe('/queue/small', 'q');
  assert.deepEqual(await c.bodies(2), ['1', '2']);
  assert.equal(await c.quiet(), true);
});
