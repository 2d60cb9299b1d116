/**
 * STOMP timers over real sockets, with the broker's clock injected (core/clock.ts): the connect
 * timeout and heart-beats both ways (STOMP 1.2 "Heart-beating"), served by the broker's one
 * sweep. Time moves only when a test advances the ManualClock.
 *
 * The broker offers and asks for 1,000 ms heart-beats, so its sweep period is 500 ms
 * (Sweep.periodFor: at most half the shortest).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { ManualClock } from '../../src/core/clock.js';
import type { StompConnection } from '../../src/protocols/stomp/connection.js';

const HEARTBEAT = 1000;
const PERIOD = 500;

interface Frame {
  command: string;
  headers: Record<string, string>;
  body: string;
}

/** A raw STOMP 1.2 peer: frames out as written, frames and heart-beat EOLs in, counted apart. */
class Peer {
  private buf = Buffer.alloc(0);
  readonly frames: Frame[] = [];
  /** EOLs received between frames (heart-beats). */
  eols = 0;
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }
  static open(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Peer(s)));
      s.once('error', reject);
    });
  }
  private parse(): void {
    for (;;) {
      while (this.buf.length > 0 && (this.buf[0] === 0x0a || this.buf[0] === 0x0d)) {
        if (this.buf[0] === 0x0a) this.eols++;
        this.buf = this.buf.subarray(1);
      }
      const nul = this.buf.indexOf(0);
      if (nul < 0) return;
      const text = this.buf.subarray(0, nul).toString();
      this.buf = this.buf.subarray(nul + 1);
      const [head = '', body = ''] = text.split('\n\n');
      const [command = '', ...lines] = head.split('\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0 && headers[l.slice(0, i)] === undefined) headers[l.slice(0, i)] = l.slice(i + 1);
      }
      this.frames.push({ command, headers, body });
    }
  }
  send(command: string, headers: Record<string, string> = {}): void {
    const h = Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join('');
    this.sock.write(`${command}\n${h}\n\0`);
  }
  async frame(ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('closed');
      if (Date.now() > deadline) throw new Error('no frame in time');
      await new Promise((r) => setTimeout(r, 2));
    }
    return this.frames.shift()!;
  }
  async untilClose(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('not closed in time');
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  /** CONNECT (1.2) with a heart-beat header; resolves with CONNECTED. */
  async connect(heartBeat: string, login: string): Promise<Frame> {
    this.send('CONNECT', { 'accept-version': '1.2', host: 'sb', login, 'heart-beat': heartBeat });
    const f = await this.frame();
    assert.equal(f.command, 'CONNECTED');
    return f;
  }
}

/** What the broker wrote after a clock step has reached the peer. */
const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Resolve once `cond()` holds: broker-side state, so that clock steps do not race the sockets. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The broker's side of the connection logged in as `login`. */
function brokerSide(login: string): StompConnection {
  const link = [...b.broker.applications.values()][0]!.router.sessions.get(login)?.link;
  if (!link) throw new Error(`no connection for ${login}`);
  return link as StompConnection;
}

/** Heart-beat EOLs the broker writes to `login`, at their time on the broker's clock. */
function heartbeatsTo(login: string): number[] {
  const conn = brokerSide(login).conn;
  const times: number[] = [];
  const write = conn.write.bind(conn);
  conn.write = (buf: Buffer): void => {
    if (buf.length === 1 && buf[0] === 0x0a) times.push(clock.now());
    write(buf);
  };
  return times;
}

/** Deadlines pending in the broker's sweep: an accepted connection adds its connect timeout. */
const pendingDeadlines = (): number => [...b.broker.applications.values()][0]!.router.sweep.pending;

const clock = new ManualClock();
let b: RunningBroker;
before(async () => {
  b = await startBroker({ listen: ['stomp://127.0.0.1:0'], mqtt: { connectTimeoutMs: 10_000 }, stomp: { heartbeatSendMs: HEARTBEAT, heartbeatReceiveMs: HEARTBEAT } }, { clock });
});
after(() => b.stop());

test('connect timeout: no CONNECT frame within the connect timeout of the accept gets an ERROR and a close', async () => {
  const pending = pendingDeadlines();
  const p = await Peer.open(b.port('stomp'));
  await until(() => pendingDeadlines() === pending + 1); // accepted: its connect timeout runs
  p.sock.write('CONN'); // a frame begun, never finished
  clock.advance(9_999);
  await flush();
  assert.equal(p.closed, false);
  clock.advance(1);
  const f = await p.frame();
  assert.equal(f.command, 'ERROR');
  assert.equal(f.headers.message, 'no CONNECT frame in time');
  await p.untilClose();
});

test('a CONNECT frame stops the connect timeout', async () => {
  const p = await Peer.open(b.port('stomp'));
  await p.connect('0,0', 'prompt');
  clock.advance(60_000);
  await flush();
  assert.equal(p.closed, false);
  p.sock.destroy();
});

test('heart-beat in: a peer silent for more than twice the interval is closed with an ERROR, at most one sweep period late', async () => {
  const p = await Peer.open(b.port('stomp'));
  const connected = await p.connect(`${HEARTBEAT},0`, 'silent');
  assert.equal(connected.headers['heart-beat'], `${HEARTBEAT},${HEARTBEAT}`);
  clock.advance(2 * HEARTBEAT);
  await flush();
  assert.equal(p.closed, false, 'closed before twice the heart-beat interval');
  clock.advance(PERIOD);
  const f = await p.frame();
  assert.equal(f.command, 'ERROR');
  assert.equal(f.headers.message, 'heart-beat timeout');
  await p.untilClose();
});

test('heart-beat in: EOLs from the peer keep it open', async () => {
  const p = await Peer.open(b.port('stomp'));
  await p.connect(`${HEARTBEAT},0`, 'beating');
  const side = brokerSide('beating');
  for (let i = 0; i < 10; i++) {
    clock.advance(1500);
    p.sock.write('\n');
    await until(() => side.lastReceived === clock.now()); // the broker has read it
  }
  assert.equal(p.closed, false);
  assert.equal(p.eols, 0, 'the peer asked for no heart-beats');
  p.sock.destroy();
});

test('heart-beat out: an EOL at least every interval while nothing else is sent, and not more than twice as often', async () => {
  const p = await Peer.open(b.port('stomp'));
  await p.connect(`0,${HEARTBEAT}`, 'listener');
  const start = clock.now(); // CONNECTED went out now
  const sent = heartbeatsTo('listener');
  clock.advance(20 * PERIOD);
  const gaps = [start, ...sent].slice(1).map((t, i) => t - ([start, ...sent][i] as number));
  assert.ok(sent.length >= 10, `${sent.length} heart-beats in ${20 * PERIOD} ms`);
  for (const g of gaps) assert.ok(g <= HEARTBEAT && g >= HEARTBEAT - PERIOD, `gaps ${gaps.join(', ')} ms`);
  assert.ok(clock.now() - sent[sent.length - 1]! <= HEARTBEAT);
  await until(() => p.eols === sent.length); // and on the wire
  assert.equal(p.closed, false);
  p.sock.destroy();
});

test('heart-beat out: frames the broker sends are heart-beats enough (no EOL while MESSAGEs flow)', async () => {
  const p = await Peer.open(b.port('stomp'));
  await p.connect(`0,${HEARTBEAT}`, 'busy');
  p.send('SUBSCRIBE', { id: '1', destination: '/topic/hb/busy', receipt: 'r1' });
  assert.equal((await p.frame()).command, 'RECEIPT');
  const sent = heartbeatsTo('busy');
  for (let i = 0; i < 10; i++) {
    clock.advance(PERIOD);
    b.broker.publish('default', 'hb/busy', `m${i}`);
  }
  assert.deepEqual(sent, []);
  await until(() => p.frames.filter((f) => f.command === 'MESSAGE').length === 10);
  assert.equal(p.eols, 0);
  p.sock.destroy();
});
