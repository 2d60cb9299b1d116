/**
 * What "one core for every protocol" fixed, with real clients: STOMP goes through the same hooks
 * and topic rules as MQTT, and a direct message is tapped and counted once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, publishReason } from '../helpers/mqtt.js';
import { stompOverTcp, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import { routerOf } from '../../src/internal.js';

const listen = ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'];

test('an authorizePublish hook that refuses everything refuses an MQTT PUBLISH and a STOMP SEND alike', async () => {
  const b = await startBroker({ listen }, { hooks: { authorizePublish: () => false } });
  try {
    const m = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'hook-mqtt' });
    assert.equal(await publishReason(m, 'news', 'x'), 0x87);
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'hook-stomp' } });
    const err = new Promise<string>((r) => (s.onStompError = (f) => r(f.headers.message!)));
    s.publish({ destination: '/topic/news', body: 'x' });
    assert.equal(await err, 'not authorized');
    await end(m);
    await s.deactivate();
  } finally {
    await b.stop();
  }
});

test('STOMP UNSUBSCRIBE: the hook gets the core filter and may answer with a Promise', async () => {
  const seen: string[] = [];
  const b = await startBroker({ listen }, {
    hooks: {
      authorizeUnsubscribe: (_c, filter) => {
        seen.push(filter);
        return new Promise((r) => setImmediate(() => r(filter !== 'pinned/x')));
      },
    },
  });
  try {
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'unsub' } });
    const inbox = new StompInbox();
    await subscribeWithReceipt(s, '/topic/loose/x', inbox, { id: 'loose' });
    await subscribeWithReceipt(s, '/topic/pinned/x', inbox, { id: 'pinned' });
    const unsubscribed = new Promise<void>((r) => s.watchForReceipt('u1', () => r()));
    s.unsubscribe('loose', { receipt: 'u1' });
    await unsubscribed;
    const err = new Promise<string>((r) => (s.onStompError = (f) => r(f.headers.message!)));
    s.unsubscribe('pinned');
    assert.equal(await err, 'not authorized'); // the Promise's false was honoured
    assert.deepEqual(seen, ['loose/x', 'pinned/x']); // not "/topic/loose/x"
    await s.deactivate();
  } finally {
    await b.stop();
  }
});

test('STOMP applies the topic rules of the one topic space: levels, wildcard subscriptions, its own connect timeout', async () => {
  const b = await startBroker({ listen, mqtt: { maxTopicLevels: 3, wildcardSubscriptions: false, connectTimeoutMs: 60_000 }, stomp: { connectTimeoutMs: 300 } });
  try {
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'rules' } });
    const err = new Promise<string>((r) => (s.onStompError = (f) => r(f.headers.message!)));
    s.subscribe('/topic/a/b/c/d', () => undefined);
    assert.equal(await err, 'invalid destination');
    await s.deactivate();
    const w = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'rules2' } });
    const werr = new Promise<string>((r) => (w.onStompError = (f) => r(f.headers.message!)));
    w.subscribe('/topic/a/#', () => undefined);
    assert.equal(await werr, 'wildcard subscriptions not supported');
    await w.deactivate();
    // A socket that never sends CONNECT is closed after stomp.connectTimeoutMs, not mqtt's 60 s.
    const t0 = Date.now();
    const sock = net.connect(b.port('stomp'), '127.0.0.1');
    sock.on('error', () => undefined);
    sock.resume();
    await new Promise((r) => sock.once('close', r));
    assert.ok(Date.now() - t0 < 5000, `closed after ${Date.now() - t0} ms`);
  } finally {
    await b.stop();
  }
});

test('$monitor reports a direct message once, and it is counted once', async () => {
  const b = await startBroker({}, {});
  try {
    const url = b.url('mqtt');
    const watcher = await connectWithInbox(url, { protocolVersion: 5, clientId: 'watch', password: 'admin', username: 'x' });
    await watcher.client.subscribeAsync('$monitor/dm-sender', { qos: 1 });
    const target = await connectWithInbox(url, { protocolVersion: 5, clientId: 'dm-target' });
    await target.client.subscribeAsync('$inbox/dm-target/#', { qos: 1 });
    const sender = await connect(url, { protocolVersion: 5, clientId: 'dm-sender' });
    const router = routerOf(b.broker);
    const before = router.stats.messagesIn;
    await sender.publishAsync('$inbox/dm-target', 'hello', { qos: 1 });
    assert.equal((await target.inbox.next()).payload.toString(), 'hello');
    const copy = JSON.parse((await watcher.inbox.next()).payload.toString()) as { direction: string; topic: string };
    assert.deepEqual([copy.direction, copy.topic], ['published', '$inbox/dm-target']);
    assert.ok(await watcher.inbox.none(150), 'the direct message was reported twice');
    assert.equal(router.stats.messagesIn - before, 1);
    await end(watcher.client, target.client, sender);
  } finally {
    await b.stop();
  }
});
