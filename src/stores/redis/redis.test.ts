/**
 * The Redis stores against real redis-server processes (test/helpers/services.ts): the contract
 * suite on one server and on a three-master Redis Cluster, exact round trips, fencing between two
 * stores, a parked session expiring in Redis, and a Redis outage (writeError set, then cleared).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { missingServices, startRedis, startRedisCluster } from '../../../test/helpers/services.js';
import type { RedisCluster, RedisServer } from '../../../test/helpers/services.js';
import fc from 'fast-check';
import { storesContract } from '../contract.js';
import type { DeliveryRecord, MessageRecord, SessionMeta, Stores } from '../types.js';
import { decodeDeadLetter, decodeDelivery, decodeRetained, encodeDeadLetter, encodeDelivery, encodeRetained } from './codec.js';
import { RedisStores } from './index.js';
import type { RedisSettings, RedisStoresOptions } from './index.js';

const skip = missingServices('redis-server', 'redis-cli');

let server: Promise<RedisServer> | null = null;
let cluster: Promise<RedisCluster> | null = null;
const redis = (): Promise<RedisServer> => (server ??= startRedis());
const redisCluster = (): Promise<RedisCluster> => (cluster ??= startRedisCluster(3));
/** Every store a test opened: one a failed test left open is closed here, so that the process ends. */
const opened = new Set<RedisStores>();
after(async () => {
  await Promise.all([...opened].map((s) => s.close().catch(() => undefined)));
  await (await server)?.stop();
  await (await cluster)?.stop();
});

/** Every store gets a prefix of its own: a fresh, empty backend on the same Redis. */
let prefixes = 0;
const settingsOf = new WeakMap<Stores, RedisStoresOptions>();

async function open(opts: RedisStoresOptions): Promise<RedisStores> {
  const s = new RedisStores(opts);
  opened.add(s);
  await s.open();
  settingsOf.set(s, opts);
  return s;
}

async function reopen(s: Stores): Promise<Stores> {
  const opts = settingsOf.get(s)!;
  await s.close(); // a restart: the next store reads what Redis holds
  return open(opts);
}

function single(url: string, extra: Partial<RedisSettings> = {}): RedisSettings {
  return { url, sentinelName: 'mymaster', prefix: `t${++prefixes}`, ...extra };
}

if (skip === false) {
  storesContract('redis', { open: async () => open({ redis: single((await redis()).url), node: 'n1' }), reopen });
  storesContract('redis (Redis Cluster, 3 masters)', {
    open: async () => open({ redis: { nodes: (await redisCluster()).seeds, sentinelName: 'mymaster', prefix: `t${++prefixes}` }, node: 'n1' }),
    reopen,
  });
} else {
  test('redis stores', { skip }, () => undefined);
}

function msg(topic: string, payload: string | Buffer, extra: Partial<MessageRecord> = {}): MessageRecord {
  return { topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos: 1, retain: false, meta: null, expiresAt: 0, sender: null, ...extra };
}
function delivery(payload: string): DeliveryRecord {
  return { msg: msg('t', payload), qos: 1, retain: false, subscriptionIds: null, group: null };
}
const meta: SessionMeta = { login: 'c1', profile: 'AGENT', protocol: 'mqtt', expiry: 3600, disconnectedAt: 0 };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// ---- the codec, without Redis ----------------------------------------------------------------

const uint = fc.maxSafeNat();
const plain = { noNullPrototype: true } as const;
const arbMessage: fc.Arbitrary<MessageRecord> = fc.record(
  {
    topic: fc.string({ unit: 'grapheme' }),
    payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    meta: fc.option(
      fc.record(
        {
          payloadFormatIndicator: fc.nat(255),
          contentType: fc.string(),
          responseTopic: fc.string(),
          correlationData: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
          userProperties: fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 }),
        },
        { requiredKeys: [], ...plain },
      ),
    ),
    expiresAt: uint,
    sender: fc.option(fc.record({ clientId: fc.string(), app: fc.string(), profile: fc.string() }, plain)),
  },
  plain,
);
const arbDelivery: fc.Arbitrary<DeliveryRecord> = fc.record(
  {
    msg: arbMessage,
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    subscriptionIds: fc.option(fc.array(uint, { maxLength: 5 })),
    group: fc.option(fc.record({ filter: fc.string(), name: fc.string() }, plain)),
    via: fc.string(),
  },
  { requiredKeys: ['msg', 'qos', 'retain', 'subscriptionIds', 'group'], ...plain },
);

test('redis codec: messages, deliveries and dead letters decode deep-equal to what was encoded', () => {
  fc.assert(fc.property(arbDelivery, (d) => assert.deepEqual(decodeDelivery(encodeDelivery(d)), d)));
  fc.assert(fc.property(arbMessage, (m) => assert.deepEqual(decodeRetained(m.topic, encodeRetained(m)), m)));
  fc.assert(
    fc.property(arbMessage, uint, fc.string(), fc.option(fc.string()), uint, (m, id, reason, to, time) => {
      const d = { id, app: 'app', reason, to, time, msg: m };
      assert.deepEqual(decodeDeadLetter('app', encodeDeadLetter(d)), d);
    }),
  );
  assert.throws(() => encodeDelivery({ ...delivery('x'), subscriptionIds: [1.5] }), RangeError);
});

test('redis: records come back exactly (empty payloads, empty metadata, binary values, delivery fields, big numbers)', { skip }, async () => {
  const url = (await redis()).url;
  let s = await open({ redis: single(url), node: 'n1' });
  const d: DeliveryRecord = {
    msg: msg('a', Buffer.alloc(0), { meta: {}, qos: 2, retain: true, expiresAt: 1_900_000_000_123 }),
    qos: 2,
    retain: true,
    subscriptionIds: [1, 7, 268_435_455],
    group: { filter: 'jobs/#', name: 'g' },
    via: '$share/g/jobs/#',
  };
  const withMeta = msg('b/ü', Buffer.from([0, 255, 0]), {
    meta: { payloadFormatIndicator: 1, contentType: '', responseTopic: 'r', correlationData: Buffer.alloc(0), userProperties: [['a', '1'], ['a', '2']] },
    sender: { clientId: 'p', app: 'app', profile: 'SERVICE' },
  });
  const sub = { raw: '$share/g/x/+', filter: 'x/+', group: 'g', qos: 2 as const, noLocal: false, retainAsPublished: true, retainHandling: 2 as const, subscriptionId: 268_435_455 };
  s.sessions.putSession('app', 'c:1{x}', { ...meta, expiry: 0xffffffff, disconnectedAt: 1_700_000_000_000 });
  s.sessions.enqueue('app', 'c:1{x}', d);
  s.sessions.enqueue('app', 'c:1{x}', { msg: withMeta, qos: 0, retain: false, subscriptionIds: null, group: null });
  s.sessions.putSubscription('app', 'c:1{x}', sub);
  s.sessions.putInflight('app', 'c:1{x}', { id: 65535, delivery: d, phase: 'received' });
  s.sessions.putWill('app', 'c:1{x}', { msg: withMeta, delay: 0 });
  s.sessions.enqueue('app', 'nobody', d); // no such session: nothing stored
  s.retained.putRetained('app', withMeta);
  await s.flush();
  s = (await reopen(s)) as RedisStores;
  const [r, ...more] = await collect(s.sessions.sessions('app'));
  assert.equal(more.length, 0);
  assert.deepEqual(r, {
    app: 'app',
    clientId: 'c:1{x}',
    ...meta,
    expiry: 0xffffffff,
    disconnectedAt: 1_700_000_000_000,
    subscriptions: [sub],
    will: { msg: withMeta, delay: 0 },
    inflight: [{ id: 65535, delivery: d, phase: 'received' }],
    inbound: [],
    queued: 2,
  });
  assert.deepEqual(await s.sessions.queuePage('app', 'c:1{x}', 0, 10), [d, { msg: withMeta, qos: 0, retain: false, subscriptionIds: null, group: null }]);
  assert.deepEqual(await s.sessions.queuePage('app', 'nobody', 0, 10), []);
  assert.deepEqual(await collect(s.retained.retained('app')), [withMeta]);
  // Removing the will leaves the rest.
  s.sessions.putWill('app', 'c:1{x}', null);
  await s.flush();
  assert.equal((await collect(s.sessions.sessions('app')))[0]!.will, null);
  await s.close();
});

test('redis: flush() waits for every write made before it; dirty meanwhile', { skip }, async () => {
  const s = await open({ redis: single((await redis()).url), node: 'n1' });
  assert.equal(s.dirty, false);
  for (let i = 0; i < 1000; i++) s.retained.putRetained('app', msg(`t/${i}`, 'x', { retain: true }));
  assert.equal(s.dirty, true);
  await s.flush();
  assert.equal(s.dirty, false);
  assert.equal(s.writeError, null);
  assert.equal((await collect(s.retained.retained('app'))).length, 1000);
  await s.flush(); // nothing pending: at once
  await s.close();
});

test('redis: fencing: a store that lost a session to another writes nothing more for it', { skip }, async () => {
  const settings = single((await redis()).url);
  const a = await open({ redis: settings, node: 'a' });
  const b = await open({ redis: settings, node: 'b' });
  assert.equal(await a.shared.acquire('app', 'c'), null, 'nothing stored yet');
  a.sessions.putSession('app', 'c', meta);
  a.sessions.putSubscription('app', 'c', { raw: 'x/#', filter: 'x/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
  a.sessions.enqueue('app', 'c', delivery('from-a'));
  await a.flush();
  assert.equal(a.shared.fenced, 0);

  // B takes the session: it reads what A wrote.
  const got = await b.shared.acquire('app', 'c');
  assert.ok(got !== null);
  assert.deepEqual(got.subscriptions.map((x) => x.raw), ['x/#']);
  assert.equal(got.queued, 1);
  assert.deepEqual((await b.sessions.queuePage('app', 'c', 0, 10)).map((x) => x.msg.payload.toString()), ['from-a']);

  // A, slow, goes on writing: refused, counted, not a store error (writeError), but its flush fails.
  a.sessions.enqueue('app', 'c', delivery('late-a'));
  a.sessions.putSession('app', 'c', { ...meta, disconnectedAt: 99 });
  a.sessions.deleteSession('app', 'c');
  // What waited for them (an acknowledgement) learns they were not stored.
  await assert.rejects(a.flush(), /held by another node/);
  assert.equal(a.shared.fenced, 3);
  assert.equal(a.writeError, null);
  assert.equal(a.dirty, false);

  // B writes as the holder.
  b.sessions.enqueue('app', 'c', delivery('from-b'));
  await b.flush();
  assert.equal(b.shared.fenced, 0);
  const [r] = await collect(b.sessions.sessions('app'));
  assert.equal(r!.disconnectedAt, 0);
  assert.deepEqual((await b.sessions.queuePage('app', 'c', 0, 10)).map((x) => x.msg.payload.toString()), ['from-a', 'from-b']);

  // A takes it back: B is fenced off in turn. B disowns: its writes are dropped here.
  assert.equal((await a.shared.acquire('app', 'c'))!.queued, 2);
  b.sessions.dequeue('app', 'c');
  await assert.rejects(b.flush(), /held by another node/);
  assert.equal(b.shared.fenced, 1);
  b.shared.disown('app', 'c');
  b.sessions.dequeue('app', 'c');
  assert.equal(b.shared.fenced, 2);
  assert.equal(b.dirty, false, 'a disowned session writes nothing');

  // Writes made while an acquire is under way wait for its token.
  const taking = b.shared.acquire('app', 'c');
  b.sessions.enqueue('app', 'c', delivery('during-acquire'));
  await taking;
  await b.flush();
  assert.equal(b.shared.fenced, 2);
  assert.deepEqual((await b.sessions.queuePage('app', 'c', 0, 10)).map((x) => x.msg.payload.toString()), ['from-a', 'from-b', 'during-acquire']);

  // A session never acquired is written unconditionally (one node).
  a.sessions.putSession('app', 'solo', meta);
  await a.flush();
  assert.equal((await collect(a.sessions.sessions('app'))).length, 2);
  await a.close();
  await b.close();
});

test('redis: a node remembers only the sessions it must fence: a deleted one and a never-acquired one leave nothing', { skip }, async () => {
  const settings = single((await redis()).url);
  const a = await open({ redis: settings, node: 'a' });
  const b = await open({ redis: settings, node: 'b' });
  for (let i = 0; i < 50; i++) {
    await a.shared.acquire('app', `c${i}`);
    a.sessions.putSession('app', `c${i}`, meta);
    a.sessions.deleteSession('app', `c${i}`);
  }
  await a.flush();
  assert.equal(a.sessions.remembered, 0, 'sessions deleted by their holder are forgotten');
  a.shared.disown('app', 'never-here'); // a clean session taken over by another node
  assert.equal(a.sessions.remembered, 0);
  // One given up to another node stays remembered: a's late writes for it are still refused.
  await a.shared.acquire('app', 'kept');
  a.sessions.putSession('app', 'kept', meta);
  await a.flush();
  await b.shared.acquire('app', 'kept');
  a.shared.disown('app', 'kept');
  a.sessions.deleteSession('app', 'kept');
  await a.flush();
  assert.equal(a.sessions.remembered, 1);
  assert.ok((await b.shared.acquire('app', 'kept')) !== null, "a's delete was refused");
  await a.close();
  await b.close();
});

test('redis: a parked session expires in Redis at disconnectedAt + expiry; an online one does not', { skip }, async () => {
  const s = await open({ redis: single((await redis()).url), node: 'n1' });
  s.sessions.putSession('app', 'parked', { ...meta, expiry: 1, disconnectedAt: Date.now() });
  s.sessions.putSession('app', 'online', { ...meta, expiry: 1 });
  s.sessions.putSession('app', 'forever', { ...meta, expiry: 0xffffffff, disconnectedAt: Date.now() });
  s.sessions.putSubscription('app', 'parked', { raw: 'a', filter: 'a', group: null, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
  s.sessions.enqueue('app', 'parked', delivery('x')); // created after the put: gets the expiry too
  await s.flush();
  assert.deepEqual((await collect(s.sessions.sessions('app'))).map((r) => r.clientId).sort(), ['forever', 'online', 'parked']);
  await new Promise((r) => setTimeout(r, 1200));
  assert.deepEqual((await collect(s.sessions.sessions('app'))).map((r) => r.clientId).sort(), ['forever', 'online']);
  assert.deepEqual(await s.sessions.queuePage('app', 'parked', 0, 10), []);
  assert.equal(await s.shared.acquire('app', 'parked'), null);
  const server = await redis();
  const left = await server.cli('--scan', '--pattern', `${settingsOf.get(s)!.redis.prefix}:{s:app:parked}:*`);
  assert.deepEqual(left.split('\n').filter(Boolean), [`${settingsOf.get(s)!.redis.prefix}:{s:app:parked}:fence`], 'only the fence acquire just made is left');
  await s.close();
});

test('redis: while Redis is down writes fail at once and set writeError; back, the reconnection clears it by itself', { skip }, async () => {
  const server = await startRedis();
  try {
    const s = await open({ redis: single(server.url), node: 'n1' });
    s.retained.putRetained('app', msg('before', 'x', { retain: true }));
    await s.flush();
    await server.kill();
    // ioredis notices the closed connection; from then on, writes fail without waiting.
    const until = Date.now() + 5000;
    while (s.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    s.retained.putRetained('app', msg('during', 'x', { retain: true }));
    await assert.rejects(s.flush(), /cluster\.redis: a write to redis:\/\/127\.0\.0\.1:\d+ failed: Redis is unreachable/);
    assert.ok(s.writeError !== null);
    assert.equal(s.dirty, false, 'nothing waits in memory');
    await assert.rejects(s.flush(), /cluster\.redis/); // the error stands until a write succeeds
    await assert.rejects(collect(s.retained.retained('app')), /cluster\.redis: cannot read the retained messages of app/);

    await server.start();
    const back = Date.now() + 10_000;
    while (!s.connected && Date.now() < back) await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.connected, 'reconnected');
    // No write of ours needed: the reconnection's probe clears it (a QoS 1 publish that needs no
    // store must not stay refused until something else writes).
    const cleared = Date.now() + 5000;
    while (s.writeError !== null && Date.now() < cleared) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.writeError, null);
    s.retained.putRetained('app', msg('after', 'x', { retain: true }));
    await s.flush();
    assert.deepEqual((await collect(s.retained.retained('app'))).map((m) => m.topic), ['after']); // nothing persisted
    await s.close();
  } finally {
    await server.stop();
  }
});

test('redis: open() names cluster.redis when Redis cannot be reached in time', { skip }, async () => {
  const server = await startRedis();
  await server.kill(); // a port where nothing listens
  const s = new RedisStores({ redis: single(server.url), node: 'n1', connectTimeoutMs: 300 });
  const t0 = Date.now();
  await assert.rejects(s.open(), /^RedisStoreError: cluster\.redis: the Redis stores cannot open: .*redis:\/\/127\.0\.0\.1:\d+/);
  assert.ok(Date.now() - t0 < 3000);
  assert.throws(() => s.sessions.putSession('app', 'c', meta), /not open \(call open\(\) first\)/);
  await assert.rejects(s.shared.acquire('app', 'c'), /not open/);
  await s.close();
});

test('redis: writes after close() throw, as with the other persistent backend', { skip }, async () => {
  const s = await open({ redis: single((await redis()).url), node: 'n1' });
  s.retained.putRetained('app', msg('a', 'x', { retain: true }));
  await s.close(); // waits for that write
  assert.throws(() => s.retained.putRetained('app', msg('b', 'x')), /redis stores on redis:\/\/127\.0\.0\.1:\d+: closed/);
  const again = await open(settingsOf.get(s)!);
  assert.equal((await collect(again.retained.retained('app'))).length, 1);
  await again.close();
});

test('redis: dead letters are bounded by count and by age, per application', { skip }, async () => {
  let now = Date.now();
  const s = await open({ redis: single((await redis()).url), node: 'n1', deadLetters: { maxCount: 3, maxAgeMs: 1000 }, now: () => now });
  for (let i = 0; i < 5; i++) s.deadLetters.addDeadLetter({ app: 'a', reason: 'expired', to: null, time: now + i, msg: msg('t', String(i)) });
  s.deadLetters.addDeadLetter({ app: 'b', reason: 'expired', to: null, time: now, msg: msg('t', 'b') });
  await s.flush();
  assert.deepEqual((await s.deadLetters.deadLetters('a', {}, 0, 10)).map((d) => d.msg.payload.toString()), ['4', '3', '2']);
  assert.equal((await s.deadLetters.deadLetters('b', {}, 0, 10)).length, 1);
  now += 5000;
  assert.equal((await s.deadLetters.deadLetters('a', {}, 0, 10)).length, 0, 'too old');
  await s.close();
});

test('redis: queue entries are kept per node; ids increase across a reopen', { skip }, async () => {
  const settings = single((await redis()).url);
  let n1: Stores = await open({ redis: settings, node: 'n1' });
  const n2 = await open({ redis: settings, node: 'n2' });
  const a = n1.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'a'));
  n2.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'other node'));
  n1.queues.attempted('app', 12345, 3); // no such entry: nothing
  await n1.flush();
  await n2.flush();
  n1 = await reopen(n1);
  const b = n1.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'b'));
  assert.ok(b > a);
  await n1.flush();
  const [q, ...more] = await collect(n1.queues.queues('app'));
  assert.equal(more.length, 0);
  assert.deepEqual(q!.messages.map((m) => [m.id, m.msg.payload.toString(), m.attempts]), [[a, 'a', 0], [b, 'b', 0]]);
  await n1.close();
  await n2.close();
});
