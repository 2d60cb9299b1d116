/** A raw TCP MQTT peer for byte-exact tests. */
import net from 'node:net';

export class RawClient {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;
  readonly closedP: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.closedP = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      }),
    );
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(hex: string | Buffer): void {
    this.socket.write(typeof hex === 'string' ? Buffer.from(hex.replace(/\s+/g, ''), 'hex') : hex);
  }

  /** Read exactly n bytes (rejects on close or timeout). */
  async read(n: number, ms = 3000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`closed after ${this.buf.length}/${n} bytes: ${this.buf.toString('hex')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${this.buf.length}/${n} bytes`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Everything received until the server closes (rejects on timeout). */
  async untilClose(ms = 3000): Promise<Buffer> {
    const t = setTimeout(() => this.socket.destroy(new Error('timeout')), ms);
    await this.closedP;
    clearTimeout(t);
    if (!this.closedByServer()) throw new Error('timeout waiting for the server to close');
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  private closedByServer(): boolean {
    return !this.socket.errored;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** CONNECT packets. */
export function connectV5(clientId: string, keepAlive = 60, props = ''): Buffer {
  const id = Buffer.from(clientId);
  const p = Buffer.from(props.replace(/\s+/g, ''), 'hex');
  const body = Buffer.concat([
    Buffer.from('00044d5154540502', 'hex'),
    Buffer.from([keepAlive >> 8, keepAlive & 255, p.length]),
    p,
    Buffer.from([id.length >> 8, id.length & 255]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

export function connectV4(clientId: string, keepAlive = 60): Buffer {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([
    Buffer.from('00044d5154540402', 'hex'),
    Buffer.from([keepAlive >> 8, keepAlive & 255]),
    Buffer.from([id.length >> 8, id.length & 255]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Read a whole packet (fixed header + body). */
export async function readPacket(c: RawClient): Promise<Buffer> {
  const h = await c.read(1);
  let len = 0;
  let mul = 1;
  const lenBytes: number[] = [];
  for (;;) {
    const b = (await c.read(1))[0]!;
    lenBytes.push(b);
    len += (b & 127) * mul;
    mul *= 128;
    if ((b & 128) === 0) break;
  }
  const body = len > 0 ? await c.read(len) : Buffer.alloc(0);
  return Buffer.concat([h, Buffer.from(lenBytes), body]);
}
