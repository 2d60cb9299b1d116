/**
 * A publisher: pre-encoded PUBLISH batches patched in place (sequence number, send time, packet
 * id). Flow control keeps the run at what the broker sustains: at most MAX_UNFLUSHED bytes
 * queued in the socket, at most `window` PUBLISHes without PUBACK (QoS 1), and at most `limit`
 * messages that the slowest of its subscribers has not seen yet (sequence numbers, so a message
 * a broker drops does not stall the publisher).
 */
import { hrMs, publish } from '../wire.js';
import type { Template } from '../wire.js';
import { shared } from './conn.js';
import type { Conn, Progress } from './conn.js';
import type { PubSpec } from './protocol.js';

const MAX_UNFLUSHED = 64 * 1024;
/** Bytes per write at most (a batch is never fewer than one packet). */
const BATCH_BYTES = 32 * 1024;

export class Publisher implements Progress {
  sent = 0;
  running = false;
  private readonly tmpl: Template;
  private readonly len: number;
  private readonly k: number;
  private readonly batch: Buffer;
  private nextPid = 1;
  private blocked = false;
  private t0 = 0;
  /** Messages up to here count as seen (set when a broker dropped the last ones in flight). */
  private floor = 0;
  private lastMin = -1;

  constructor(
    readonly index: number,
    readonly spec: PubSpec,
    private readonly conn: Conn,
    readonly subs: Conn[],
  ) {
    this.tmpl = publish(spec.topic, spec.size, spec.qos, conn.ws);
    this.len = this.tmpl.buf.length;
    this.k = Math.max(1, Math.floor(BATCH_BYTES / this.len));
    this.batch = Buffer.allocUnsafe(this.k * this.len);
    for (let j = 0; j < this.k; j++) {
      const off = j * this.len;
      this.tmpl.buf.copy(this.batch, off);
      this.batch.writeUInt16LE(index, off + this.tmpl.payloadOffset + 12);
      this.batch[off + this.tmpl.payloadOffset + 14] = shared.genId;
    }
    conn.publisher = this;
    if (spec.limit > 0) for (const s of subs) s.feeds.push(this);
    conn.sock.on('drain', () => this.pump());
  }

  start(): void {
    this.running = true;
    this.t0 = hrMs();
    if (this.spec.rate === 0) this.pump();
  }

  stop(): void {
    this.running = false;
  }

  /** Called on PUBACKs and on subscribers' progress. */
  progress(): void {
    if (!this.running || this.spec.rate > 0) return;
    if (this.blocked) {
      // Hysteresis: resume once a quarter of the limit (or one batch) is free.
      const free = this.spec.limit - (this.sent - this.minSeen());
      if (free < Math.min(this.k, this.spec.limit >> 2)) return;
      this.blocked = false;
    }
    this.pump();
  }

  private minSeen(): number {
    let m = this.sent;
    for (let i = 0; i < this.subs.length; i++) {
      const v = this.subs[i]!.seq[this.index]!;
      if (v < m) m = v;
    }
    return m > this.floor ? m : this.floor;
  }

  /** Called every second: blocked with no progress since the last call means the rest was dropped. */
  unstall(): void {
    if (!this.blocked || !this.running) return;
    const m = this.minSeen();
    if (m === this.lastMin) {
      this.floor = this.sent;
      this.blocked = false;
      this.pump();
    }
    this.lastMin = m;
  }

  /** As fast as flow control allows. */
  pump(): void {
    if (this.spec.rate > 0) return;
    const sock = this.conn.sock;
    const { qos, window, limit } = this.spec;
    while (this.running && !sock.destroyed) {
      if (sock.writableLength > MAX_UNFLUSHED) return; // 'drain' resumes
      let n = this.k;
      if (qos === 1) {
        const free = window - (this.sent - this.conn.acked);
        if (free <= 0) return; // a PUBACK resumes
        if (free < n) n = free;
      }
      if (limit > 0) {
        const free = limit - (this.sent - this.minSeen());
        if (free <= 0) {
          this.blocked = true; // a subscriber's progress resumes
          return;
        }
        if (free < n) n = free;
      }
      this.write(n, hrMs());
    }
  }

  /** Fixed rate: called from the generator's 1 ms ticker; catches up on late ticks. */
  tick(now: number): void {
    if (!this.running || this.conn.sock.destroyed) return;
    let due = Math.floor(((now - this.t0) * this.spec.rate) / 1000) - this.sent;
    while (due > 0) {
      const n = Math.min(due, this.k);
      this.write(n, now);
      due -= n;
    }
  }

  private write(n: number, now: number): void {
    const len = this.len;
    const out = Buffer.allocUnsafe(n * len);
    this.batch.copy(out, 0, 0, n * len);
    let off = this.tmpl.payloadOffset;
    const pidDelta = this.tmpl.pidOffset - this.tmpl.payloadOffset;
    for (let j = 0; j < n; j++, off += len) {
      const s = ++this.sent;
      out.writeDoubleLE(now, off);
      out[off + 8] = s & 255;
      out[off + 9] = (s >>> 8) & 255;
      out[off + 10] = (s >>> 16) & 255;
      out[off + 11] = s >>> 24;
      if (this.spec.qos === 1) {
        const pid = this.nextPid;
        this.nextPid = pid === 65535 ? 1 : pid + 1;
        out[off + pidDelta] = pid >> 8;
        out[off + pidDelta + 1] = pid & 255;
      }
    }
    this.conn.sock.write(out);
  }
}
