/** The embedding API: hooks (sync and async) and server-side actions. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, grantedQos, Inbox, publishReason } from '../helpers/mqtt.js';

const dropped: string[] = [];
const closed: string[] = [];
let b: RunningBroker;
before(async () => {
  b = await startBroker({}, {
    hooks: {
      authenticate: ({ login, secret }) => (secret === 'nope' ? false : login.startsWith('svc') ? { app: 'default', profile: 'SERVICE' } : null),
      authorizeConnect: (c) => c.clientId !== 'banned',
      // Asynchronous on purpose: later packets must wait, in order.
      authorizePublish: (_c, msg) => new Promise((r) => setTimeout(() => r(!msg.topic.startsWith('secret/')), msg.topic.endsWith('slow') ? 30 : 0)),
      authorizeSubscribe: (_c, filter) => filter !== 'forbidden/#',
      onMessageDropped: (msg, reason) => dropped.push(`${reason}:${msg.topic}`),
      onConnectionClose: (c, reason) => closed.push(`${c.clientId}:${reason}`),
    },
  });
});
after(() => b.stop());

test('authenticate and authorizeConnect hooks decide logins', async () => {
  await assert.rejects(connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'x', username: 'u', password: 'nope' }));
  await assert.rejects(connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'banned' }));
  const svc = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'svc-1' });
  assert.equal(b.broker.listClients('default').find((c) => c.clientId === 'svc-1')?.profile, 'SERVICE');
  await end(svc);
});

test('an asynchronous authorizePublish keeps the order of messages', async () => {
  const sub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'order-sub' });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('o/#', { qos: 1 });
  const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'order-pub' });
  await Promise.all([pub.publishAsync('o/slow', '1', { qos: 0 }), pub.publishAsync('o/fast', '2', { qos: 0 }), pub.publishAsync('o/fast', '3', { qos: 1 })]);
  const got = await inbox.take(3);
  assert.deepEqual(got.map((m) => m.payload.toString()), ['1', '2', '3']);
  assert.equal(await publishReason(pub, 'secret/x', 'no'), 0x87);
  assert.deepEqual(await grantedQos(sub, ['forbidden/#', 'fine/#']), [0x87, 1]);
  await end(sub, pub);
});

test('server-side actions: publish, subscribe a client, list, disconnect', async () => {
  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'driven' });
  const inbox = new Inbox(c);
  assert.ok(b.broker.subscribeClient('default', 'driven', 'pushed/#', 1));
  assert.equal(b.broker.publish('default', 'pushed/x', 'from the backend', { qos: 1 }), 1);
  assert.equal((await inbox.next()).payload.toString(), 'from the backend');
  assert.equal(b.broker.listClients('default').find((x) => x.clientId === 'driven')?.subscriptions, 1);
  assert.deepEqual(b.broker.admin.app('default')?.getClient('driven')?.session.subscriptions.map((s) => s.filter), ['pushed/#']);
  const gone = new Promise<number | undefined>((r) => c.once('disconnect', (p) => r(p.reasonCode)));
  assert.ok(b.broker.disconnectClient('default', 'driven'));
  assert.equal(await gone, 0x98); // administrative action
  await end(c);
  assert.ok(closed.includes('driven:kicked'));
});

test('onMessageDropped sees undeliverable messages', async () => {
  const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'dm' });
  await pub.publishAsync('$inbox/nobody-here', 'x', { qos: 1 });
  assert.ok(dropped.includes('no-subscribers:$inbox/nobody-here'));
  await end(pub);
});
