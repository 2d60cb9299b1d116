/**
 * A small raw-socket MQTT client (3.1.1 and 5) for the durability benches (durable.ts,
 * restart.ts): persistent sessions, QoS 1 both ways, PUBACKs of a read leave in one write.
 * Not a general client: no QoS 2, no keep-alive (0), no topic aliases; a v5 PUBLISH's
 * properties are skipped. The load generator (gen/) has only clean 3.1.1 sessions.
 */
import net from 'node:net';
import { skipProperties, varint } from './wire.js';

export interface ClientOptions {
  port: number;
  host?: string;
  clientId: string;
  /** 3.1.1 clean session / v5 clean start. */
  clean: boolean;
  version?: 4 | 5;
  /** v5: Session Expiry Interval, seconds (0: omitted). */
  sessionExpiry?: number;
  timeoutMs?: number;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

export function connectPacket(o: ClientOptions): Buffer {
  const v = o.version ?? 4;
  const flags = o.clean ? 0x02 : 0x00;
  const head = Buffer.concat([str('MQTT'), Buffer.from([v, flags, 0, 0])]);
  let props = Buffer.alloc(0);
  if (v === 5) {
    const p: number[] = [];
    if (o.sessionExpiry) p.push(0x11, (o.sessionExpiry >>> 24) & 255, (o.sessionExpiry >>> 16) & 255, (o.sessionExpiry >>> 8) & 255, o.sessionExpiry & 255);
    props = Buffer.from([...varint(p.length), ...p]);
  }
  return packet(0x10, Buffer.concat([head, props, str(o.clientId)]));
}

/** A QoS 1 PUBLISH template: patch the packet id at `pidOffset` and the payload from `payloadOffset`. */
export interface PublishTemplate {
  buf: Buffer;
  pidOffset: number;
  payloadOffset: number;
}

export function publishTemplate(topic: string, size: number, version: 4 | 5 = 4): PublishTemplate {
  const t = str(topic);
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0);
  const payload = Buffer.alloc(size, 0x61);
  const body = Buffer.concat([t, Buffer.from([0, 1]), props, payload]);
  const buf = packet(0x32, body);
  const fixed = buf.length - body.length;
  return { buf, pidOffset: fixed + t.length, payloadOffset: fixed + t.length + 2 + props.length };
}

export class MiniMqtt {
  readonly sock: net.Socket;
  readonly version: 4 | 5;
  sessionPresent = false;
  /** performance.now() when the CONNACK was read. */
  connackAt = 0;
  /** A PUBLISH arrived: payload is buf[start, end). QoS 1 ones are acknowledged when autoAck. */
  onPublish: ((buf: Buffer, start: number, end: number, pid: number, qos: number, dup: boolean) => void) | null = null;
  onPuback: ((pid: number) => void) | null = null;
  /** After each socket read has been handled (and its PUBACKs written). */
  onRead: (() => void) | null = null;
  autoAck = true;
  closed = false;
  publishes = 0;
  pubacks = 0;
  private stash: Buffer | null = null;
  private acks: number[] = [];
  private waitConnack: ((rc: number, sp: boolean) => void) | null = null;
  private waitSuback: ((rc: number) => void) | null = null;

  private constructor(sock: net.Socket, version: 4 | 5) {
    this.sock = sock;
    this.version = version;
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }

  /**
   * TCP connect, CONNECT, CONNACK (rejects on a refusal, a close or the timeout). `setup` runs
   * before anything is read: a resumed session's messages may come in the CONNACK's read.
   */
  static connect(o: ClientOptions, setup?: (c: MiniMqtt) => void): Promise<MiniMqtt> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(o.port, o.host ?? '127.0.0.1');
      const c = new MiniMqtt(sock, o.version ?? 4);
      setup?.(c);
      let done = false;
      const fail = (err: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`timeout opening ${o.clientId}`)), o.timeoutMs ?? 30_000);
      sock.once('error', fail);
      sock.once('close', () => fail(new Error(`connection closed while opening ${o.clientId}`)));
      c.waitConnack = (rc, sp) => {
        if (rc !== 0) return fail(new Error(`CONNACK ${rc} for ${o.clientId}`));
        done = true;
        clearTimeout(timer);
        sock.removeListener('error', fail);
        c.sessionPresent = sp;
        resolve(c);
      };
      sock.once('connect', () => sock.write(connectPacket(o)));
    });
  }

  subscribe(filter: string, qos: 0 | 1, pid = 1): Promise<number> {
    const opts = Buffer.from([qos]);
    const props = this.version === 5 ? Buffer.from([0]) : Buffer.alloc(0);
    const body = Buffer.concat([Buffer.from([pid >> 8, pid & 255]), props, str(filter), opts]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no SUBACK for ${filter}`)), 30_000);
      this.waitSuback = (rc) => {
        clearTimeout(t);
        if (rc >= 0x80) reject(new Error(`SUBACK ${rc} for ${filter}`));
        else resolve(rc);
      };
      this.sock.write(packet(0x82, body));
    });
  }

  /** DISCONNECT (normal: a persistent session stays), then waits for the close. */
  disconnect(timeoutMs = 3000): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const t = setTimeout(() => {
        this.sock.destroy();
        resolve();
      }, timeoutMs);
      this.sock.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.sock.end(Buffer.from([0xe0, 0]));
    });
  }

  destroy(): void {
    if (!this.sock.destroyed) this.sock.destroy();
  }

  private onData(d: Buffer): void {
    let buf = d;
    if (this.stash !== null) {
      buf = Buffer.concat([this.stash, d]);
      this.stash = null;
    }
    let pos = 0;
    const end = buf.length;
    while (pos < end) {
      const used = this.one(buf, pos, end);
      if (used < 0) {
        this.stash = Buffer.from(buf.subarray(pos));
        break;
      }
      pos += used;
    }
    if (this.acks.length > 0) {
      const out = Buffer.allocUnsafe(this.acks.length * 4);
      for (let i = 0; i < this.acks.length; i++) {
        const pid = this.acks[i]!;
        out[i * 4] = 0x40;
        out[i * 4 + 1] = 2;
        out[i * 4 + 2] = pid >> 8;
        out[i * 4 + 3] = pid & 255;
      }
      this.acks.length = 0;
      if (!this.sock.destroyed) this.sock.write(out);
    }
    this.onRead?.();
  }

  /** Handles the packet at pos; its length, or -1 when it is not all in. */
  private one(buf: Buffer, pos: number, end: number): number {
    if (pos + 2 > end) return -1;
    const b0 = buf[pos]!;
    let i = pos + 1;
    let len = 0;
    let mul = 1;
    let b = 0;
    do {
      if (i >= end) return -1;
      b = buf[i++]!;
      len += (b & 127) * mul;
      mul *= 128;
    } while (b & 128);
    const total = i - pos + len;
    if (pos + total > end) return -1;
    const type = b0 >> 4;
    const bodyEnd = i + len;
    switch (type) {
      case 3: {
        const qos = (b0 >> 1) & 3;
        let p = i + 2 + buf.readUInt16BE(i);
        let pid = 0;
        if (qos > 0) {
          pid = buf.readUInt16BE(p);
          p += 2;
        }
        if (this.version === 5) p = skipProperties(buf, p);
        this.publishes++;
        this.onPublish?.(buf, p, bodyEnd, pid, qos, (b0 & 8) !== 0);
        if (qos === 1 && this.autoAck) this.acks.push(pid);
        break;
      }
      case 4:
        this.pubacks++;
        this.onPuback?.(buf.readUInt16BE(i));
        break;
      case 2: {
        this.connackAt = performance.now();
        const w = this.waitConnack;
        this.waitConnack = null;
        w?.(buf[i + 1]!, (buf[i]! & 1) === 1);
        break;
      }
      case 9: {
        // v5: packet id, properties (length varint), reason codes
        let p = i + 2;
        if (this.version === 5) p = skipProperties(buf, p);
        const w = this.waitSuback;
        this.waitSuback = null;
        w?.(buf[p]!);
        break;
      }
      default:
        break;
    }
    return total;
  }
}

/**
 * A QoS 1 publisher keeping `window` PUBLISHes without PUBACK; each payload starts with a
 * uint32 LE sequence number from `nextSeq()`; PUBACK latencies are kept while `record` is set.
 */
export class Pipeline {
  running = false;
  sent = 0;
  acked = 0;
  record = false;
  readonly lat: number[] = [];
  private nextPid = 1;
  private readonly sentAt = new Float64Array(65536);
  private readonly len: number;

  constructor(
    readonly conn: MiniMqtt,
    private readonly tmpl: PublishTemplate,
    private readonly window: number,
    private readonly nextSeq: () => number,
    /** Stop after this many (0: no limit). */
    private readonly max = 0,
  ) {
    this.len = tmpl.buf.length;
    conn.onPuback = (pid) => {
      this.acked++;
      if (this.record) this.lat.push(performance.now() - this.sentAt[pid]!);
    };
    conn.onRead = () => this.pump();
    conn.sock.on('drain', () => this.pump());
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  stop(): void {
    this.running = false;
  }

  pump(): void {
    const sock = this.conn.sock;
    if (!this.running || sock.destroyed || sock.writableLength > 256 * 1024) return;
    let n = this.window - (this.sent - this.acked);
    if (this.max > 0) n = Math.min(n, this.max - this.sent);
    if (n <= 0) return;
    const len = this.len;
    const out = Buffer.allocUnsafe(n * len);
    const now = performance.now();
    for (let j = 0; j < n; j++) {
      const off = j * len;
      this.tmpl.buf.copy(out, off);
      const pid = this.nextPid;
      this.nextPid = pid === 65535 ? 1 : pid + 1;
      out[off + this.tmpl.pidOffset] = pid >> 8;
      out[off + this.tmpl.pidOffset + 1] = pid & 255;
      out.writeUInt32LE(this.nextSeq(), off + this.tmpl.payloadOffset);
      this.sentAt[pid] = now;
    }
    this.sent += n;
    sock.write(out);
  }
}

/** Which sequence numbers arrived: unique count and duplicates. */
export class Seen {
  unique = 0;
  dups = 0;
  private bits = new Uint8Array(1 << 16);

  add(seq: number): void {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      bigger.set(this.bits);
      this.bits = bigger;
    }
    const bit = 1 << (seq & 7);
    if (this.bits[byte]! & bit) this.dups++;
    else {
      this.bits[byte] = this.bits[byte]! | bit;
      this.unique++;
    }
  }
}
