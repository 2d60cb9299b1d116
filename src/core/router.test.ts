import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, subscriptionSize } from './router.js';
import type { RouterLimits } from './router.js';
import { createMessage, messageSize } from './message.js';
import type { Message, QoS, Sender } from './message.js';
import type { Session, SessionLink } from './session.js';
import type { SharedGroup, Subscription } from './topic-trie.js';
import { parseFilter } from './topic.js';

const LIMITS: RouterLimits = { maxQueuedMessages: 100, maxQueuedBytes: 1_000_000, maxRetained: 1000, maxRetainedPerClient: 1000, maxRetainedBytesPerClient: 10_000_000, maxStoredBytesPerApp: 10_000_000 };

const sender = (clientId: string): Sender => ({ clientId, app: 'default', profile: 'AGENT' });
const msg = (topic: string, payload = 'x', o: { qos?: QoS; retain?: boolean; from?: string; expiresAt?: number } = {}): Message =>
  createMessage(topic, Buffer.from(payload), o.qos ?? 1, o.retain ?? false, null, o.expiresAt ?? 0, o.from === undefined ? null : sender(o.from));

interface Recorder extends SessionLink {
  got: string[];
  closed: string[];
}

/** A link that records deliveries as "topic:payload:qos:retain[:group]". */
function recorder(): Recorder {
  const l: Recorder = {
    got: [],
    closed: [],
    deliver(m: Message, qos: QoS, retain: boolean, _ids: readonly number[] | null, group: SharedGroup<Session> | null) {
      l.got.push(`${m.topic}:${m.payload.toString()}:${qos}:${retain}${group === null ? '' : `:${group.name}`}`);
    },
    close(reason) {
      l.closed.push(reason);
    },
    pump() {},
  };
  return l;
}

function setup(limits: Partial<RouterLimits> = {}, o: { maxRedeliveries?: number; now?: () => number } = {}) {
  const drops: string[] = [];
  const router = new Router({ limits: { ...LIMITS, ...limits }, ...o, onDrop: (s, m, r) => drops.push(`${r}:${m.topic}:${s?.clientId ?? ''}`) });
  const links = new Map<string, Recorder>();
  const connect = (id: string, cleanStart = true): Session => {
    const l = recorder();
    links.set(id, l);
    return router.attach(id, l, cleanStart).session;
  };
  const subscribe = (s: Session, raw: string, qos: QoS = 1, extra: Partial<Subscription<Session>> = {}): boolean => {
    const p = parseFilter(raw)!;
    return router.subscribe(s, { subscriber: s, raw, filter: p.filter, group: p.group, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0, ...extra }).existed;
  };
  const got = (id: string): string[] => links.get(id)!.got;
  return { router, drops, connect, subscribe, got, links };
}

test('routing: every matching subscription, QoS the lower of published and granted, retain cleared unless Retain As Published', () => {
  const { router, connect, subscribe, got } = setup();
  const a = connect('a');
  const b = connect('b');
  connect('c');
  subscribe(a, 'x/#', 1);
  subscribe(b, 'x/y', 0, { retainAsPublished: true });
  assert.equal(subscribe(b, 'x/y', 2, { retainAsPublished: true }), true); // replaced [MQTT-3.8.4-3]
  assert.equal(router.publish(msg('x/y', 'm', { qos: 2, retain: true })), 2);
  assert.equal(router.publish(msg('z', 'none')), 0);
  assert.deepEqual(got('a'), ['x/y:m:1:false']);
  assert.deepEqual(got('b'), ['x/y:m:2:true']);
  assert.deepEqual(got('c'), []);
  assert.deepEqual([router.stats.messagesIn, router.stats.messagesOut], [2, 2]);
});

test('No Local compares the sender record with the subscriber, whatever object carries it [MQTT-3.8.3-3]', () => {
  const { router, connect, subscribe, got } = setup();
  const a = connect('a');
  subscribe(a, 'nl', 1, { noLocal: true });
  router.publish(msg('nl', 'own', { from: 'a' })); // a fresh record, not the session's identity object
  router.publish(msg('nl', 'other', { from: 'b' }));
  router.publish(msg('nl', 'broker'));
  assert.deepEqual(got('a'), ['nl:other:1:false', 'nl:broker:1:false']);
});

test('retained: stored, replaced and cleared, sent to new subscriptions with the flag set; expired ones skipped', () => {
  let now = 1000;
  const { router } = setup({}, { now: () => now });
  router.publish(msg('r/a', 'one', { retain: true }));
  router.publish(msg('r/a', 'two', { retain: true }));
  router.publish(msg('r/b', 'soon gone', { retain: true, expiresAt: 2000 }));
  router.publish(msg('r/c', 'not retained'));
  assert.equal(router.retained.size, 2);
  assert.deepEqual(router.retainedFor('r/#').map((m) => `${m.payload.toString()}:${m.retain}`).sort(), ['soon gone:true', 'two:true']);
  now = 2000;
  assert.deepEqual(router.retainedFor('r/#').map((m) => m.payload.toString()), ['two']);
  router.publish(msg('r/a', '', { retain: true })); // clear [MQTT-3.3.1-10]
  assert.equal(router.retained.get('r/a'), undefined);
  assert.equal(router.budget.used, messageSize(msg('r/b', 'soon gone', { retain: true, expiresAt: 2000 }))); // the budget follows what is kept
});

test('retained limits: a new topic needs room (maxRetained) and its publisher a free slot (maxRetainedPerClient); replacing and clearing always pass', () => {
  const { router, connect, subscribe, got } = setup({ maxRetained: 2, maxRetainedPerClient: 1 });
  router.publish(msg('t/1', 'a1', { retain: true, from: 'a' }));
  assert.equal(router.canRetain(msg('t/2', 'a2', { retain: true, from: 'a' })), false); // a holds one
  assert.equal(router.canRetain(msg('t/1', 'a1b', { retain: true, from: 'a' })), true); // its own, replaced
  assert.equal(router.canRetain(msg('t/2', 'b', { retain: true, from: 'b' })), true);
  router.publish(msg('t/2', 'b', { retain: true, from: 'b' }));
  assert.equal(router.canRetain(msg('t/3', 'srv', { retain: true })), false); // maxRetained reached
  assert.equal(router.canRetain(msg('t/3', '', { retain: true, from: 'a' })), true); // clearing
  assert.equal(router.canRetain(msg('t/1', 'b2', { retain: true, from: 'b' })), false); // taking a's topic needs a slot of b's
  router.publish(msg('t/1', '', { retain: true }));
  assert.equal(router.canRetain(msg('t/3', 'a3', { retain: true, from: 'a' })), true); // a's slot and a topic are free again
  // Past the limits (a will, a server-side publish): routed, not stored.
  const s = connect('s');
  subscribe(s, 't/#');
  router.publish(msg('t/4', 'over', { retain: true, from: 'b' }));
  assert.deepEqual(got('s'), ['t/4:over:1:false']);
  assert.equal(router.retained.get('t/4'), undefined);
});

test('shared group: one member per message, round robin over online members first [MQTT-4.8.2-3]; offline-only members queue it', () => {
  const { router, connect, subscribe, got } = setup();
  const a = connect('a');
  const b = connect('b');
  const c = connect('c');
  for (const s of [a, b, c]) subscribe(s, '$share/g/j/+');
  router.detach(c, router.sessions.get('c')!.link!); // expiry 0: c's session and membership end
  router.setExpiry(b, 60);
  const bl = router.sessions.get('b')!.link!;
  for (let i = 0; i < 4; i++) router.publish(msg(`j/${i}`, `${i}`));
  assert.deepEqual([got('a').length, got('b').length], [2, 2]);
  router.detach(b, bl); // b parked (expiry 60)
  router.publish(msg('j/x', 'online first'));
  assert.deepEqual(got('a').at(-1), 'j/x:online first:1:false:g');
  router.detach(a, router.sessions.get('a')!.link!);
  assert.equal(router.publish(msg('j/y', 'waits')), 1);
  assert.equal(b.queued, 1);
});

test('queue: holds messages without consumers, hands them over in order to the first consumer; bounded; expired ones dropped', () => {
  let now = 0;
  const { router, connect, subscribe, got, drops } = setup({ maxQueuedMessages: 3 }, { now: () => now });
  const g = router.declareQueue('jobs');
  assert.equal(g.durable, true);
  router.publish(msg('$queue/jobs', '1'));
  router.publish(msg('$queue/jobs', '2', { expiresAt: 50 }));
  router.publish(msg('$queue/jobs', '3'));
  router.publish(msg('$queue/jobs', '4')); // past maxQueuedMessages
  assert.deepEqual(drops, ['queue-full:$queue/jobs:']);
  assert.equal(router.storedBytes, 3 * messageSize(msg('$queue/jobs', '1'))); // full size: payload, topic, overhead
  now = 100;
  const w = connect('w');
  subscribe(w, '$share/jobs/$queue/jobs');
  assert.deepEqual(got('w'), ['$queue/jobs:1:1:false:jobs', '$queue/jobs:3:1:false:jobs']);
  assert.deepEqual(drops.slice(1), ['expired:$queue/jobs:']);
  assert.equal(router.storedBytes, subscriptionSize(w.subscriptions.get('$share/jobs/$queue/jobs')!)); // only the subscription left
});

test('redelivery: counted attempts reach maxRedeliveries then the dead letters; the member that gave it back is skipped when another is online', () => {
  const { router, connect, subscribe, got, drops } = setup({}, { maxRedeliveries: 3 });
  const a = connect('a');
  const b = connect('b');
  const g = router.declareQueue('q');
  subscribe(a, '$share/q/$queue/q');
  subscribe(b, '$share/q/$queue/q');
  const m = msg('$queue/q', 'poison');
  router.publish(m);
  router.publish(msg('$queue/q', 'next')); // round robin: the cursor is back at a
  assert.deepEqual([got('a'), got('b')], [['$queue/q:poison:1:false:q'], ['$queue/q:next:1:false:q']]);
  router.redeliver(g, m, a, true); // attempt 1: not back to a
  assert.deepEqual([got('a').length, got('b').at(-1)], [1, '$queue/q:poison:1:false:q']);
  router.redeliver(g, m, b, false); // given back on close: not counted
  router.redeliver(g, m, a, true); // attempt 2
  assert.equal(drops.length, 0);
  router.redeliver(g, m, b, true); // attempt 3 = maxRedeliveries
  assert.deepEqual(drops, ['nack-limit:$queue/q:b']);
  // The only online member gets it back when nobody else can.
  const solo = setup({}, { maxRedeliveries: 5 });
  const s = solo.connect('s');
  const sg = solo.router.declareQueue('q');
  solo.subscribe(s, '$share/q/$queue/q');
  solo.router.redeliver(sg, msg('$queue/q', 'again'), s, true);
  assert.deepEqual(solo.got('s'), ['$queue/q:again:1:false:q']);
});

test('attach: a new link takes the session over (the old one is closed), clean start discards it, otherwise it resumes', () => {
  const { router, connect, subscribe, links } = setup();
  const first = connect('x');
  subscribe(first, 'keep');
  router.setExpiry(first, 60);
  const oldLink = links.get('x')!;
  const again = recorder();
  const r = router.attach('x', again, false);
  assert.deepEqual(oldLink.closed, ['takeover']);
  assert.deepEqual([r.session === first, r.present, r.session.link === again], [true, true, true]);
  const fresh = router.attach('x', recorder(), true);
  assert.deepEqual([fresh.session === first, fresh.present, fresh.session.subscriptions.size], [false, false, 0]);
  assert.deepEqual(again.closed, ['takeover']);
  assert.equal(router.trie.size, 0);
});

test('detach: expiry 0 ends the session at once; queue deliveries in flight go back to their queue, others are dropped as offline', () => {
  const { router, connect, subscribe, got, drops } = setup();
  const a = connect('a');
  const b = connect('b');
  const g = router.declareQueue('q');
  subscribe(a, '$share/q/$queue/q');
  subscribe(a, 'plain');
  const qm = msg('$queue/q', 'job');
  a.begin(qm, 1, false, null, g); // in flight, unacknowledged
  a.begin(msg('plain', 'p'), 1, false, null, null);
  subscribe(b, '$share/q/$queue/q');
  const ends: string[] = [];
  router.events.on('session-end', (s: Session) => ends.push(s.clientId));
  router.detach(a, router.sessions.get('a')!.link!);
  assert.deepEqual(ends, ['a']);
  assert.equal(router.sessions.has('a'), false);
  assert.deepEqual(got('b'), ['$queue/q:job:1:false:q']);
  assert.deepEqual(drops, ['offline:plain:a']);
  assert.equal(router.trie.size, 1); // only b's membership is left
});

test('session expiry: a parked session ends after its interval, not before; 0xFFFFFFFF never expires [MQTT-3.1.2-23]', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] }); // deadlines are times on the clock (core/clock.ts)
  const { router, connect } = setup();
  const s = connect('s');
  router.setExpiry(s, 10);
  const forever = connect('forever');
  router.setExpiry(forever, 0xffffffff);
  assert.equal(router.persistentSessions, 2);
  router.detach(s, router.sessions.get('s')!.link!);
  router.detach(forever, router.sessions.get('forever')!.link!);
  t.mock.timers.tick(9_999);
  assert.equal(router.sessions.has('s'), true);
  t.mock.timers.tick(1);
  assert.equal(router.sessions.has('s'), false);
  assert.equal(router.persistentSessions, 1);
  t.mock.timers.tick(10 * 365 * 24 * 3600 * 1000);
  assert.equal(router.sessions.has('forever'), true);
});

test('wills are authorised when they fire, not when scheduled: permissions may have changed; an asynchronous answer is waited for', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] }); // deadlines are times on the clock (core/clock.ts)
  const { router, connect, subscribe, got } = setup();
  const w = connect('watch');
  subscribe(w, 'will/#');
  let allowed = true;
  const asked: string[] = [];
  router.authorizeWill = (s, m) => {
    asked.push(`${s.clientId}:${m.topic}`);
    return allowed;
  };
  const a = connect('a');
  router.setExpiry(a, 60);
  a.setWill({ msg: msg('will/a', 'gone', { from: 'a' }), delay: 5 });
  router.scheduleWill(a); // as Client.detach does: the will first, then the session
  router.detach(a, router.sessions.get('a')!.link!);
  allowed = false; // rules reloaded while the will waits
  t.mock.timers.tick(5_000);
  assert.deepEqual(asked, ['a:will/a']);
  assert.deepEqual(got('watch'), []);
  assert.equal(a.will, null);

  let release: (ok: boolean) => void = () => undefined;
  router.authorizeWill = () => new Promise<boolean>((r) => (release = r));
  const b = connect('b');
  b.setWill({ msg: msg('will/b', 'later', { from: 'b' }), delay: 0 });
  router.scheduleWill(b); // no delay (and expiry 0): fires now
  router.detach(b, router.sessions.get('b')!.link!);
  assert.deepEqual(got('watch'), []);
  release(true);
  await Promise.resolve();
  assert.deepEqual(got('watch'), ['will/b:later:1:false']);
});
