/**
 * The SQLite store under bad conditions, as a user meets them: a second broker on the same data
 * directory, a corrupt or foreign file, a directory that cannot be written (each: the
 * `switchboard` process exits non-zero naming the path), and a full disk (QoS 1/2 publishes and
 * STOMP SENDs with a receipt are refused with 0x97 / ERROR while QoS 0 and delivery go on; it
 * recovers by itself when space returns).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@stomp/stompjs';
import type { IFrame, IStompSocket } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { MAIN, startCli, testEnv } from '../helpers/cli.js';
import { startBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, publishReason, parkSession } from '../helpers/mqtt.js';
import { SqliteStores } from '../../src/stores/sqlite/index.js';

/** Run `switchboard ARGS` expecting it to fail at start: its exit code and stderr. */
function failedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [MAIN, '--listen', 'mqtt://127.0.0.1:0', ...args], { env: testEnv() });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) proc.kill('SIGKILL'); // it should not have started
    });
    proc.on('close', (code) => resolve({ code, stderr })); // 'close': stderr is complete
  });
}

const SQLITE = ['--set', 'store.type=sqlite'];

test('a second switchboard on the same data directory exits 1 naming the lock; the first keeps serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-lock-'));
  const first = await startCli([...SQLITE, '--data-dir', dir, '--listen', 'mqtt://127.0.0.1:0']);
  try {
    const second = await failedStart([...SQLITE, '--data-dir', dir]);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /switchboard\.lock/);
    assert.match(second.stderr, new RegExp(`in use by process ${first.proc.pid}`));
    const c = await connect(first.url, { protocolVersion: 5 });
    assert.equal(await publishReason(c, 't', 'still here'), 0x10); // v5: accepted, no subscribers
    await end(c);
  } finally {
    first.proc.kill('SIGTERM');
    await first.exit;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt or foreign switchboard.db is refused, named, and left as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-corrupt-'));
  try {
    const file = join(dir, 'switchboard.db');
    const garbage = Buffer.from('this is not a database, and it is not ours to overwrite\n'.repeat(100));
    writeFileSync(file, garbage);
    const r = await failedStart([...SQLITE, '--data-dir', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.deepEqual(readFileSync(file), garbage, 'untouched');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data directory that cannot be created is named at start, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nodir-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const target = join(file, 'data'); // under a regular file: cannot exist, even for root
    const r = await failedStart([...SQLITE, '--data-dir', target]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(target), r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Resolves when `check` holds, re-checked every few ms (the store retries on its own timer). */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a full disk: QoS 1/2 and STOMP SEND with a receipt get 0x97 / ERROR, QoS 0 and delivery go on, and it recovers by itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-full-'));
  const stores = await SqliteStores.open({ dataDir: dir, durability: 'sync', retryMs: 50 });
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'] }, { stores });
  try {
    // An offline persistent session: what is published to it must be stored.
    await parkSession(b.url('mqtt'), 'full-away', 'full/#');
    const live = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'full-live' });
    await live.client.subscribeAsync('full/#', { qos: 1 });
    const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'full-pub' });
    assert.equal(await publishReason(pub, 'full/ok', 'before'), 0);
    assert.equal((await live.inbox.next()).payload.toString(), 'before');

    // The disk fills up: no room for one more page.
    stores.setMaxBytes(1);
    const big = Buffer.alloc(256 * 1024, 1);
    assert.equal(await publishReason(pub, 'full/big', big), 0x97, 'the commit failed: Quota exceeded');
    assert.ok(stores.writeError !== null);
    assert.equal(await publishReason(pub, 'full/q1', 'refused'), 0x97, 'refused while the store cannot write');
    assert.equal(await publishReason(pub, 'full/q2', 'refused', { qos: 2 }), 0x97);
    // QoS 0 and delivery go on (the big one reached the online subscriber before its commit failed).
    pub.publish('full/q0', 'qos0 flows');
    let m = await live.inbox.next();
    if (m.payload.length === big.length) m = await live.inbox.next();
    assert.equal(m.payload.toString(), 'qos0 flows', 'nothing refused was delivered; QoS 0 was');
    // STOMP SEND with a receipt: an ERROR naming the store.
    const stompError = await new Promise<IFrame>((resolve, reject) => {
      const st = new Client({ webSocketFactory: () => new TCPWrapper('127.0.0.1', b.port('stomp')) as unknown as IStompSocket, reconnectDelay: 0, heartbeatIncoming: 0, heartbeatOutgoing: 0, connectHeaders: { login: 'full-stomp' } });
      st.onConnect = () => st.publish({ destination: '/queue/full-jobs', body: 'job', headers: { receipt: 'r1' } });
      st.onStompError = (f) => {
        resolve(f);
        void st.deactivate();
      };
      st.onWebSocketError = reject;
      st.activate();
    });
    assert.match(stompError.headers.message ?? '', /store|quota|full/i);

    // Space returns: the pending commit is retried and publishing is accepted again.
    stores.setMaxBytes(null);
    await eventually(() => stores.writeError === null, 'the store recovers');
    assert.equal(await publishReason(pub, 'full/after', 'after'), 0);
    const back = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'full-away', clean: false, properties: { sessionExpiryInterval: 3600 } });
    const got: string[] = [];
    for (;;) {
      const m = await back.inbox.next();
      got.push(m.payload.length === big.length ? 'big' : m.payload.toString());
      if (m.payload.toString() === 'after') break;
    }
    assert.equal(got[0], 'before');
    assert.ok(!got.includes('refused'), `refused messages were not stored: ${got.join(',')}`);
    await end(pub, live.client, back.client);
  } finally {
    await b.stop();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a really full filesystem (a 4 MiB tmpfs the test mounts): 0x97 while it is full, QoS 0 flows, publishing resumes once space is freed', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'sb-tmpfs-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  if (mounted.status !== 0) {
    rmSync(mnt, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (${String(mounted.stderr).trim() || 'not root'}): the SQLite page cap test above covers SQLITE_FULL`);
    return;
  }
  const dir = join(mnt, 'data');
  const stores = await SqliteStores.open({ dataDir: dir, durability: 'sync', retryMs: 50 });
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0'] }, { stores });
  try {
    await parkSession(b.url('mqtt'), 'fs-away', 'fs/#');
    const live = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'fs-live' });
    await live.client.subscribeAsync('fs/#', { qos: 0 });
    const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'fs-pub' });
    assert.equal(await publishReason(pub, 'fs/a', 'before'), 0);
    // Fill the filesystem to the last byte.
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(fd);
    }
    const big = Buffer.alloc(512 * 1024, 2);
    assert.equal(await publishReason(pub, 'fs/big', big), 0x97, 'the commit failed on a full disk: Quota exceeded');
    assert.equal(await publishReason(pub, 'fs/b', 'refused'), 0x97);
    pub.publish('fs/q0', 'qos0 flows');
    let m = await live.inbox.next();
    while (m.payload.toString() !== 'qos0 flows') m = await live.inbox.next();
    // Space returns.
    rmSync(filler);
    await eventually(() => stores.writeError === null, 'the store recovers');
    assert.equal(await publishReason(pub, 'fs/c', 'after'), 0);
    await end(pub, live.client);
  } finally {
    await b.stop();
    await stores.close().catch(() => undefined);
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
