/** The admin facade over an Application created directly, with clients opened through the client port. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from './application.js';
import type { ApplicationOptions } from './application.js';
import { AdminError, ApplicationAdmin, BrokerAdmin, MAX_PAGE } from './admin.js';
import type { ClientSummary, Page } from './admin.js';
import { MemoryBudget } from './budget.js';
import { isRefusal, openClient } from './clients.js';
import type { Client } from './clients.js';
import { clientInfo } from './hooks.js';
import { createMessage, messageSize } from './message.js';
import type { Message, QoS } from './message.js';
import type { Profile } from './permissions.js';
import { CLOSE_REASONS } from './session.js';
import type { CloseReason, SessionLink, WillMessage } from './session.js';

const LIMITS: ApplicationOptions['limits'] = {
  maxConnections: 1_000_000,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  slowConsumerBytes: 8 * 1024 * 1024,
  maxRetained: 1_000_000,
  maxRetainedPerClient: 1000,
  maxRetainedBytesPerClient: 16 * 1024 * 1024,
  maxSubscriptionsPerClient: 1000,
  maxPersistentSessions: 100_000,
  maxStoredBytesPerApp: 256 * 1024 * 1024,
  memoryBudget: 1024 * 1024 * 1024,
  maxClientIdLength: 256,
  maxConnectionsPerAddress: 0,
  wsPingsPerSecond: 10,
};

type AppConfig = NonNullable<Application['config']>;

function appConfig(id: string): AppConfig {
  return {
    id,
    appKey: `${id}-app-key`,
    profileKeys: {},
    duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' },
    acl: [],
    grants: {},
    presenceTopics: [],
  };
}

function devApp(o: Partial<ApplicationOptions> = {}): Application {
  return new Application(null, { limits: LIMITS, maxRedeliveries: 5, ...o });
}

/** A connection as the core sees it: records what it is given; a broker-initiated close detaches it. */
class FakeLink implements SessionLink {
  readonly delivered: Array<{ msg: Message; qos: QoS; retain: boolean }> = [];
  readonly closed: CloseReason[] = [];
  client: Client | null = null;
  deliver(msg: Message, qos: QoS, retain: boolean): void {
    this.delivered.push({ msg, qos, retain });
  }
  close(reason: CloseReason): void {
    this.closed.push(reason);
    this.client?.detach(CLOSE_REASONS[reason].presence, true);
  }
  pump(): void {}
}

interface Opened {
  client: Client;
  link: FakeLink;
}

function open(app: Application, clientId: string, o: { profile?: Profile; expiry?: number; protocol?: 'mqtt' | 'stomp'; will?: WillMessage; cleanStart?: boolean } = {}): Opened {
  const info = clientInfo(clientId, { login: `login-${clientId}`, profile: o.profile ?? 'AGENT' }, app.id, o.protocol ?? 'mqtt', 'tcp', '10.0.0.1');
  const link = new FakeLink();
  const c = openClient(app, { info, cleanStart: o.cleanStart ?? true, expiry: o.expiry ?? 0, will: o.will ?? null }, link);
  assert.ok(!(c instanceof Promise) && !isRefusal(c), `open ${clientId}`);
  link.client = c;
  return { client: c, link };
}

function msg(topic: string, payload: string, qos: QoS = 0, retain = false): Message {
  return createMessage(topic, Buffer.from(payload), qos, retain, null, 0, null);
}

function allPages<T>(first: (cursor: string | null) => Page<T>): T[] {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 10_000; n++) {
    const p = first(cursor);
    out.push(...p.items);
    if (p.next === null) return out;
    cursor = p.next;
  }
  throw new Error('paging never ended');
}

describe('clients', () => {
  test('pages over every client once, with filters, and resumes after a client that left', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    const opened = new Map<string, Opened>();
    for (let i = 0; i < 250; i++) opened.set(`c${i}`, open(app, `c${i}`, { profile: i % 10 === 0 ? 'SERVICE' : 'AGENT' }));
    const ids = allPages((cursor) => admin.listClients({ limit: 100, cursor })).map((c) => c.clientId);
    assert.equal(ids.length, 250);
    assert.equal(new Set(ids).size, 250);
    assert.deepEqual(ids.slice(0, 3), ['c0', 'c1', 'c2']); // the order sessions were created

    const first = admin.listClients({ limit: 100 });
    assert.equal(first.total, 250);
    assert.equal(first.items.length, 100);
    // Clients before the cursor leave: the next page still starts right after c99.
    for (let i = 0; i < 10; i++) opened.get(`c${i}`)!.client.detach('clean', false);
    const second = admin.listClients({ limit: 100, cursor: first.next });
    assert.equal(second.items[0]?.clientId, 'c100');
    assert.equal(second.total, 240);

    const services = allPages((cursor) => admin.listClients({ limit: 7, profile: 'SERVICE', cursor }));
    assert.deepEqual(services.map((c) => c.clientId), Array.from({ length: 24 }, (_, k) => `c${(k + 1) * 10}`));
    assert.equal(admin.listClients({ prefix: 'c24', limit: MAX_PAGE }).items.length, 11); // c24, c240..c249
    assert.equal(admin.listClients({ online: false }).items.length, 0);
    assert.equal(admin.listClients({ limit: 5000 }).items.length, 240); // capped at MAX_PAGE
  });

  test('the summary shape', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    const { client } = open(app, 'dev-1', { profile: 'SERVICE', expiry: 60 });
    void client.subscribe([{ raw: 'a/#', filter: 'a/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
    const [c] = admin.listClients().items as [ClientSummary];
    assert.equal(c.clientId, 'dev-1');
    assert.equal(c.app, 'default');
    assert.equal(c.online, true);
    assert.equal(c.profile, 'SERVICE');
    assert.equal(c.login, 'login-dev-1');
    assert.equal(c.protocol, 'mqtt');
    assert.equal(c.transport, 'tcp');
    assert.equal(c.remoteAddress, '10.0.0.1');
    assert.equal(typeof c.connectedAt, 'number');
    assert.equal(c.since, c.connectedAt);
    assert.equal(c.disconnectedAt, null);
    assert.equal(c.persistent, true);
    assert.equal(c.subscriptions, 1);
    assert.deepEqual([c.queued, c.inflight, c.dropped], [0, 0, 0]);
    assert.deepEqual([...admin.clients({ online: true })].map((x) => x.clientId), ['dev-1']);
  });

  test('a malformed cursor or limit is an AdminError', () => {
    const admin = new ApplicationAdmin(devApp());
    assert.throws(() => admin.listClients({ cursor: 'not a cursor' }), (e: unknown) => e instanceof AdminError && e.reason === 'invalid');
    assert.throws(() => admin.listClients({ limit: 0 }), AdminError);
    assert.throws(() => admin.listDeadLetters({ cursor: 'x' }), AdminError);
    assert.throws(() => admin.listRetained({ filter: 'a/#/b' }), AdminError);
  });

  test('details: session expiry, subscriptions with options, queue and will', () => {
    let now = 1_000_000;
    const app = devApp();
    (app.router as { now: () => number }).now = () => now;
    const admin = new ApplicationAdmin(app);
    const will: WillMessage = { msg: createMessage('wills/p1', Buffer.from('gone'), 1, true, null, 0, null), delay: 30 };
    const { client } = open(app, 'p1', { expiry: 3600, will });
    void client.subscribe([{ raw: '$share/g/jobs/+', filter: 'jobs/+', group: 'g', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 7 }]);
    assert.ok(admin.subscribe('p1', 'news/#', { qos: 1 }).ok);
    now += 1000;
    client.detach('dropped', false); // parked, without its will
    for (let i = 0; i < 3; i++) app.router.publish(msg('news/x', `n${i}`, 1));
    const d = admin.getClient('p1');
    assert.ok(d);
    assert.equal(d.online, false);
    assert.equal(d.disconnectedAt, now);
    assert.equal(d.since, now);
    assert.equal(d.session.expiryInterval, 3600);
    assert.equal(d.session.expiresAt, now + 3600 * 1000);
    assert.equal(d.queued, 3);
    assert.equal(d.session.queued, 3);
    assert.equal(d.session.queuedBytes, 3 * messageSize(msg('news/x', 'n0', 1))); // payload, topic and overhead
    assert.equal(d.session.will, null);
    assert.deepEqual(d.session.subscriptions, [
      { filter: '$share/g/jobs/+', topicFilter: 'jobs/+', group: 'g', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 7 },
      { filter: 'news/#', topicFilter: 'news/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 },
    ]);
    assert.equal(admin.getClient('nobody'), null);

    open(app, 'w1', { will });
    assert.deepEqual(admin.getClient('w1')?.session.will, { topic: 'wills/p1', qos: 1, retain: true, delay: 30, bytes: 4 });
  });
});

describe('subscribe and unsubscribe a client', () => {
  test('explicit answers: no session yet, invalid filter, STOMP, quota; retained messages follow', () => {
    const app = devApp({ limits: { ...LIMITS, maxSubscriptionsPerClient: 2 } });
    const admin = new ApplicationAdmin(app);
    const r0 = admin.subscribe('later', 'news/#');
    assert.equal(!r0.ok && r0.reason, 'unknown-client');
    const { link } = open(app, 's1');
    assert.equal(admin.subscribe('s1', 'a/#/b').ok, false);
    assert.equal(admin.subscribe('s1', '$share//x').ok, false);
    app.router.publish(msg('news/1', 'kept', 1, true));
    const r1 = admin.subscribe('s1', 'news/#', { qos: 1 });
    assert.deepEqual(r1, { ok: true, existed: false, retained: 1 });
    assert.equal(link.delivered[0]?.msg.topic, 'news/1');
    assert.equal(link.delivered[0]?.retain, true);
    assert.deepEqual(admin.subscribe('s1', 'news/#', { retainHandling: 1 }), { ok: true, existed: true, retained: 0 });
    assert.ok(admin.subscribe('s1', 'b').ok);
    const full = admin.subscribe('s1', 'c');
    assert.equal(!full.ok && full.reason, 'quota');
    // Routed like the client's own subscription.
    assert.equal(app.router.publish(msg('news/2', 'hi', 1)), 1);
    assert.equal(link.delivered.at(-1)?.msg.topic, 'news/2');

    assert.deepEqual(admin.unsubscribe('s1', 'news/#'), { ok: true, existed: true });
    assert.deepEqual(admin.unsubscribe('s1', 'news/#'), { ok: true, existed: false });
    const gone = admin.unsubscribe('nobody', 'x');
    assert.equal(!gone.ok && gone.reason, 'unknown-client');

    open(app, 'st', { protocol: 'stomp' });
    const st = admin.subscribe('st', 'news/#');
    assert.equal(!st.ok && st.reason, 'unsupported');
  });

  test('wildcards turned off; a queue subscription declares the queue', () => {
    const app = devApp({ topics: { maxTopicLength: 100, maxTopicLevels: 8, wildcardSubscriptions: false } });
    const admin = new ApplicationAdmin(app);
    open(app, 'w');
    const r = admin.subscribe('w', 'a/+');
    assert.equal(!r.ok && r.reason, 'unsupported');
    assert.ok(admin.subscribe('w', '$share/jobs/$queue/jobs').ok);
    assert.equal(admin.getQueue('jobs')?.kind, 'queue');
    assert.equal(admin.subscribe('w', 'a/b/c/d/e/f/g/h/i').ok, false); // over maxTopicLevels
  });
});

describe('publish and direct messages', () => {
  test('topic rules, broker-owned topics, from, options', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    const { link: l2, client } = open(app, 'r2');
    void client.subscribe([{ raw: 'x/#', filter: 'x/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
    for (const bad of ['', 'a/+', 'a/#', 'a\nb']) {
      const r = admin.publish(bad, 'x');
      assert.equal(!r.ok && r.reason, 'invalid', bad);
    }
    for (const owned of ['$SYS/broker/x', '$presence/r2', '$monitor/r2', '$members/x', '$dlq/x']) {
      const r = admin.publish(owned, 'x');
      assert.equal(!r.ok && r.reason, 'forbidden', owned);
    }
    const bad = admin.publish('x/1', 'y', { responseTopic: 'r\nx' });
    assert.equal(!bad.ok && bad.reason, 'invalid');
    const notText = admin.publish('x/1', Buffer.from([0xff, 0xfe]), { payloadFormatIndicator: 1 });
    assert.equal(!notText.ok && notText.reason, 'invalid');

    const r = admin.publish('x/1', 'hello', { qos: 1, from: 'backend', contentType: 'text/plain', userProperties: [['k', 'v']], expiryInterval: 60 });
    assert.deepEqual(r, { ok: true, deliveries: 1 });
    const got = l2.delivered.at(-1)!.msg;
    assert.deepEqual(got.sender, { clientId: 'backend', app: 'default', profile: 'SERVICE' });
    assert.equal(got.meta?.contentType, 'text/plain');
    assert.ok(got.expiresAt > Date.now());
    assert.equal(admin.publish('x/2', 'anon').ok, true);
    assert.equal(l2.delivered.at(-1)!.msg.sender, null);
  });

  test('the memory budget and the retained limits apply, and a refusal is counted', () => {
    const budget = new MemoryBudget(1000);
    const app = devApp({ budget, limits: { ...LIMITS, maxRetained: 1 } });
    const admin = new ApplicationAdmin(app);
    assert.ok(admin.publish('r/1', 'kept', { retain: true }).ok);
    const second = admin.publish('r/2', 'more', { retain: true });
    assert.equal(!second.ok && second.reason, 'quota');
    assert.ok(admin.publish('r/1', 'replaced', { retain: true }).ok); // replacing is always allowed
    budget.add(10_000);
    const over = admin.publish('a', 'x', { qos: 1 });
    assert.equal(!over.ok && over.reason, 'quota');
    assert.equal(app.router.stats.droppedByReason.overload, 2);
    assert.deepEqual(admin.deleteRetained('r/1'), { ok: true, existed: true }); // clearing is always accepted
    assert.equal(admin.getRetained('r/1'), null);
  });

  test('a message to a queue creates it: depth until a consumer comes', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    for (let i = 0; i < 3; i++) assert.deepEqual(admin.publish('$queue/jobs', `job ${i}`, { qos: 1 }), { ok: true, deliveries: 1 });
    assert.deepEqual(admin.listQueues().items, [{ name: 'jobs', topicFilter: '$queue/jobs', kind: 'queue', consumers: 0, online: 0, depth: 3, depthBytes: 15 }]);
    const { link } = open(app, 'worker', { profile: 'SERVICE' });
    assert.ok(admin.subscribe('worker', '$share/jobs/$queue/jobs').ok);
    assert.equal(link.delivered.length, 3);
    open(app, 'm1');
    open(app, 'm2');
    assert.ok(admin.subscribe('m1', '$share/grp/t/#').ok);
    assert.ok(admin.subscribe('m2', '$share/grp/t/#').ok);
    const queues = allPages((cursor) => admin.listQueues({ limit: 1, cursor }));
    assert.deepEqual(queues.map((q) => [q.name, q.kind, q.consumers, q.online, q.depth]).sort(), [['grp', 'shared', 2, 2, 0], ['jobs', 'queue', 1, 1, 0]]);
    assert.deepEqual(admin.listQueues({ kind: 'shared' }).items.map((q) => q.name), ['grp']);
    assert.deepEqual(admin.getQueue('grp', 't/#')?.members.map((m) => m.clientId), ['m1', 'm2']);
    assert.equal(admin.getQueue('nope'), null);
  });

  test('direct messages: delivered, queued in a parked session, or dead-lettered', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    const { client, link } = open(app, 'agent', { expiry: 600 });
    void client.subscribe([{ raw: '$inbox/agent/#', filter: '$inbox/agent/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
    assert.deepEqual(admin.sendDirect('agent', 'hi', { qos: 1, from: 'svc', subtopic: 'call' }), { ok: true, deliveries: 1, outcome: 'delivered' });
    assert.equal(link.delivered.at(-1)?.msg.topic, '$inbox/agent/call');
    client.detach('dropped', false);
    assert.deepEqual(admin.sendDirect('agent', 'later', { qos: 1 }), { ok: true, deliveries: 1, outcome: 'queued' });
    assert.deepEqual(admin.sendDirect('ghost', 'lost'), { ok: true, deliveries: 0, outcome: 'dead-lettered' });
    assert.equal(admin.sendDirect('a/b', 'x').ok, false);
    assert.equal(admin.listDeadLetters().items[0]?.topic, '$inbox/ghost');
  });
});

describe('kick', () => {
  test('online, parked, discarded, unknown', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    const will: WillMessage = { msg: msg('wills/k', 'bye', 1), delay: 0 };
    const { link: watch, client: watcher } = open(app, 'watch');
    void watcher.subscribe([{ raw: 'wills/#', filter: 'wills/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);

    const a = open(app, 'k1', { expiry: 600, will });
    assert.deepEqual(admin.kick('k1'), { ok: true, disconnected: true, sessionEnded: false });
    assert.deepEqual(a.link.closed, ['kicked']);
    assert.equal(watch.delivered.at(-1)?.msg.topic, 'wills/k'); // not a clean disconnect: the will goes
    assert.equal(admin.getClient('k1')?.online, false);
    const parked = admin.kick('k1');
    assert.equal(!parked.ok && parked.reason, 'not-connected');
    assert.deepEqual(admin.kick('k1', { discardSession: true }), { ok: true, disconnected: false, sessionEnded: true });
    assert.equal(admin.getClient('k1'), null);

    const before = watch.delivered.length;
    open(app, 'k2', { expiry: 600, will });
    assert.deepEqual(admin.kick('k2', { discardSession: true, publishWill: false }), { ok: true, disconnected: true, sessionEnded: true });
    assert.equal(admin.getClient('k2'), null);
    assert.equal(watch.delivered.length, before);

    const unknown = admin.kick('nobody');
    assert.equal(!unknown.ok && unknown.reason, 'unknown-client');
  });
});

describe('retained messages and topics', () => {
  test('list with a filter and pages, get, delete (subscribers see the clear)', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    for (let i = 0; i < 25; i++) app.router.publish(createMessage(`devices/d${i}/state`, Buffer.from(`s${i}`), 1, true, { contentType: 'text/plain' }, 0, { clientId: `d${i}`, app: 'default', profile: 'AGENT' }));
    app.router.publish(msg('other/x', 'o', 0, true));
    app.router.publish(msg('$SYS/broker/version', 'v', 0, true));
    app.router.publish(createMessage('old/x', Buffer.from('old'), 0, true, null, Date.now() - 1, null));
    const devices = allPages((cursor) => admin.listRetained({ filter: 'devices/+/state', limit: 10, cursor }));
    assert.equal(devices.length, 25);
    assert.deepEqual(devices[0], { topic: 'devices/d0/state', bytes: 2, qos: 1, from: 'd0', contentType: 'text/plain', expiresAt: null });
    const everything = admin.listRetained({ limit: 100 });
    assert.equal(everything.items.length, 26); // '#' leaves out $SYS and the expired one
    assert.equal(everything.total, 28);
    assert.equal(admin.listRetained({ filter: '$SYS/#' }).items.length, 1);
    assert.equal(admin.getRetained('devices/d3/state')?.payload.toString(), 's3');
    assert.equal(admin.getRetained('old/x'), null);

    const { client, link } = open(app, 'sub');
    void client.subscribe([{ raw: 'other/#', filter: 'other/#', group: null, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 2, subscriptionId: 0 }]);
    assert.deepEqual(admin.deleteRetained('other/x'), { ok: true, existed: true });
    assert.equal(link.delivered.at(-1)?.msg.payload.length, 0);
    assert.deepEqual(admin.deleteRetained('other/x'), { ok: true, existed: false });
    assert.equal(admin.deleteRetained('a/+').ok, false);
    assert.equal(admin.getRetained('other/x'), null);
  });

  test('subscriptions and topics', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    for (let i = 0; i < 30; i++) {
      open(app, `t${i}`);
      assert.ok(admin.subscribe(`t${i}`, i % 2 === 0 ? 'even/#' : `odd/${i}`).ok);
    }
    assert.ok(admin.subscribe('t0', '$share/g/even/#').ok);
    assert.ok(admin.subscribe('t1', '$share/g/even/#').ok);
    const subs = allPages((cursor) => admin.listSubscriptions({ limit: 8, cursor }));
    assert.equal(subs.length, 32);
    assert.deepEqual(admin.listSubscriptions({ clientId: 't0' }).items.map((s) => s.filter), ['even/#', '$share/g/even/#']);
    assert.equal(admin.listSubscriptions({ topic: 'even/x' }).items.length, 17);
    assert.equal(admin.listSubscriptions({ filter: 'odd/3' }).items[0]?.clientId, 't3');
    assert.deepEqual(admin.listSubscriptions({ clientId: 'nobody' }).items, []);
    const topics = allPages((cursor) => admin.listTopics({ limit: 4, cursor }));
    assert.equal(topics.length, 17);
    assert.deepEqual(topics.find((t) => t.topicFilter === 'even/#' && t.group === null), { topicFilter: 'even/#', group: null, subscribers: 15 });
    assert.deepEqual(topics.find((t) => t.group === 'g'), { topicFilter: 'even/#', group: 'g', subscribers: 2 });
    assert.equal(admin.listTopics({ prefix: 'odd/' }).items.length, 15);
  });
});

describe('dead letters', () => {
  test('newest first in pages, stable ids, filters, purge', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    for (let i = 0; i < 12; i++) app.router.publish(createMessage(`$inbox/ghost${i % 3}`, Buffer.from(`m${i}`), 1, false, null, 0, { clientId: 'p', app: 'default', profile: 'AGENT' }));
    const all = allPages((cursor) => admin.listDeadLetters({ limit: 5, cursor }));
    assert.deepEqual(all.map((l) => l.id), [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(all[0], { id: 12, reason: 'no-subscribers', topic: '$inbox/ghost2', from: 'p', to: 'ghost2', time: all[0]!.time, qos: 1, bytes: 3 });
    assert.equal(admin.getDeadLetter(12)?.payload.toString(), 'm11');
    assert.equal(new ApplicationAdmin(app).getDeadLetter(12)?.payload.toString(), 'm11'); // ids shared by every facade
    assert.deepEqual(admin.listDeadLetters({ topic: '$inbox/ghost0' }).items.map((l) => l.id), [10, 7, 4, 1]);
    assert.equal(admin.purgeDeadLetters({ topic: '$inbox/ghost0' }), 4);
    assert.equal(admin.purgeDeadLetters({ ids: [12, 99] }), 1);
    app.router.publish(msg('$inbox/ghost9', 'new', 1));
    assert.deepEqual(admin.listDeadLetters().items.map((l) => l.id), [13, 11, 9, 8, 6, 5, 3, 2]);
    assert.equal(admin.getDeadLetter(12), null);
    assert.equal(admin.purgeDeadLetters(), 8);
    assert.equal(admin.listDeadLetters().total, 0);
  });

  test('replay to the original topic (an inbox, now subscribed) or to another', () => {
    const app = devApp();
    const admin = new ApplicationAdmin(app);
    app.router.publish(createMessage('$inbox/late', Buffer.from('call me'), 1, false, { contentType: 'text/plain' }, 0, { clientId: 'svc', app: 'default', profile: 'SERVICE' }));
    app.router.publish(msg('$inbox/never', 'nobody', 1));
    const { client, link } = open(app, 'late');
    void client.subscribe([{ raw: '$inbox/late/#', filter: '$inbox/late/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
    const r = admin.replayDeadLetters({ topic: '$inbox/late' });
    assert.deepEqual(r, { ok: true, replayed: 1, deliveries: 1, failed: [] });
    const got = link.delivered.at(-1)!.msg;
    assert.equal(got.payload.toString(), 'call me');
    assert.equal(got.sender?.clientId, 'svc'); // the original sender is kept
    assert.equal(got.meta?.contentType, 'text/plain');
    assert.deepEqual(admin.listDeadLetters().items.map((l) => l.topic), ['$inbox/never']);

    // To another topic, kept in the list.
    const { client: c2, link: l2 } = open(app, 'ops');
    void c2.subscribe([{ raw: 'ops/replay', filter: 'ops/replay', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
    const id = admin.listDeadLetters().items[0]!.id;
    assert.deepEqual(admin.replayDeadLetters({ ids: [id, 999], targetTopic: 'ops/replay', keep: true }), {
      ok: true,
      replayed: 1,
      deliveries: 1,
      failed: [{ id: 999, reason: 'not-found', detail: 'no dead letter 999 matching the selection' }],
    });
    assert.equal(l2.delivered.at(-1)?.msg.payload.toString(), 'nobody');
    assert.equal(admin.listDeadLetters().total, 1);
    const bad = admin.replayDeadLetters({ targetTopic: '$dlq/x' });
    assert.equal(!bad.ok && bad.reason, 'forbidden');
    // Replayed to the inbox of someone still unknown: dead-lettered anew (a new id), the old one removed.
    assert.deepEqual(admin.replayDeadLetters({ ids: [id] }), { ok: true, replayed: 1, deliveries: 0, failed: [] });
    assert.deepEqual(admin.listDeadLetters().items.map((l) => [l.topic, l.id > id]), [['$inbox/never', true]]);
  });
});

describe('BrokerAdmin', () => {
  test('applications, stats, reload', () => {
    const budget = new MemoryBudget(1 << 20);
    const a = new Application(appConfig('cc'), { limits: LIMITS, maxRedeliveries: 5, budget });
    const b = new Application(appConfig('other'), { limits: LIMITS, maxRedeliveries: 5, budget });
    const reloads: string[][] = [];
    const admin = new BrokerAdmin(new Map([['cc', a], ['other', b]]), { connections: () => 3, onReload: (r) => reloads.push(r.updated) });
    assert.deepEqual(admin.applications(), ['cc', 'other']);
    assert.equal(admin.app('cc'), admin.app('cc'));
    assert.equal(admin.app('nope'), undefined);
    open(a, 'x1', { expiry: 60 });
    open(a, 'x2');
    admin.app('cc')!.publish('t', 'retained', { retain: true });
    const s = admin.stats();
    assert.equal(s.connections, 3);
    assert.deepEqual(s.budget, { used: messageSize(msg('t', 'retained', 0, true)), limit: 1 << 20, exceeded: false });
    const cc = s.applications[0]!;
    assert.equal(cc.app, 'cc');
    assert.deepEqual(cc.clients, { sessions: 2, online: 2, persistent: 1 });
    assert.equal(cc.retained, 1);
    assert.equal(cc.messages.messagesIn, 1);

    const next = appConfig('cc');
    next.grants = { AGENT: { publish: ['granted/#'] } };
    assert.deepEqual(admin.reload({ applications: [next, appConfig('new')] }), { updated: ['cc'], ignored: ['new'], kept: ['other'] });
    assert.deepEqual(reloads, [['cc']]);
    assert.equal(a.canPublish({ clientId: 'x', login: 'x', profile: 'AGENT' }, 'granted/1'), true);
  });
});
