/**
 * The load generator: raw MQTT 3.1.1 over TCP (or WebSocket) sockets, pre-encoded packets sent
 * in batches, deliveries counted by walking fixed headers, send timestamps in the payload for
 * latency (HDR histogram). Runs in the bench process, pinned to core 0.
 */
import net from 'node:net';
import { build } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import WebSocket from 'ws';
import { connect as connectPacket, DISCONNECT, publish, puback, subscribe, Walker } from './wire.js';

export interface Transport {
  write(b: Buffer): void;
  /** Bytes queued in the socket and not yet sent. */
  pending(): number;
  onData(f: (b: Buffer) => void): void;
  onDrain(f: () => void): void;
  close(): void;
}

function tcp(port: number, localAddress?: string): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}), noDelay: true });
    s.once('error', reject);
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', () => {});
      resolve({
        write: (b) => void s.write(b),
        pending: () => s.writableLength,
        onData: (f) => void s.on('data', f),
        onDrain: (f) => void s.on('drain', f),
        close: () => s.destroy(),
      });
    });
  });
}

function ws(port: number): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const w = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, ['mqtt'], { perMessageDeflate: false });
    w.binaryType = 'nodebuffer';
    w.once('error', reject);
    w.once('open', () => {
      w.on('error', () => {});
      const drains: Array<() => void> = [];
      resolve({
        write: (b) => w.send(b),
        pending: () => w.bufferedAmount,
        onData: (f) => void w.on('message', (d: Buffer) => f(d)),
        onDrain: (f) => void drains.push(f),
        close: () => w.terminate(),
      });
      // ws has no 'drain' event: poll the buffer while someone waits.
      setInterval(() => {
        if (w.bufferedAmount === 0) for (const f of drains) f();
      }, 1).unref();
    });
  });
}

export type Kind = 'tcp' | 'ws';

/** One MQTT client of the generator. */
export class Client {
  received = 0;
  acked = 0;
  /** performance.now() of the last received bytes. */
  lastAt = 0;
  private connacked: (() => void) | null = null;
  private subacked: (() => void) | null = null;
  latency: Histogram | null = null;
  /** Send PUBACK for every QoS 1 PUBLISH received. */
  ackQos1 = false;
  onPuback: (() => void) | null = null;
  private acks: Buffer[] = [];

  private constructor(readonly t: Transport) {
    const walker = new Walker((first, buf, start, end) => {
      const type = first >> 4;
      if (type === 3) {
        this.received++;
        const qos = (first >> 1) & 3;
        const topicLen = (buf[start]! << 8) | buf[start + 1]!;
        let p = start + 2 + topicLen;
        if (qos > 0) {
          const id = (buf[p]! << 8) | buf[p + 1]!;
          p += 2;
          if (this.ackQos1) this.acks.push(puback(id)); // written once per received chunk
        }
        if (this.latency !== null && end - p >= 8) {
          const sent = buf.readDoubleLE(p);
          if (sent > 0) this.latency.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000))); // microseconds
        }
      } else if (type === 4) {
        this.acked++;
        this.onPuback?.();
      } else if (type === 2) this.connacked?.();
      else if (type === 9) this.subacked?.();
    });
    t.onData((b) => {
      this.lastAt = performance.now();
      walker.push(b);
      if (this.acks.length > 0) {
        this.t.write(this.acks.length === 1 ? this.acks[0]! : Buffer.concat(this.acks));
        this.acks = [];
      }
    });
  }

  static async open(kind: Kind, port: number, id: string, localAddress?: string): Promise<Client> {
    const t = kind === 'ws' ? await ws(port) : await tcp(port, localAddress);
    const c = new Client(t);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK for ${id}`)), 30_000);
      c.connacked = () => {
        clearTimeout(timer);
        resolve();
      };
      t.write(connectPacket(id));
    });
    return c;
  }

  subscribe(filter: string, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SUBACK for ${filter}`)), 30_000);
      this.subacked = () => {
        clearTimeout(timer);
        resolve();
      };
      this.t.write(subscribe(filter, qos));
    });
  }

  close(): void {
    try {
      this.t.write(DISCONNECT);
    } finally {
      this.t.close();
    }
  }
}

export function histogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** A payload of `size` bytes whose first 8 bytes will hold the send time. */
export function payload(size: number): Buffer {
  return Buffer.alloc(Math.max(size, 8), 0x61);
}

/**
 * Publish as fast as the connection takes it for `ms`: batches of pre-encoded packets, at most
 * `maxPending` bytes unflushed in the socket (so the publisher measures the broker, not its own
 * buffers). QoS 1 keeps at most `window` unacknowledged.
 */
export async function blast(
  pub: Client,
  topic: string,
  size: number,
  qos: 0 | 1,
  ms: number,
  opts: { window?: number; stamp?: boolean; outstanding?: (sent: number) => number; maxOutstanding?: number } = {},
): Promise<number> {
  const batch = 64;
  const p = publish(topic, payload(size), qos);
  const one = p.buf;
  const batchBuf = Buffer.alloc(one.length * batch);
  for (let i = 0; i < batch; i++) one.copy(batchBuf, i * one.length);
  let sent = 0;
  let nextId = 1;
  const window = opts.window ?? 64;
  const maxPending = 256 * 1024;
  const end = Date.now() + ms;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (Date.now() < end) {
        if (qos === 0) {
          if (pub.t.pending() > maxPending) return; // wait for drain
          // Closed loop: never more than maxOutstanding messages published but not yet
          // delivered, so the run measures what the broker sustains without dropping.
          if (opts.outstanding && opts.outstanding(sent) > (opts.maxOutstanding ?? 10_000)) return;
          if (opts.stamp) {
            const now = performance.now();
            for (let i = 0; i < batch; i++) batchBuf.writeDoubleLE(now, i * one.length + p.payloadOffset);
          }
          pub.t.write(Buffer.from(batchBuf));
          sent += batch;
        } else {
          if (sent - pub.acked >= window) return; // wait for PUBACKs
          const n = Math.min(batch, window - (sent - pub.acked));
          const out = Buffer.allocUnsafe(one.length * n);
          for (let i = 0; i < n; i++) {
            one.copy(out, i * one.length);
            out.writeUInt16BE(nextId, i * one.length + p.pidOffset);
            nextId = nextId === 65535 ? 1 : nextId + 1;
          }
          pub.t.write(out);
          sent += n;
        }
      }
      pub.onPuback = null;
      resolve(sent);
    };
    pub.t.onDrain(() => {
      if (Date.now() < end) setImmediate(pump);
    });
    if (qos === 1) {
      let scheduled = false;
      pub.onPuback = () => {
        if (!scheduled && sent - pub.acked < window / 2) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            pump();
          });
        }
      };
    }
    const tick = setInterval(() => {
      if (Date.now() >= end) {
        clearInterval(tick);
        pump();
      } else pump();
    }, 5);
    pump();
  });
}

/** Publish at a fixed rate (messages per second per publisher), timestamps in the payload. */
export async function paced(pubs: Client[], topicOf: (i: number) => string, size: number, ratePerPub: number, ms: number): Promise<number> {
  const packets = pubs.map((_, i) => publish(topicOf(i), payload(size), 0));
  let sent = 0;
  const start = performance.now();
  const end = start + ms;
  let due = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const target = Math.floor(((Math.min(now, end) - start) / 1000) * ratePerPub);
      const n = target - due;
      if (n > 0) {
        due = target;
        for (let k = 0; k < pubs.length; k++) {
          const p = packets[k]!;
          const out = Buffer.allocUnsafe(p.buf.length * n);
          for (let i = 0; i < n; i++) {
            p.buf.copy(out, i * p.buf.length);
            out.writeDoubleLE(performance.now(), i * p.buf.length + p.payloadOffset);
          }
          pubs[k]!.t.write(out);
          sent += n;
        }
      }
      if (now >= end) {
        clearInterval(timer);
        resolve(sent);
      }
    }, 1);
  });
}

/** Wait until the received count stops moving (or `expected` is reached). */
export async function drain(count: () => number, expected: number, quietMs = 500, maxMs = 20_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const c = count();
    if (c >= expected) return;
    if (c !== last) {
      last = c;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > quietMs) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
