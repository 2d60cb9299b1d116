import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { storesContract } from '../contract.js';
import type { DeliveryRecord, MessageRecord, Stores } from '../types.js';
import { DB_FILE, LOCK_FILE, SCHEMA_VERSION, SqliteStores, StoreOpenError, StoreWriteError } from './index.js';
import type { SqliteStoresOptions } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${++dirs}`);

/** Which data directory each open store uses, for reopen. */
const dirOf = new WeakMap<Stores, string>();
async function open(dir: string, extra: Partial<SqliteStoresOptions> = {}): Promise<SqliteStores> {
  const s = await SqliteStores.open({ dataDir: dir, ...extra });
  dirOf.set(s, dir);
  return s;
}

for (const durability of ['sync', 'batched', 'none'] as const) {
  storesContract(durability === 'sync' ? 'sqlite' : `sqlite (${durability})`, {
    open: () => open(freshDir(), { durability }),
    reopen: async (s) => {
      const dir = dirOf.get(s)!;
      await s.close(); // a real restart: the next open reads the file
      return open(dir, { durability });
    },
  });
}

function msg(topic: string, payload: string | Buffer, extra: Partial<MessageRecord> = {}): MessageRecord {
  return { topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos: 1, retain: false, meta: null, expiresAt: 0, sender: null, ...extra };
}
const meta = { login: 'c1', profile: 'AGENT', protocol: 'mqtt', expiry: 3600, disconnectedAt: 0 };

async function rejects(p: Promise<unknown>, re: RegExp): Promise<Error> {
  let caught: unknown = null;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected a rejection matching ${re}`);
  assert.match(caught.message, re);
  return caught;
}

test('sqlite: records come back exactly (empty payloads, empty metadata, no sender, delivery fields)', async () => {
  const dir = freshDir();
  let s = await open(dir);
  const d: DeliveryRecord = {
    msg: msg('a', Buffer.alloc(0), { meta: {}, qos: 2, retain: true, expiresAt: 123 }),
    qos: 2,
    retain: true,
    subscriptionIds: [1, 7],
    group: { filter: 'jobs/#', name: 'g' },
    via: '$share/g/jobs/#',
  };
  const withMeta = msg('b', Buffer.from([0, 255, 0]), { meta: { payloadFormatIndicator: 1, responseTopic: 'r', userProperties: [['a', '1'], ['a', '2']] }, sender: { clientId: 'p', app: 'app', profile: 'SERVICE' } });
  s.sessions.putSession('app', 'c', meta);
  s.sessions.enqueue('app', 'c', d);
  s.sessions.enqueue('app', 'c', { msg: withMeta, qos: 0, retain: false, subscriptionIds: null, group: null });
  s.sessions.enqueue('app', 'nobody', d); // no such session: nothing stored
  await s.close();
  s = await open(dir);
  const [r] = await collect(s.sessions.sessions('app'));
  assert.equal(r!.queued, 2);
  const page = await s.sessions.queuePage('app', 'c', 0, 10);
  assert.deepEqual(page, [d, { msg: withMeta, qos: 0, retain: false, subscriptionIds: null, group: null }]);
  assert.deepEqual(await s.sessions.queuePage('app', 'nobody', 0, 10), []);
  await s.close();
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('sqlite: group commit: the writes of one turn are one transaction; dirty until committed', async () => {
  const s = await open(freshDir());
  s.sessions.putSession('app', 'c', meta);
  await s.flush();
  const before = s.stats().commits;
  for (let i = 0; i < 100; i++) s.sessions.enqueue('app', 'c', { msg: msg('t', String(i)), qos: 1, retain: false, subscriptionIds: null, group: null });
  assert.equal(s.dirty, true);
  const flushes = [s.flush(), s.flush()];
  await Promise.all(flushes);
  assert.equal(s.dirty, false);
  assert.equal(s.stats().commits - before, 1);
  await s.flush(); // nothing pending: resolves at once
  assert.equal(s.stats().commits - before, 1);
  await s.close();
});

test('sqlite: batched durability commits every batchMs; a read commits first', async () => {
  const dir = freshDir();
  const s = await open(dir, { durability: 'batched', batchMs: 30 });
  const t0 = Date.now();
  s.retained.putRetained('app', msg('a', '1', { retain: true }));
  await new Promise((r) => setImmediate(r));
  assert.equal(s.dirty, true, 'a batched write waits for its batch');
  s.retained.putRetained('app', msg('b', '1', { retain: true }));
  await s.flush();
  assert.ok(Date.now() - t0 >= 25, 'flush resolved before the batch was due');
  assert.equal(s.dirty, false);
  s.retained.putRetained('app', msg('c', '1', { retain: true }));
  assert.equal((await collect(s.retained.retained('app'))).length, 3, 'reads see pending writes');
  assert.equal(s.dirty, false);
  await s.close();
  const again = await open(dir, { durability: 'none' });
  assert.equal((await collect(again.retained.retained('app'))).length, 3);
  await again.close();
  // A full batch (maxBatch writes) commits at the end of its turn, without waiting for batchMs.
  const full = await open(freshDir(), { durability: 'batched', batchMs: 10_000, maxBatch: 5 });
  for (let i = 0; i < 5; i++) full.retained.putRetained('app', msg(`t${i}`, 'x', { retain: true }));
  await new Promise((r) => setImmediate(r));
  assert.equal(full.dirty, false);
  full.retained.putRetained('app', msg('t6', 'x', { retain: true }));
  await new Promise((r) => setImmediate(r));
  assert.equal(full.dirty, true, 'a partial batch waits for batchMs');
  await full.close();
});

test('sqlite: dead letters are bounded by count and by age, per application, across a reopen', async () => {
  const dir = freshDir();
  let now = 1_000_000;
  let s = await open(dir, { deadLetters: { maxCount: 3, maxAgeMs: 1000 }, now: () => now });
  for (let i = 0; i < 5; i++) s.deadLetters.addDeadLetter({ app: 'a', reason: 'expired', to: null, time: now + i, msg: msg('t', String(i)) });
  s.deadLetters.addDeadLetter({ app: 'b', reason: 'expired', to: null, time: now, msg: msg('t', 'b') });
  assert.deepEqual((await s.deadLetters.deadLetters('a', {}, 0, 10)).map((d) => d.msg.payload.toString()), ['4', '3', '2']);
  assert.equal((await s.deadLetters.deadLetters('b', {}, 0, 10)).length, 1);
  await s.close();
  s = await open(dir, { deadLetters: { maxCount: 2, maxAgeMs: 1000 }, now: () => now });
  const id = s.deadLetters.addDeadLetter({ app: 'a', reason: 'expired', to: null, time: now + 5, msg: msg('t', '5') });
  assert.deepEqual((await s.deadLetters.deadLetters('a', {}, 0, 10)).map((d) => [d.id, d.msg.payload.toString()]), [[id, '5'], [id - 2, '4']]);
  assert.equal(id, 7, 'ids go on increasing after a reopen');
  now += 5000;
  assert.equal((await s.deadLetters.deadLetters('a', {}, 0, 10)).length, 0, 'too old');
  s.deadLetters.addDeadLetter({ app: 'a', reason: 'expired', to: null, time: now, msg: msg('t', 'new') });
  await s.flush();
  assert.equal(s.stats().tables.dead_letters!.a, 1, 'the old ones were deleted by the insert');
  await s.close();
});

test('sqlite: queue ids are never reused, even after the newest entry was removed and the store reopened', async () => {
  const dir = freshDir();
  let s = await open(dir);
  const a = s.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'a'));
  const b = s.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'b'));
  s.queues.remove('app', b);
  await s.close();
  s = await open(dir);
  const c = s.queues.append('app', '$queue/q', 'q', msg('$queue/q', 'c'));
  assert.ok(c > b && b > a);
  assert.deepEqual((await collect(s.queues.queues('app')))[0]!.messages.map((m) => m.id), [a, c]);
  await s.close();
});

test('sqlite: reads are paged (sessions, retained, queues, queue pages) and writes between pages are safe', async () => {
  const dir = freshDir();
  let s = await open(dir);
  for (let i = 0; i < 600; i++) s.sessions.putSession('app', `c${String(i).padStart(4, '0')}`, meta);
  for (let i = 0; i < 1200; i++) s.retained.putRetained('app', msg(`r/${i}`, 'x', { retain: true }));
  for (let i = 0; i < 2500; i++) s.queues.append('app', `q/${i % 3}`, `q${i % 3}`, msg(`q/${i % 3}`, String(i)));
  for (let i = 0; i < 30; i++) s.sessions.enqueue('app', 'c0000', { msg: msg('t', String(i)), qos: 1, retain: false, subscriptionIds: null, group: null });
  await s.close();
  s = await open(dir);
  const ids: string[] = [];
  for await (const r of s.sessions.sessions('app')) {
    ids.push(r.clientId);
    if (ids.length === 300) {
      s.sessions.deleteSession('app', 'c0000'); // already read
      s.sessions.deleteSession('app', 'c0599'); // not read yet: not seen
      s.sessions.putSession('other', 'x', meta);
    }
  }
  assert.equal(ids.length, 599);
  assert.equal(new Set(ids).size, 599);
  assert.equal((await collect(s.retained.retained('app'))).length, 1200);
  const queues = await collect(s.queues.queues('app'));
  assert.deepEqual(queues.map((q) => [q.name, q.messages.length]).sort(), [['q0', 834], ['q1', 833], ['q2', 833]]);
  for (const q of queues) assert.ok(q.messages.every((m, i) => i === 0 || m.id > q.messages[i - 1]!.id));
  s.sessions.putSession('app', 'p', meta);
  for (let i = 0; i < 30; i++) s.sessions.enqueue('app', 'p', { msg: msg('t', String(i)), qos: 1, retain: false, subscriptionIds: null, group: null });
  const page = async (offset: number): Promise<string[]> => (await s.sessions.queuePage('app', 'p', offset, 10)).map((d) => d.msg.payload.toString());
  assert.deepEqual(await page(0), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual(await page(10), ['10', '11', '12', '13', '14', '15', '16', '17', '18', '19']);
  s.sessions.dequeue('app', 'p'); // offsets move by one
  assert.deepEqual(await page(20), ['21', '22', '23', '24', '25', '26', '27', '28', '29']);
  assert.deepEqual(await page(5), ['6', '7', '8', '9', '10', '11', '12', '13', '14', '15']);
  await s.close();
});

test('sqlite: what flush() resolved for survives the process being killed (SIGKILL), in sync and none', async () => {
  const index = fileURLToPath(new URL('./index.js', import.meta.url));
  for (const durability of ['sync', 'none'] as const) {
    const dir = freshDir();
    const script = `const { SqliteStores } = await import(${JSON.stringify(index)});
      const s = await SqliteStores.open({ dataDir: ${JSON.stringify(dir)}, durability: '${durability}' });
      s.sessions.putSession('app', 'c', { login: 'c', profile: 'AGENT', protocol: 'mqtt', expiry: 60, disconnectedAt: 0 });
      for (let i = 0; i < 100; i++) s.sessions.enqueue('app', 'c', { msg: { topic: 't', payload: Buffer.from(String(i)), qos: 1, retain: false, meta: null, expiresAt: 0, sender: null }, qos: 1, retain: false, subscriptionIds: null, group: null });
      await s.flush();
      process.stdout.write('flushed\\n');
      s.sessions.enqueue('app', 'c', { msg: { topic: 't', payload: Buffer.from('unflushed'), qos: 1, retain: false, meta: null, expiresAt: 0, sender: null }, qos: 1, retain: false, subscriptionIds: null, group: null });
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        if (b.toString().includes('flushed')) {
          child.kill('SIGKILL'); // the write after the flush may or may not have been committed by then
          resolve();
        }
      });
      child.on('exit', (code) => (code !== null ? reject(new Error(`child exited ${code}`)) : undefined));
    });
    await new Promise((r) => child.once('exit', r));
    const s = await open(dir);
    const q = await s.sessions.queuePage('app', 'c', 0, 1000);
    assert.deepEqual(q.slice(0, 100).map((d) => d.msg.payload.toString()), Array.from({ length: 100 }, (_, i) => String(i)), durability);
    assert.ok(q.length === 100 || (q.length === 101 && q[100]!.msg.payload.toString() === 'unflushed'));
    await s.close();
  }
});

// ---- bad conditions ------------------------------------------------------------------------

test('sqlite: a second open of the same data directory is refused, naming the lock and the holder; the first keeps working', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const err = await rejects(open(dir), /in use by this process \(pid \d+/);
  assert.ok(err instanceof StoreOpenError);
  assert.ok(err.message.includes(join(dir, LOCK_FILE)) && err.message.includes(join(dir, DB_FILE)), err.message);
  // The refused open closed its connection: the first still holds the lock and still writes.
  first.retained.putRetained('app', msg('a', 'kept', { retain: true }));
  await first.flush();
  await rejects(open(dir), /in use by this process/);
  await first.close();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'close() removes the lock file');
  const second = await open(dir);
  assert.equal((await collect(second.retained.retained('app')))[0]?.payload.toString(), 'kept');
  await second.close();
});

test('sqlite: another process holding the data directory is named by pid; once it dies the lock is free (stale lock file)', async () => {
  const dir = freshDir();
  const index = fileURLToPath(new URL('./index.js', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { SqliteStores } = await import(${JSON.stringify(index)}); await SqliteStores.open({ dataDir: ${JSON.stringify(dir)} }); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => (b.toString().includes('ready') ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    await rejects(open(dir), new RegExp(`in use by process ${child.pid}: .*switchboard\\.db is locked \\(lock file .*switchboard\\.lock\\)`));
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(child.pid), 'the dead holder left its lock file');
  const s = await open(dir);
  assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
  await s.close();
});

test('sqlite: a file of garbage named switchboard.db is refused and left as it was', async () => {
  const dir = freshDir();
  await open(dir).then((s) => s.close());
  const file = join(dir, DB_FILE);
  const garbage = Buffer.from('this is not a database\n'.repeat(200));
  writeFileSync(file, garbage);
  const err = await rejects(open(dir), /switchboard\.db is not a SQLite database: refusing to open it/);
  assert.ok(err.message.includes(file));
  assert.deepEqual(readFileSync(file), garbage);
  writeFileSync(file, 'short');
  await rejects(open(dir), /is not a SQLite database/);
  assert.equal(readFileSync(file, 'utf8'), 'short');
});

test("sqlite: another application's SQLite file is refused and left as it was (application_id, or no id and foreign tables)", async () => {
  for (const appId of [42, 0]) {
    const dir = freshDir();
    await open(dir).then((s) => s.close());
    const file = join(dir, DB_FILE);
    rmSync(file);
    const other = new Database(file);
    other.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('x'); PRAGMA application_id = ${appId};`);
    other.close();
    const bytes = readFileSync(file);
    const err = await rejects(open(dir), new RegExp(`switchboard\\.db is a SQLite database of another application \\(application_id 0x${appId.toString(16).padStart(8, '0')}, a Switchboard store has 0x53574244\\)`));
    assert.ok(err.message.includes(file));
    assert.deepEqual(readFileSync(file), bytes);
  }
});

test('sqlite: a store with a newer schema is refused', async () => {
  const dir = freshDir();
  await open(dir).then((s) => s.close());
  const db = new Database(join(dir, DB_FILE));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await rejects(open(dir), new RegExp(`has schema version ${SCHEMA_VERSION + 1}, newer than this Switchboard knows \\(${SCHEMA_VERSION}\\)`));
});

test('sqlite: a data directory that cannot be created or written is refused, naming it', async () => {
  const file = join(root, 'a-regular-file');
  writeFileSync(file, 'x');
  const err = await rejects(open(join(file, 'sub')), /cannot create the data directory .*a-regular-file\/sub: ENOTDIR/);
  assert.ok(err instanceof StoreOpenError);
  await rejects(open(file), /the data directory .*a-regular-file is not a directory/);
  await rejects(SqliteStores.open({ dataDir: freshDir(), create: false }), /no store in .*: the directory does not exist/);
  await rejects(SqliteStores.open({ dataDir: root, create: false }), /no store in .*: .*switchboard\.db does not exist or is empty/);
});

test('sqlite: a read-only data directory is refused, naming it', async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('running as root, whom chmod does not stop: the <file>/sub test above covers an unwritable path for every user');
    return;
  }
  const dir = freshDir();
  await open(dir).then((s) => s.close());
  chmodSync(dir, 0o555);
  try {
    await rejects(open(dir), /the data directory .* is not writable \(EACCES/);
  } finally {
    chmodSync(dir, 0o755);
  }
});

test('sqlite: a commit that fails (database full) rejects flush, keeps the writes pending in order, and a retry stores them all', async () => {
  const dir = freshDir();
  const s = await open(dir, { retryMs: 20 });
  s.sessions.putSession('app', 'c', meta);
  s.sessions.enqueue('app', 'c', { msg: msg('t', 'before'), qos: 1, retain: false, subscriptionIds: null, group: null });
  await s.flush();
  s.setMaxBytes(0); // the cap becomes the current size: the next page fails as on a full disk
  const big = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; i < 3; i++) s.sessions.enqueue('app', 'c', { msg: msg('t', big), qos: 1, retain: false, subscriptionIds: null, group: null });
  const err = await rejects(s.flush(), /cannot commit 3 write\(s\) to .*switchboard\.db: SQLITE_FULL/);
  assert.ok(err instanceof StoreWriteError);
  assert.equal(s.dirty, true);
  assert.equal(s.writeError, err);
  await rejects(s.flush(), /SQLITE_FULL/); // before retryMs: at once, the same error
  s.sessions.dequeue('app', 'c'); // more writes queue behind the failed ones
  assert.equal((await s.sessions.queuePage('app', 'c', 0, 10)).length, 1, 'reads see the committed state');
  s.setMaxBytes(null);
  await new Promise((r) => setTimeout(r, 40));
  await s.flush(); // the retry committed everything, in order
  assert.equal(s.dirty, false);
  assert.equal(s.writeError, null);
  await s.close();
  const again = await open(dir);
  const q = await again.sessions.queuePage('app', 'c', 0, 10);
  assert.deepEqual(q.map((d) => d.msg.payload.length), [big.length, big.length, big.length], 'the dequeue ran after the three enqueues');
  await again.close();
});

test('sqlite: close() with a failing commit rejects (those writes are lost) and still releases the directory', async () => {
  const dir = freshDir();
  const s = await open(dir, { maxBytes: 0 });
  s.retained.putRetained('app', msg('a', Buffer.alloc(64 * 1024, 2), { retain: true }));
  await rejects(s.close(), /SQLITE_FULL/);
  assert.throws(() => s.retained.putRetained('app', msg('b', 'x')), /store .*switchboard\.db is closed/);
  const again = await open(dir);
  assert.equal((await collect(again.retained.retained('app'))).length, 0);
  await again.close();
});
