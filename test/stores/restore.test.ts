/**
 * A broker created again with the same stores resumes what they hold: persistent sessions
 * (subscriptions, queued and in-flight messages), retained messages and queue backlogs. Here
 * with MemoryStores inside one process; durable backends run the same scenario across a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, parkSession } from '../helpers/mqtt.js';
import { publishWithReceipt, stompOverTcp, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import { MemoryStores } from '../../src/stores/memory/index.js';
import { routerOf } from '../../src/internal.js';
import { connectV5, RawClient, readPacket } from '../helpers/raw.js';

test('sessions, queued and in-flight messages, retained messages and queue backlogs survive a broker restart', async () => {
  const stores = new MemoryStores();
  const listen = ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'];
  const first = await startBroker({ listen }, { stores });
  // A v5 session (expiry 3600) and a 3.1.1 clean-session-0 session, subscribed, then offline.
  await parkSession(first.url('mqtt'), 'dur-v5', 'dur/#');
  const v4 = await connect(first.url('mqtt'), { protocolVersion: 4, clientId: 'dur-v4', clean: false });
  await v4.subscribeAsync('dur/#', { qos: 2 });
  await end(v4);
  // An online subscriber that receives but never acknowledges (in flight at the restart): raw bytes.
  const lazy = await RawClient.connect(first.port('mqtt'));
  lazy.send(connectV5('dur-lazy', 60, '11 00000e10')); // Session Expiry Interval 3600
  await readPacket(lazy); // CONNACK
  const filter = Buffer.from('dur/#');
  lazy.send(Buffer.concat([Buffer.from([0x82, 2 + 1 + 2 + filter.length + 1, 0, 1, 0, 0, filter.length]), filter, Buffer.from([1])]));
  await readPacket(lazy); // SUBACK
  const pub = await connect(first.url('mqtt'), { protocolVersion: 5, clientId: 'dur-pub' });
  for (let i = 0; i < 3; i++) await pub.publishAsync('dur/q', `m${i}`, { qos: 1 });
  await pub.publishAsync('dur/retained', 'kept', { qos: 1, retain: true });
  for (let i = 0; i < 4; i++) assert.equal((await readPacket(lazy))[0]! & 0xf0, 0x30); // PUBLISHes, never acknowledged
  const st = await stompOverTcp(first.port('stomp'), { connectHeaders: { login: 'dur-producer' } });
  for (let i = 0; i < 2; i++) await publishWithReceipt(st, '/queue/dur-jobs', `job${i}`);
  await st.deactivate();
  await end(pub);
  await first.stop();
  lazy.end();

  const second = await startBroker({ listen }, { stores });
  try {
    const back = await connectWithInbox(second.url('mqtt'), { protocolVersion: 5, clientId: 'dur-v5', clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(back.sessionPresent, true);
    const got = await back.inbox.take(4);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'kept']);
    assert.ok(await back.inbox.none(100));
    const old = await connectWithInbox(second.url('mqtt'), { protocolVersion: 4, clientId: 'dur-v4', clean: false });
    assert.equal(old.sessionPresent, true);
    assert.deepEqual((await old.inbox.take(4)).map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'kept']);
    // The unacknowledged deliveries are sent again, flagged DUP [MQTT-4.4.0-1].
    const again = await connectWithInbox(second.url('mqtt'), { protocolVersion: 5, clientId: 'dur-lazy', clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(again.sessionPresent, true);
    const resent = await again.inbox.take(4);
    assert.ok(resent.every((m) => m.packet.dup), 'resent with DUP');
    // Retained for a new subscriber.
    const fresh = await connectWithInbox(second.url('mqtt'), { protocolVersion: 5, clientId: 'dur-fresh' });
    await fresh.client.subscribeAsync('dur/retained');
    assert.equal((await fresh.inbox.next()).payload.toString(), 'kept');
    // The queue's backlog for its first consumer.
    const consumer = await stompOverTcp(second.port('stomp'), { connectHeaders: { login: 'dur-consumer' } });
    const jobs = new StompInbox();
    await subscribeWithReceipt(consumer, '/queue/dur-jobs', jobs);
    assert.deepEqual([(await jobs.next()).body, (await jobs.next()).body], ['job0', 'job1']);
    await consumer.deactivate();
    await end(back.client, old.client, again.client, fresh.client);
  } finally {
    await second.stop();
  }
});

test('a restored queue stays in the store and is read in pages as it is sent: order kept, newer messages after the backlog', async () => {
  const stores = new MemoryStores();
  const cfg = { listen: ['mqtt://127.0.0.1:0'], limits: { maxQueuedMessages: 5000 } };
  const first = await startBroker(cfg, { stores });
  await parkSession(first.url('mqtt'), 'page-sub', 'page/#');
  const pub = await connect(first.url('mqtt'), { protocolVersion: 5, clientId: 'page-pub' });
  const total = 1200; // more than two pages (500)
  for (let i = 0; i < total; i++) void pub.publishAsync('page/q', String(i), { qos: 1 });
  await pub.publishAsync('page/q', 'last-before', { qos: 1 });
  await end(pub);
  await first.stop();

  const second = await startBroker(cfg, { stores });
  try {
    const p2 = await connect(second.url('mqtt'), { protocolVersion: 5, clientId: 'page-pub2' });
    const back = await connectWithInbox(second.url('mqtt'), { protocolVersion: 5, clientId: 'page-sub', clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(back.sessionPresent, true);
    // Published while the stored backlog is still being sent: delivered after it.
    await p2.publishAsync('page/q', 'after', { qos: 1 });
    const got = (await back.inbox.take(total + 2)).map((m) => m.payload.toString());
    const want = [...Array.from({ length: total }, (_, i) => String(i)), 'last-before', 'after'];
    assert.deepEqual(got, want);
    assert.ok(await back.inbox.none(100));
    await end(back.client, p2);
  } finally {
    await second.stop();
  }
});

test('an offline persistent session keeps one page of its queue in memory; the rest waits in the store and arrives in order', async () => {
  const stores = new MemoryStores();
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0'], limits: { maxQueuedMessages: 5000 } }, { stores });
  try {
    await parkSession(b.url('mqtt'), 'spill-sub', 'spill/#');
    const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'spill-pub' });
    const total = 1200;
    const acks: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) acks.push(pub.publishAsync('spill/q', String(i), { qos: 1 }));
    await Promise.all(acks);
    const session = routerOf(b.broker).sessions.get('spill-sub')!;
    assert.equal(session.queued, total);
    assert.equal([...session.queuedDeliveries()].length, 500, 'one page in memory');
    const back = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'spill-sub', clean: false, properties: { sessionExpiryInterval: 3600 } });
    const got = (await back.inbox.take(total)).map((m) => m.payload.toString());
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => String(i)));
    assert.ok(await back.inbox.none(100));
    await end(back.client, pub);
  } finally {
    await b.stop();
  }
});

test('$SYS values are retained for subscribers but never written to the store (made again at each start)', async () => {
  const stores = new MemoryStores();
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0'], sys: { interval: 60 } }, { stores });
  try {
    const c = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'sys-watch' });
    await c.client.subscribeAsync('$SYS/#');
    assert.ok((await c.inbox.next()).topic.startsWith('$SYS/'), 'retained $SYS values are served');
    await c.client.publishAsync('kept/x', 'mine', { qos: 1, retain: true });
    const stored: string[] = [];
    for await (const r of stores.retained.retained('default')) stored.push(r.topic);
    assert.deepEqual(stored, ['kept/x']);
    await end(c.client);
  } finally {
    await b.stop();
  }
});
