/**
 * A tiny raw STOMP 1.2 client on a memory connection: frames out (encoded with the repo's
 * encoder), bytes in, parsed here (server frames: CONNECTED, MESSAGE, RECEIPT, ERROR) with
 * content-length bodies and 1.2 header unescaping; EOLs between frames are heart-beats.
 */
import { encodeFrame } from '../../src/protocols/stomp/encoder.js';
import type { MemoryPeer } from '../../src/transports/memory.js';

export interface Frame {
  command: string;
  /** First value of each header (STOMP 1.2: the first one wins). */
  headers: Record<string, string>;
  body: Buffer;
}

const WAIT_TURNS = 50;

function unescape(s: string): string {
  return s.replace(/\\([\\ncr])/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'c' ? ':' : c === 'r' ? '\r' : '\\'));
}

export class StompPeer {
  readonly received: Frame[] = [];
  private buf = Buffer.alloc(0);
  private nextReceipt = 1;

  constructor(readonly peer: MemoryPeer) {
    peer.onData = (chunk) => this.onData(chunk);
  }

  get closed(): MemoryPeer['closed'] {
    return this.peer.closed;
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      let i = 0;
      while (i < this.buf.length && (this.buf[i] === 0x0a || this.buf[i] === 0x0d)) i++;
      this.buf = this.buf.subarray(i);
      const headEnd = this.buf.indexOf('\n\n');
      if (headEnd < 0) return;
      const lines = this.buf.subarray(0, headEnd).toString('utf8').split('\n');
      const command = lines.shift()!;
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const k = unescape(line.slice(0, colon));
        if (!(k in headers)) headers[k] = command === 'CONNECTED' ? line.slice(colon + 1) : unescape(line.slice(colon + 1));
      }
      const start = headEnd + 2;
      const len = headers['content-length'];
      const end = len !== undefined ? start + Number(len) : this.buf.indexOf(0, start);
      if (end < 0 || this.buf.length < end + 1) return;
      this.received.push({ command, headers, body: Buffer.from(this.buf.subarray(start, end)) });
      this.buf = this.buf.subarray(end + 1);
    }
  }

  // ---- out -------------------------------------------------------------------------------

  send(command: string, headers: Record<string, string> = {}, body?: string | Buffer): void {
    const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    this.peer.write(encodeFrame(command, Object.entries(headers), b, { version: '1.2' }));
  }

  receiptId(): string {
    return `r-${this.nextReceipt++}`;
  }

  // ---- in --------------------------------------------------------------------------------

  async next(turns = WAIT_TURNS): Promise<Frame> {
    return this.waitFor(() => 0, turns, 'any frame');
  }

  /** The first queued (or next arriving) frame with `command` matching `pred`; frames before it stay queued. */
  async expect(command: string, pred: (f: Frame) => boolean = () => true, turns = WAIT_TURNS): Promise<Frame> {
    return this.waitFor(() => this.received.findIndex((f) => f.command === command && pred(f)), turns, command);
  }

  message(turns = WAIT_TURNS): Promise<Frame> {
    return this.expect('MESSAGE', () => true, turns);
  }

  async messages(n: number): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.message());
    return out;
  }

  async bodies(n: number): Promise<string[]> {
    return (await this.messages(n)).map((f) => f.body.toString());
  }

  async quiet(turns = 5): Promise<boolean> {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    return this.received.length === 0;
  }

  async whenClosed(turns = WAIT_TURNS): Promise<MemoryPeer['closed']> {
    for (let i = 0; i < turns && this.peer.closed === null; i++) await new Promise((r) => setImmediate(r));
    if (this.peer.closed === null) throw new Error('the connection is still open');
    return this.peer.closed;
  }

  private async waitFor(index: () => number, turns: number, what: string): Promise<Frame> {
    for (let t = 0; ; t++) {
      const i = index();
      if (i >= 0 && i < this.received.length) return this.received.splice(i, 1)[0]!;
      if (t >= turns) throw new Error(`no ${what} within ${turns} turns (queued: [${this.received.map((f) => f.command).join(',')}], closed: ${this.peer.closed})`);
      await new Promise((r) => setImmediate(r));
    }
  }

  // ---- flows -----------------------------------------------------------------------------

  /** CONNECT (1.2, no heart-beats); resolves with CONNECTED or ERROR. */
  async connect(headers: Record<string, string> = {}): Promise<Frame> {
    this.send('CONNECT', { 'accept-version': '1.2', host: 'default', 'heart-beat': '0,0', ...headers });
    return this.waitFor(() => this.received.findIndex((f) => f.command === 'CONNECTED' || f.command === 'ERROR'), WAIT_TURNS, 'CONNECTED');
  }

  /** A frame with a receipt; resolves with the RECEIPT, or throws with the ERROR's message. */
  async withReceipt(command: string, headers: Record<string, string>, body?: string | Buffer): Promise<void> {
    const receipt = this.receiptId();
    this.send(command, { ...headers, receipt }, body);
    const f = await this.waitFor(() => this.received.findIndex((x) => (x.command === 'RECEIPT' && x.headers['receipt-id'] === receipt) || x.command === 'ERROR'), WAIT_TURNS, `RECEIPT ${receipt}`);
    if (f.command === 'ERROR') throw new Error(`STOMP ERROR: ${f.headers.message ?? ''}: ${f.body.toString().trim()}`);
  }

  subscribe(destination: string, id: string, ack: 'auto' | 'client' | 'client-individual' = 'auto', extra: Record<string, string> = {}): Promise<void> {
    return this.withReceipt('SUBSCRIBE', { destination, id, ack, ...extra });
  }

  unsubscribe(id: string): Promise<void> {
    return this.withReceipt('UNSUBSCRIBE', { id });
  }

  publish(destination: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<void> {
    return this.withReceipt('SEND', { destination, ...headers }, body);
  }

  /** ACK / NACK a MESSAGE by its `ack` header (1.2). */
  ack(m: Frame): Promise<void> {
    return this.withReceipt('ACK', { id: m.headers.ack ?? '' });
  }

  nack(m: Frame): Promise<void> {
    return this.withReceipt('NACK', { id: m.headers.ack ?? '' });
  }

  async disconnect(): Promise<void> {
    await this.withReceipt('DISCONNECT', {});
    await this.whenClosed();
  }

  drop(): void {
    this.peer.destroy();
  }
}
