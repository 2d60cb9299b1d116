/** STOMP over raw TCP: errors, receipts, transactions, ack modes and redelivery. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { ManualClock } from '../../src/core/clock.js';

let b: RunningBroker;
/** The broker's clock (core/clock.ts): the heart-beat test moves it instead of sleeping. */
const clock = new ManualClock();
before(async () => {
  b = await startBroker({ listen: ['stomp://127.0.0.1:0'], stomp: { heartbeatReceiveMs: 200 } }, { clock });
});
after(() => b.stop());

interface Frame {
  command: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Minimal frame reader for tests (content-length aware). */
class RawStomp {
  private buf = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.waiter?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    sock.on('error', () => {});
  }
  static open(port: number): Promise<RawStomp> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawStomp(s)));
    });
  }
  private parse(): void {
    for (;;) {
      while (this.buf.length > 0 && (this.buf[0] === 0x0a || this.buf[0] === 0x0d)) this.buf = this.buf.subarray(1);
      const end = this.buf.indexOf('\n\n');
      if (end < 0) return;
      const lines = this.buf.subarray(0, end).toString().split('\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i);
        if (!(k in headers)) headers[k] = l.slice(i + 1);
      }
      const start = end + 2;
      let stop: number;
      if (headers['content-length'] !== undefined) stop = start + Number(headers['content-length']);
      else stop = this.buf.indexOf(0, start);
      if (stop < 0 || this.buf.length < stop + 1) return;
      this.frames.push({ command: lines[0]!, headers, body: this.buf.subarray(start, stop) });
      this.buf = this.buf.subarray(stop + 1);
    }
  }
  send(command: string, headers: Record<string, string> = {}, body: string | Buffer = ''): void {
    const h = Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join('');
    this.sock.write(Buffer.concat([Buffer.from(`${command}\n${h}\n`), Buffer.from(body), Buffer.from([0])]));
  }
  async next(ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timeout');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.frames.shift()!;
  }
  untilClose(): Promise<void> {
    return new Promise((r) => (this.closed ? r() : this.sock.once('close', () => r())));
  }
  async connect(version = '1.2'): Promise<Frame> {
    this.send('CONNECT', { 'accept-version': version, host: 'sb' });
    const f = await this.next();
    assert.equal(f.command, 'CONNECTED');
    return f;
  }
}

const port = (): number => b.port('stomp');

test('CONNECTED carries version, session, server and heart-beat', async () => {
  const c = await RawStomp.open(port());
  c.send('CONNECT', { 'accept-version': '1.0,1.1', host: 'sb', 'heart-beat': '0,0' });
  const f = await c.next();
  assert.equal(f.headers.version, '1.1');
  assert.ok(f.headers.session);
  assert.match(f.headers.server!, /^switchboard\//);
  assert.match(f.headers['heart-beat']!, /^\d+,\d+$/);
  c.sock.destroy();
});

test('unsupported version -> ERROR with the supported versions, then close', async () => {
  const c = await RawStomp.open(port());
  c.send('CONNECT', { 'accept-version': '2.0', host: 'sb' });
  const f = await c.next();
  assert.equal(f.command, 'ERROR');
  assert.equal(f.headers.version, '1.0,1.1,1.2');
  await c.untilClose();
});

test('receipts on any frame and DISCONNECT with receipt', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('SUBSCRIBE', { id: '0', destination: '/topic/r', receipt: 'r1' });
  assert.deepEqual([(await c.next()).command, 'r1'], ['RECEIPT', 'r1']);
  c.send('DISCONNECT', { receipt: 'bye' });
  const f = await c.next();
  assert.equal(f.command, 'RECEIPT');
  assert.equal(f.headers['receipt-id'], 'bye');
  await c.untilClose();
});

test('unknown destination prefix -> ERROR naming it, with receipt-id', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('SEND', { destination: '/exchange/x', receipt: 'e1' }, 'x');
  const f = await c.next();
  assert.equal(f.command, 'ERROR');
  assert.equal(f.headers.message, 'unknown destination');
  assert.equal(f.headers['receipt-id'], 'e1');
  assert.match(f.body.toString(), /\/exchange\/x/);
  await c.untilClose();
});

test('malformed frame (unknown command) -> ERROR and close', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('FROBNICATE');
  assert.equal((await c.next()).command, 'ERROR');
  await c.untilClose();
});

test('header escaping and content-length body with NULs', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('SUBSCRIBE', { id: 's', destination: '/topic/esc', receipt: 'ok' });
  await c.next();
  const body = Buffer.from([0x61, 0, 0x62, 0]);
  // \c and \\ escape ':' and '\'; an escaped line break (\n) is refused on input (test/security/headers.test.ts).
  c.sock.write(Buffer.concat([Buffer.from('SEND\ndestination:/topic/esc\nx-h:a\\cb\\\\c\ncontent-length:4\n\n'), body, Buffer.from([0])]));
  const m = await c.next();
  assert.equal(m.command, 'MESSAGE');
  assert.deepEqual(m.body, body);
  assert.equal(m.headers['x-h'], 'a\\cb\\\\c'); // re-escaped on the way out
  c.sock.destroy();
});

test('transactions: SEND waits for COMMIT; ABORT discards', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('SUBSCRIBE', { id: 's', destination: '/topic/tx', receipt: 'ok' });
  await c.next();
  c.send('BEGIN', { transaction: 't1' });
  c.send('SEND', { destination: '/topic/tx', transaction: 't1' }, 'in-t1');
  c.send('BEGIN', { transaction: 't2' });
  c.send('SEND', { destination: '/topic/tx', transaction: 't2' }, 'in-t2');
  c.send('ABORT', { transaction: 't2' });
  c.send('SEND', { destination: '/topic/tx' }, 'outside');
  c.send('COMMIT', { transaction: 't1' });
  assert.equal((await c.next()).body.toString(), 'outside');
  assert.equal((await c.next()).body.toString(), 'in-t1');
  c.send('SEND', { destination: '/topic/tx', receipt: 'end' }, 'last');
  assert.equal((await c.next()).body.toString(), 'last'); // nothing from t2 came before it
  c.sock.destroy();
});

test('client-individual: NACK redelivers to another consumer; unacked messages return on disconnect', async () => {
  const a = await RawStomp.open(port());
  const c = await RawStomp.open(port());
  await a.connect();
  await c.connect();
  a.send('SUBSCRIBE', { id: 'a', destination: '/queue/work', ack: 'client-individual', receipt: 'ra' });
  await a.next();
  a.send('SEND', { destination: '/queue/work' }, 'job');
  const first = await a.next();
  assert.equal(first.body.toString(), 'job');
  c.send('SUBSCRIBE', { id: 'c', destination: '/queue/work', ack: 'client', receipt: 'rc' });
  await c.next();
  a.send('NACK', { id: first.headers.ack! });
  const second = await c.next();
  assert.equal(second.body.toString(), 'job');
  // c disconnects without ACK: the message returns to the queue and reaches a.
  c.sock.destroy();
  const third = await a.next();
  assert.equal(third.body.toString(), 'job');
  a.send('ACK', { id: third.headers.ack!, receipt: 'done' });
  assert.equal((await a.next()).command, 'RECEIPT');
  a.sock.destroy();
});

test('NACK past the redelivery limit drops the message (counted)', async () => {
  const a = await RawStomp.open(port());
  await a.connect();
  a.send('SUBSCRIBE', { id: 'a', destination: '/queue/poison', ack: 'client-individual', receipt: 'r' });
  await a.next();
  const nackDrops = (): number => b.broker.admin.app('default')!.stats().messages.droppedByReason['nack-limit'];
  const before = nackDrops();
  a.send('SEND', { destination: '/queue/poison' }, 'bad');
  for (let i = 0; i < 5; i++) {
    const m = await a.next();
    assert.equal(m.body.toString(), 'bad');
    a.send('NACK', { id: m.headers.ack!, ...(i === 4 ? { receipt: 'last' } : {}) });
  }
  assert.equal((await a.next()).command, 'RECEIPT');
  assert.equal(nackDrops(), before + 1);
  a.sock.destroy();
});

test('client ack mode is cumulative', async () => {
  const a = await RawStomp.open(port());
  await a.connect();
  a.send('SUBSCRIBE', { id: 'a', destination: '/queue/cumul', ack: 'client', receipt: 'r' });
  await a.next();
  for (let i = 0; i < 3; i++) a.send('SEND', { destination: '/queue/cumul' }, `${i}`);
  const ms = [await a.next(), await a.next(), await a.next()];
  a.send('ACK', { id: ms[2]!.headers.ack!, receipt: 'acked' });
  assert.equal((await a.next()).command, 'RECEIPT');
  // Acking an earlier one now is an error: it was covered by the cumulative ACK.
  a.send('ACK', { id: ms[0]!.headers.ack! });
  const err = await a.next();
  assert.equal(err.command, 'ERROR');
  assert.equal(err.headers.message, 'unknown message id'); // SB_ERR_PACKET_ID_NOT_FOUND
  assert.match(err.body.toString(), /^ACK: no unacknowledged message with id/);
  a.sock.destroy();
});

test('errors name their catalogue text: a second CONNECT, too many transactions', async () => {
  const c = await RawStomp.open(port());
  await c.connect();
  c.send('CONNECT', { 'accept-version': '1.2', host: 'sb', receipt: 'again' });
  const second = await c.next();
  assert.equal(second.command, 'ERROR');
  assert.equal(second.headers.message, 'second CONNECT'); // SB_ERR_SECOND_CONNECT, not the duplicate-login text
  assert.equal(second.headers['receipt-id'], 'again');
  await c.untilClose();

  const t = await RawStomp.open(port());
  await t.connect();
  for (let i = 0; i < 16; i++) t.send('BEGIN', { transaction: `tx-${i}` });
  t.send('BEGIN', { transaction: 'one-too-many' });
  const quota = await t.next();
  assert.equal(quota.headers.message, 'quota exceeded'); // SB_ERR_QUOTA, as for a transaction over its size limit
  assert.match(quota.body.toString(), /at most 16 open transactions/);
  await t.untilClose();
});

test('heart-beat: a silent client is closed with an ERROR', async () => {
  const c = await RawStomp.open(port());
  c.send('CONNECT', { 'accept-version': '1.2', host: 'sb', 'heart-beat': '100,0' });
  assert.equal((await c.next()).command, 'CONNECTED');
  clock.advance(500); // expected every 200 ms: silent for more than twice that, closed at the sweep's next check (100 ms)
  const f = await c.next();
  assert.equal(f.command, 'ERROR');
  assert.equal(f.headers.message, 'heart-beat timeout');
});
