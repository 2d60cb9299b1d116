import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, isRefusal, logRefused, openClient } from './clients.js';
import type { ConnectionLog, OpenRequest, SubscribeAnswer, SubscribeRequest } from './clients.js';
import { Application } from './application.js';
import type { ApplicationOptions } from './application.js';
import { clientInfo } from './hooks.js';
import type { BrokerHooks, ClientInfo } from './hooks.js';
import { MemoryBudget } from './budget.js';
import { createMessage } from './message.js';
import type { Message, QoS } from './message.js';
import type { Profile } from './permissions.js';
import type { SessionLink, WillMessage } from './session.js';
import { parseFilter } from './topic.js';

// The core takes its settings as arguments (no imports from config/, see .dependency-cruiser.cjs).
type ApplicationConfig = NonNullable<ConstructorParameters<typeof Application>[0]>;
type Limits = ApplicationOptions['limits'];

/** The configuration defaults (config/schema.ts), as the broker passes them. */
const LIMITS: Limits = {
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

function appConfig(extra: Partial<ApplicationConfig> = {}): ApplicationConfig {
  return {
    id: 'cc',
    appKey: 'app-key-123',
    profileKeys: {},
    duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'reject', ADMIN: 'takeover' },
    acl: [{ permission: 'allow', action: 'all', topic: 'team/#' }],
    grants: {},
    presenceTopics: [],
    ...extra,
  };
}

function app(config: ApplicationConfig | null = null, limits: Partial<Limits> = {}, o: Partial<ApplicationOptions> = {}): Application {
  return new Application(config, { limits: { ...LIMITS, ...limits }, maxRedeliveries: 3, ...o });
}

const info = (a: Application, clientId: string, profile: Profile = 'AGENT'): ClientInfo => clientInfo(clientId, { login: clientId, profile }, a.id, 'mqtt', 'memory', 'test');

/** A link recording deliveries; `onClose` plays the protocol's part (it detaches its client at once). */
function link(): SessionLink & { got: string[]; closed: string[]; onClose: (() => void) | null } {
  const l = {
    got: [] as string[],
    closed: [] as string[],
    onClose: null as (() => void) | null,
    deliver(m: Message, qos: QoS) {
      l.got.push(`${m.topic}:${m.payload.toString()}:${qos}`);
    },
    close(reason: string) {
      l.closed.push(reason);
      l.onClose?.();
    },
    pump() {},
  };
  return l;
}

function req(i: ClientInfo, o: Partial<OpenRequest> = {}): OpenRequest {
  return { info: i, cleanStart: true, expiry: 0, will: null, ...o };
}

const will = (topic: string, from: ClientInfo, delay = 0): WillMessage => ({ msg: createMessage(topic, Buffer.from('gone'), 1, false, null, 0, from), delay });
const msg = (topic: string, from: ClientInfo | null, o: { retain?: boolean; payload?: string; qos?: QoS } = {}): Message =>
  createMessage(topic, Buffer.from(o.payload ?? 'x'), o.qos ?? 1, o.retain ?? false, null, 0, from);

function sub(raw: string, o: Partial<SubscribeRequest> = {}): SubscribeRequest {
  const p = parseFilter(raw)!;
  return { raw, filter: p.filter, group: p.group, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0, ...o };
}

/** Open synchronously or fail the test. */
function open(a: Application, i: ClientInfo, o: Partial<OpenRequest> = {}, l = link()): Client {
  const c = openClient(a, req(i, o), l);
  if (!(c instanceof Client)) assert.fail(`open ${i.clientId}: ${c instanceof Promise ? 'pending' : c.code}`);
  return c;
}

const codeOf = (x: unknown): string => (isRefusal(x) ? x.code : typeof x === 'object' && x !== null && 'ok' in x ? 'ok' : String(x));

test('open: the will is checked as a publish first (topic rules, permissions, an asynchronous hook)', async () => {
  const a = app(appConfig());
  const i = info(a, 'w');
  assert.equal(codeOf(openClient(a, req(i, { will: will('team/+', i) }), link())), 'SB_ERR_TOPIC_NAME');
  assert.equal(codeOf(openClient(a, req(i, { will: will('elsewhere', i) }), link())), 'SB_ERR_NOT_AUTHORIZED');
  assert.equal(a.router.sessions.size, 0); // refused before anything was attached
  const c = open(a, i, { will: will('team/w', i) });
  assert.equal(c.session.will?.msg.topic, 'team/w');

  const hooked = (h: BrokerHooks['authorizePublish']): Application => app(null, {}, { hooks: { authorizePublish: h } });
  const no = hooked(() => Promise.resolve(false));
  const pending = openClient(no, req(info(no, 'x'), { will: will('t', info(no, 'x')) }), link());
  assert.ok(pending instanceof Promise);
  assert.equal(codeOf(await pending), 'SB_ERR_NOT_AUTHORIZED');
  const broken = hooked(() => Promise.reject(new Error('down')));
  assert.equal(codeOf(await openClient(broken, req(info(broken, 'y'), { will: will('t', info(broken, 'y')) }), link())), 'SB_ERR_NOT_AUTHORIZED');
  const yes = hooked(() => Promise.resolve(true));
  assert.ok((await openClient(yes, req(info(yes, 'z'), { will: will('t', info(yes, 'z')) }), link())) instanceof Client);
});

test('open: a client id held by a higher profile is refused to a lower one; a higher one takes it back from a lower one; a holder whose profile says reject keeps it', () => {
  const a = app(appConfig());
  // A SERVICE holds its id: an AGENT gets wrong-profile.
  const svcLink = link();
  const svcHolder = open(a, info(a, 'svc-held', 'SERVICE'), {}, svcLink);
  assert.equal(codeOf(openClient(a, req(info(a, 'svc-held')), link())), 'SB_ERR_WRONG_PROFILE');
  assert.deepEqual(svcLink.closed, []);
  svcHolder.detach('clean', false);

  // An AGENT squatting on an id: a SERVICE takes it back (the AGENT is closed, its session discarded).
  const agentLink = link();
  open(a, info(a, 'id-1'), { expiry: 60 }, agentLink);
  const taken = open(a, info(a, 'id-1', 'SERVICE'));
  assert.deepEqual(agentLink.closed, ['takeover']);
  assert.equal(taken.present, false);
  const againAgent = link();
  open(a, info(a, 'id-2'), {}, againAgent);
  open(a, info(a, 'id-2')); // AGENT over AGENT: takeover
  assert.deepEqual(againAgent.closed, ['takeover']);

  const svc = open(a, info(a, 'svc', 'SERVICE'));
  assert.equal(codeOf(openClient(a, req(info(a, 'svc', 'SERVICE')), link())), 'SB_ERR_DUPLICATE_LOGIN');
  svc.detach('clean', false);
  open(a, info(a, 'svc', 'SERVICE')); // free again

  // A parked persistent session is held by its profile too.
  const p = open(a, info(a, 'parked', 'ADMIN'), { expiry: 60 });
  p.detach('dropped', false);
  assert.equal(codeOf(openClient(a, req(info(a, 'parked'), { expiry: 60 }), link())), 'SB_ERR_WRONG_PROFILE');
});

test('open: a new persistent session needs room under limits.maxPersistentSessions; resuming one does not', () => {
  const a = app(null, { maxPersistentSessions: 1 });
  const first = open(a, info(a, 'p1'), { cleanStart: false, expiry: 60 });
  first.detach('dropped', false);
  assert.equal(codeOf(openClient(a, req(info(a, 'p2'), { cleanStart: false, expiry: 60 }), link())), 'SB_ERR_QUOTA');
  open(a, info(a, 'clean'));
  const back = open(a, info(a, 'p1'), { cleanStart: false, expiry: 60 });
  assert.equal(back.present, true);
});

test('publish answers: deliveries, topic and permission refusals, an asynchronous hook, admission (budget, retained limits)', async () => {
  const a = app(appConfig(), { maxRetainedPerClient: 1 });
  const c = open(a, info(a, 'pub'));
  const s = open(a, info(a, 'sub'), {}, link());
  s.subscribe([sub('team/#')]);
  assert.equal(c.publish(msg('team/a', c.info)), 1);
  assert.equal(c.publish(msg('team/nobody/../x', c.info)), 1);
  assert.equal(codeOf(c.publish(msg('team/+', c.info))), 'SB_ERR_TOPIC_NAME');
  assert.equal(codeOf(c.publish(msg('private', c.info))), 'SB_ERR_NOT_AUTHORIZED');
  assert.equal(c.publish(msg('team/r1', c.info, { retain: true })), 1);
  assert.equal(codeOf(c.publish(msg('team/r2', c.info, { retain: true }))), 'SB_ERR_QUOTA');
  assert.equal(a.router.stats.droppedByReason.overload, 1);

  const budget = new MemoryBudget(10);
  const b = app(null, {}, { budget, hooks: { authorizePublish: (_i, m) => Promise.resolve(m.topic !== 'deny') } });
  const bc = open(b, info(b, 'x'));
  const answer = bc.publish(msg('t', bc.info));
  assert.ok(answer instanceof Promise);
  assert.equal(await answer, 0);
  assert.equal(codeOf(await bc.publish(msg('deny', bc.info))), 'SB_ERR_NOT_AUTHORIZED');
  budget.add(11);
  assert.equal(codeOf(await bc.publish(msg('t', bc.info))), 'SB_ERR_QUOTA');
  assert.equal(await bc.publish(msg('t', bc.info, { retain: true, payload: '' })), 0); // clearing passes
});

test('publish to $queue/<name> declares the queue: it holds the message until a consumer comes', () => {
  const a = app();
  const c = open(a, info(a, 'p'));
  assert.equal(c.publish(msg('$queue/jobs', c.info)), 1);
  const l = link();
  const w = open(a, info(a, 'w'), {}, l);
  w.subscribe([sub('$share/jobs/$queue/jobs')]);
  assert.deepEqual(l.got, ['$queue/jobs:x:1']);
});

test('subscribe answers, one per filter: invalid, wildcards off, not allowed, quota, hook (a failing hook denies); retained by Retain Handling, none for shared', async () => {
  const a = app(appConfig(), { maxSubscriptionsPerClient: 3 }, { topics: { maxTopicLength: 100, maxTopicLevels: 5, wildcardSubscriptions: false } });
  const c = open(a, info(a, 'c'));
  a.router.publish(msg('team/r', null, { retain: true, payload: 'kept' }));
  const answers = c.subscribe([sub('team/a/#/b'), sub('team/#'), sub('private'), sub('team/r'), sub('team/x'), sub('team/y'), sub('team/z')]) as SubscribeAnswer[];
  assert.deepEqual(answers.map(codeOf), ['SB_ERR_TOPIC_FILTER', 'SB_ERR_WILDCARD_UNSUPPORTED', 'SB_ERR_NOT_AUTHORIZED', 'ok', 'ok', 'ok', 'SB_ERR_QUOTA']);
  const r = answers[3]!;
  assert.ok(!isRefusal(r));
  assert.deepEqual([r.existed, r.retained.map((m) => `${m.payload.toString()}:${m.retain}`)], [false, ['kept:true']]);
  const again = c.subscribe([sub('team/r', { retainHandling: 1 }), sub('team/y', { retainHandling: 0 })]) as SubscribeAnswer[];
  assert.deepEqual(again.map((x) => (isRefusal(x) ? x.code : `${x.existed}:${x.retained.length}`)), ['true:0', 'true:0']); // replacing stays under the quota

  const h = app(null, {}, { hooks: { authorizeSubscribe: (_i, f) => (f === 'boom' ? Promise.reject(new Error('x')) : Promise.resolve(f !== 'no')) } });
  h.router.publish(msg('s/r', null, { retain: true }));
  const hc = open(h, info(h, 'h'));
  const pending = hc.subscribe([sub('no'), sub('boom'), sub('s/#'), sub('$share/g/s/#')]);
  assert.ok(pending instanceof Promise);
  const done = await pending;
  assert.deepEqual(done.map(codeOf), ['SB_ERR_NOT_AUTHORIZED', 'SB_ERR_NOT_AUTHORIZED', 'ok', 'ok']);
  assert.deepEqual(done.map((x) => (isRefusal(x) ? -1 : x.retained.length)), [-1, -1, 1, 0]);
  assert.deepEqual([...hc.session.subscriptions.keys()], ['s/#', '$share/g/s/#']);
});

test('unsubscribe answers: whether it existed; a hook refusal (or failure) keeps the subscription', async () => {
  const a = app();
  const c = open(a, info(a, 'c'));
  c.subscribe([sub('a'), sub('b')]);
  assert.deepEqual(c.unsubscribe(['a', 'never']), [true, false]);
  const h = app(null, {}, { hooks: { authorizeUnsubscribe: (_i, f) => (f === 'boom' ? Promise.reject(new Error('x')) : Promise.resolve(f !== 'pinned')) } });
  const hc = open(h, info(h, 'h'));
  hc.subscribe([sub('pinned'), sub('boom'), sub('loose')]);
  const answers = await hc.unsubscribe(['pinned', 'boom', 'loose']);
  assert.deepEqual(answers.map(codeOf), ['SB_ERR_NOT_AUTHORIZED', 'SB_ERR_NOT_AUTHORIZED', 'true']);
  assert.deepEqual([...hc.session.subscriptions.keys()], ['pinned', 'boom']);
});

test('settle, nack and giveBack: a NACKed queue delivery goes to another consumer; a NACKed plain delivery is dead-lettered', () => {
  const dropped: string[] = [];
  const a = app(null, {}, { onDrop: (s, m, r) => dropped.push(`${r}:${m.topic}:${s?.clientId ?? ''}`) });
  const l1 = link();
  const l2 = link();
  const c1 = open(a, info(a, 'c1'), {}, l1);
  const c2 = open(a, info(a, 'c2'), {}, l2);
  const g = a.router.declareQueue('q');
  const m = msg('$queue/q', null);
  const id = c1.session.begin(m, 1, false, null, g);
  c2.subscribe([sub('$share/q/$queue/q')]);
  c1.nack(id);
  assert.deepEqual(l2.got, ['$queue/q:x:1']);
  assert.equal(c1.session.inflightCount, 0);
  c1.nack(id); // settled already: nothing
  const plain = c1.session.begin(msg('t', null), 1, false, null, null);
  assert.equal(c1.settle(plain)?.msg.topic, 't');
  const plain2 = c1.session.begin(msg('t2', null), 1, false, null, null);
  c1.nack(plain2);
  c1.giveBack(null, msg('t3', null));
  c1.giveBack(g, msg('$queue/q', null, { payload: 'back' }));
  assert.deepEqual(dropped, ['nack-limit:t2:c1', 'offline:t3:c1']);
  assert.deepEqual(l2.got, ['$queue/q:x:1', '$queue/q:back:1']);
});

test('detach when the connection ends: hook, will (unless clean), session detached; idempotent', () => {
  const closes: string[] = [];
  const a = app(null, {}, { hooks: { onConnectionClose: (i, r) => closes.push(`${i.clientId}:${r}`) } });
  const watch = link();
  open(a, info(a, 'watch'), {}, watch).subscribe([sub('will/#')]);
  const i = info(a, 'x');
  const rude = open(a, i, { will: will('will/rude', i) });
  rude.detach('dropped', true);
  rude.detach('dropped', true);
  assert.deepEqual(watch.got, ['will/rude:gone:1']);
  assert.equal(a.router.sessions.has('x'), false);
  const j = info(a, 'y');
  const polite = open(a, j, { will: will('will/polite', j), expiry: 60, cleanStart: false });
  polite.detach('clean', false);
  assert.deepEqual(watch.got, ['will/rude:gone:1']);
  const parked = a.router.sessions.get('y')!;
  assert.deepEqual([parked.link, parked.will], [null, null]);
  assert.deepEqual(closes, ['x:dropped', 'y:clean']);
});

test('detach after a takeover: the old connection publishes its will but leaves the session to the new one', () => {
  const a = app();
  const watch = link();
  open(a, info(a, 'watch'), {}, watch).subscribe([sub('will/#')]);
  const i = info(a, 'dup');
  const oldLink = link();
  const old = open(a, i, { will: will('will/old', i), expiry: 60, cleanStart: false }, oldLink);
  old.subscribe([sub('t')]);
  oldLink.onClose = () => old.detach('taken-over', true); // what the protocol does when told to close
  const newLink = link();
  const fresh = open(a, i, { expiry: 60, cleanStart: false }, newLink);
  assert.deepEqual(oldLink.closed, ['takeover']);
  assert.deepEqual(watch.got, ['will/old:gone:1']);
  old.detach('dropped', true); // the old socket's close, later: nothing more
  assert.deepEqual(watch.got, ['will/old:gone:1']);
  assert.equal(fresh.present, true);
  assert.equal(fresh.session, old.session);
  assert.equal(fresh.session.link, newLink);
  a.router.publish(msg('t', null));
  assert.deepEqual(newLink.got, ['t:x:1']);
  assert.deepEqual(oldLink.got, []);
});

test('a resumed session keeps only the subscriptions its client may still hold (rules reloaded meanwhile)', () => {
  const a = app(appConfig({ acl: [{ permission: 'allow', action: 'all', topic: 'team/#' }, { permission: 'allow', action: 'subscribe', topic: 'news/#' }] }));
  const c = open(a, info(a, 'r'), { expiry: 60, cleanStart: false });
  c.subscribe([sub('team/a'), sub('news/b')]);
  c.detach('dropped', false);
  a.reconfigure(appConfig({ acl: [{ permission: 'allow', action: 'all', topic: 'team/#' }] }));
  const back = open(a, info(a, 'r'), { expiry: 60, cleanStart: false });
  assert.equal(back.present, true);
  assert.deepEqual([...back.session.subscriptions.keys()], ['team/a']);
  assert.equal(a.router.trie.size, 1);
});

test('a connected client publishing the same topic again is checked again after a reload (cached permission ends)', () => {
  const a = app(appConfig({ acl: [{ permission: 'allow', action: 'all', topic: 'team/#' }] }));
  const c = open(a, info(a, 'p'), {});
  assert.equal(typeof c.publish(msg('team/x', c.info)), 'number');
  assert.equal(typeof c.publish(msg('team/x', c.info)), 'number');
  a.reconfigure(appConfig({ acl: [{ permission: 'allow', action: 'all', topic: 'other/#' }] }));
  assert.equal(codeOf(c.publish(msg('team/x', c.info))), 'SB_ERR_NOT_AUTHORIZED');
  assert.equal(typeof c.publish(msg('other/y', c.info)), 'number');
});

// ---- the connection log ------------------------------------------------------------------

/** A ConnectionLog keeping what it is given. */
function logBook(): ConnectionLog & { lines: Array<{ msg: string } & Record<string, unknown>> } {
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  return { lines, info: (fields, msg) => void lines.push({ ...(fields as Record<string, unknown>), msg }) };
}

/** Line `i` (read afresh: deepEqual narrows what it compared). */
const lineOf = (log: ReturnType<typeof logBook>, i: number): Record<string, unknown> => log.lines[i]!;

const IDENTITY = { clientId: 'lg', app: 'default', login: 'lg', profile: 'AGENT', protocol: 'mqtt', protocolVersion: 5, transport: 'memory', remoteAddress: 'test' };

test('the client port logs a client once as it is admitted and once as it goes, with the reason, the code and how long', () => {
  const a = app();
  const log = logBook();
  const t0 = Date.now();
  const c = open(a, info(a, 'lg'), { log, protocolVersion: 5, expiry: 60, cleanStart: false });
  assert.deepEqual(log.lines, [{ ...IDENTITY, sessionPresent: false, msg: 'client connected' }]);
  c.detach('kicked', false, 'SB_ERR_ADMIN_ACTION');
  c.detach('dropped', false); // the socket's close, later: nothing more
  assert.equal(log.lines.length, 2);
  const { durationMs, ...gone } = lineOf(log, 1);
  assert.deepEqual(gone, { ...IDENTITY, reason: 'kicked', code: 'SB_ERR_ADMIN_ACTION', msg: 'client disconnected' });
  assert.ok(typeof durationMs === 'number' && durationMs >= 0 && durationMs <= Date.now() - t0);
  // Resumed: sessionPresent; no code when the broker gave none.
  const back = open(a, info(a, 'lg'), { log, protocolVersion: 5, expiry: 60, cleanStart: false });
  assert.equal(lineOf(log, 2).sessionPresent, true);
  back.detach('clean', false);
  assert.equal(lineOf(log, 3).reason, 'clean');
  assert.ok(!('code' in lineOf(log, 3)));
});

test('a takeover logs the old connection\'s end before the new one\'s start', () => {
  const a = app();
  const log = logBook();
  const i = info(a, 'lg');
  const oldLink = link();
  const old = open(a, i, { log, protocolVersion: 5 }, oldLink);
  oldLink.onClose = () => old.detach('taken-over', true, 'SB_ERR_TAKEN_OVER');
  open(a, i, { log, protocolVersion: 5 });
  assert.deepEqual(log.lines.map((l) => [l.msg, l.reason]), [['client connected', undefined], ['client disconnected', 'taken-over'], ['client connected', undefined]]);
});

test('no log given, nothing logged; a refusal of the core is not logged by it (the protocol logs "client refused")', () => {
  const a = app(appConfig());
  const log = logBook();
  const c = open(a, info(a, 'quiet'));
  c.detach('clean', false);
  assert.ok(openClient(a, req(info(a, 'svc', 'SERVICE')), link()) instanceof Client);
  assert.equal(codeOf(openClient(a, req(info(a, 'svc', 'SERVICE'), { log }), link())), 'SB_ERR_DUPLICATE_LOGIN');
  assert.deepEqual(log.lines, []);
});

test('logRefused: what is known of the client, the code and the detail', () => {
  const a = app();
  const log = logBook();
  logRefused(log, { clientId: 'x', protocol: 'stomp', transport: 'tcp', remoteAddress: '10.0.0.1' }, { code: 'SB_ERR_UNSUPPORTED_VERSION', detail: 'no' });
  logRefused(log, { clientId: 'lg', protocol: 'mqtt', protocolVersion: 5, transport: 'memory', remoteAddress: 'test', info: info(a, 'lg') }, { code: 'SB_ERR_QUOTA', detail: 'full' });
  assert.deepEqual(log.lines, [
    { clientId: 'x', protocol: 'stomp', transport: 'tcp', remoteAddress: '10.0.0.1', code: 'SB_ERR_UNSUPPORTED_VERSION', detail: 'no', msg: 'client refused' },
    { ...IDENTITY, code: 'SB_ERR_QUOTA', detail: 'full', msg: 'client refused' },
  ]);
});
