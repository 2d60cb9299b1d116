import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadLetters, envelope } from './dead-letters.js';
import { Router } from './router.js';
import { createMessage } from './message.js';
import type { Message, QoS } from './message.js';
import type { DropReason, Session, SessionLink } from './session.js';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);
const LIMITS = { maxQueuedMessages: 100, maxQueuedBytes: 1_000_000, maxRetained: 100, maxRetainedPerClient: 100, maxRetainedBytesPerClient: 1_000_000, maxStoredBytesPerApp: 1_000_000 };

function setup(capacity = 1000): { router: Router; dl: DeadLetters; watcher: Session; got: Message[] } {
  const router = new Router({ limits: LIMITS, now: () => T0 });
  const dl = new DeadLetters(router, capacity);
  const got: Message[] = [];
  const l: SessionLink = { deliver: (m) => got.push(m), close: () => undefined, pump: () => undefined };
  const watcher = router.attach('ops', l, true).session;
  return { router, dl, watcher, got };
}

const msg = (topic: string, qos: QoS = 1, payload: string | Buffer = 'body'): Message =>
  createMessage(topic, Buffer.from(payload), qos, false, { contentType: 'text/plain' }, 0, { clientId: 'alice', app: 'a', profile: 'AGENT' });

test('lettered reasons are kept; offline, no-subscribers and overload drops of ordinary topics are not', () => {
  const { dl } = setup();
  const reasons: DropReason[] = ['queue-full', 'expired', 'slow-consumer', 'nack-limit', 'offline', 'no-subscribers', 'overload'];
  for (const r of reasons) dl.onDrop(null, msg(`t/${r}`), r);
  assert.deepEqual([...dl.recent].map((x) => x.reason), ['queue-full', 'expired', 'slow-consumer', 'nack-limit']);
  assert.equal(dl.count, 4);
});

test('direct messages are always lettered; dead letters, monitor copies and presence events never are (no loops)', () => {
  const { dl } = setup();
  dl.onDrop(null, msg('$inbox/bob'), 'no-subscribers');
  dl.onDrop(null, msg('$inbox/bob/x'), 'offline');
  for (const t of ['$dlq/queue-full/t', '$monitor/bob', '$presence/bob']) dl.onDrop(null, msg(t), 'queue-full');
  assert.deepEqual([...dl.recent].map((x) => `${x.reason}:${x.msg.topic}`), ['no-subscribers:$inbox/bob', 'offline:$inbox/bob/x']);
});

test('the last `capacity` letters are kept in memory; all are counted', () => {
  const { dl } = setup(3);
  for (let i = 0; i < 5; i++) dl.onDrop(null, msg(`t/${i}`), 'expired');
  assert.deepEqual([...dl.recent].map((x) => x.msg.topic), ['t/2', 't/3', 't/4']);
  assert.equal(dl.count, 5);
});

test('an envelope is published to $dlq/<reason>/<topic> only when someone subscribes to it', () => {
  const { router, dl, watcher, got } = setup();
  const session = router.attach('bob', { deliver: () => undefined, close: () => undefined, pump: () => undefined }, true).session;
  dl.onDrop(session, msg('t/a'), 'queue-full');
  assert.equal(router.stats.messagesIn, 0); // nobody listens: nothing serialised or routed
  router.subscribe(watcher, { subscriber: watcher, raw: '$dlq/#', filter: '$dlq/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
  dl.onDrop(session, msg('t/b', 2), 'expired');
  dl.onDrop(null, msg('t/c', 0, Buffer.from([0xff, 0xfe])), 'slow-consumer');
  assert.deepEqual(got.map((m) => `${m.topic}:${m.qos}:${m.retain}`), ['$dlq/expired/t/b:1:false', '$dlq/slow-consumer/t/c:0:false']);
  const b = JSON.parse(got[0]!.payload.toString()) as Record<string, unknown>;
  assert.deepEqual(b, {
    reason: 'expired',
    originalTopic: 't/b',
    to: 'bob',
    time: new Date(T0).toISOString(),
    topic: 't/b',
    payload: 'body',
    encoding: 'utf8',
    qos: 2,
    retain: false,
    from: 'alice',
    headers: { contentType: 'text/plain' },
  });
  const c = JSON.parse(got[1]!.payload.toString()) as Record<string, unknown>;
  assert.deepEqual([c.to, c.encoding, c.payload], [null, 'base64', Buffer.from([0xff, 0xfe]).toString('base64')]);
});

test('envelope(): a broker message (no sender), QoS 0 kept at 0 and anything else at 1', () => {
  const e = envelope('$dlq/x/t', 'x', null, 'now', msg('t', 2));
  assert.deepEqual([e.topic, e.qos, e.sender, e.retain], ['$dlq/x/t', 1, null, false]);
  assert.equal(envelope('$dlq/x/t', 'x', null, 'now', msg('t', 0)).qos, 0);
});
