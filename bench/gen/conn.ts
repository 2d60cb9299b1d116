/**
 * One generator connection: raw TCP (optionally a hand-rolled WebSocket client on top), packets
 * counted by walking fixed headers (remaining length) without decoding or copying; a packet is
 * handled as soon as its first bytes (header, topic, 15 stamp bytes) are in, the rest skipped.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { connect as connectPacket, hrMs, STAMP_BYTES, subscribe, wsFrame } from './../wire.js';
import type { ClientSpec, Transport } from './protocol.js';

/** State shared by all connections of this generator process. */
export const shared = {
  genId: 0,
  hist: null as Histogram | null,
  /** Latency is recorded for messages sent in [recFrom, recTo). */
  recFrom: Infinity,
  recTo: Infinity,
  now: 0,
  /** Socket reads ('data' events), to see packets per read. */
  reads: 0,
};

/**
 * One read buffer for every socket of this process (onread): each read is handled
 * synchronously and nothing keeps a reference to it, so no 64 KB allocation per read.
 */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

export interface Progress {
  progress(): void;
}

export class Conn {
  recv = 0;
  acked = 0;
  lastAt = 0;
  ackQos1 = false;
  /** Highest sequence number seen per publisher of this generator. */
  seq = new Int32Array(0);
  /** Publishers waiting on what this connection receives. */
  feeds: Progress[] = [];
  /** The publisher writing on this connection (PUBACKs wake it). */
  publisher: Progress | null = null;
  private stash: Buffer | null = null;
  private skip = 0;
  private acks = Buffer.allocUnsafe(4096);
  private nAcks = 0;
  private waitConnack: ((rc: number) => void) | null = null;
  private waitSuback: ((rc: number) => void) | null = null;
  // WebSocket state
  private upgrading: boolean;
  private httpHead = '';
  private wsLeft = 0;
  private wsData = true;
  private wsHdr: Buffer | null = null;
  private onUpgrade: ((err: Error | null) => void) | null = null;

  readonly sock: net.Socket;

  constructor(opts: net.NetConnectOpts, readonly ws: boolean) {
    this.upgrading = ws;
    this.sock = net.connect({
      ...opts,
      onread: {
        buffer: READ_BUF,
        callback: (n: number) => {
          this.onData(READ_BUF, n);
          return true;
        },
      },
    });
  }

  /** Connects, CONNECTs and optionally SUBSCRIBEs; rejects on error or timeout. */
  static open(spec: ClientSpec, transport: Transport, port: number, path: string, timeoutMs: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const conn = new Conn({ host: '127.0.0.1', port, ...(spec.localAddress ? { localAddress: spec.localAddress } : {}) }, transport === 'ws');
      const sock = conn.sock;
      sock.setNoDelay(true);
      let done = false;
      const fail = (err: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`timeout (${timeoutMs} ms) opening ${spec.clientId}`)), timeoutMs);
      sock.once('error', fail);
      sock.once('close', () => fail(new Error(`connection closed while opening ${spec.clientId}`)));
      const ok = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.removeAllListeners('error');
        sock.removeAllListeners('close');
        sock.on('error', () => {});
        resolve(conn);
      };
      const mqtt = (): void => {
        conn.waitConnack = (rc) => {
          if (rc !== 0) return fail(new Error(`CONNACK return code ${rc}`));
          if (spec.filter === undefined) return ok();
          conn.waitSuback = (code) => (code >= 0x80 ? fail(new Error(`SUBACK refused ${spec.filter}`)) : ok());
          conn.send(subscribe(spec.filter, spec.qos));
        };
        conn.send(connectPacket(spec.clientId));
      };
      sock.once('connect', () => {
        if (!conn.ws) return mqtt();
        conn.onUpgrade = (err) => (err ? fail(err) : mqtt());
        const key = randomBytes(16).toString('base64');
        sock.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
        );
      });
    });
  }

  /** Sends one packet (framed on WebSocket). Not for the hot path. */
  send(pkt: Buffer): void {
    this.sock.write(this.ws ? wsFrame(pkt) : pkt);
  }

  close(): void {
    // RST: no TIME_WAIT left on the generator's ephemeral ports.
    if (!this.sock.destroyed) this.sock.resetAndDestroy();
  }

  private onData(buf: Buffer, n: number): void {
    const now = hrMs();
    shared.now = now;
    shared.reads++;
    this.lastAt = now;
    const acked = this.acked;
    if (this.ws) this.deframe(buf, n);
    else this.feed(buf, 0, n);
    if (this.nAcks > 0) this.flushAcks();
    for (let i = 0; i < this.feeds.length; i++) this.feeds[i]!.progress();
    if (this.acked !== acked) this.publisher?.progress();
  }

  /** WebSocket frames from the server (unmasked); data payloads go to feed() in place. */
  private deframe(chunk: Buffer, end: number): void {
    let pos = 0;
    if (this.upgrading) {
      const text = this.httpHead + chunk.toString('latin1', 0, end);
      const at = text.indexOf('\r\n\r\n');
      if (at < 0) {
        this.httpHead = text;
        return;
      }
      this.upgrading = false;
      const ok = /^HTTP\/1\.1 101/.test(text);
      this.onUpgrade?.(ok ? null : new Error(`WebSocket upgrade refused: ${text.split('\r\n')[0] ?? ''}`));
      this.onUpgrade = null;
      if (!ok) return;
      pos = at + 4 - this.httpHead.length;
      this.httpHead = '';
    }
    while (pos < end) {
      if (this.wsLeft > 0) {
        const n = Math.min(this.wsLeft, end - pos);
        if (this.wsData) this.feed(chunk, pos, pos + n);
        this.wsLeft -= n;
        pos += n;
        continue;
      }
      let b = chunk;
      let p = pos;
      let have = end - pos;
      const held = this.wsHdr?.length ?? 0;
      if (this.wsHdr !== null) {
        b = Buffer.concat([this.wsHdr, chunk.subarray(pos, Math.min(end, pos + 14))]);
        p = 0;
        have = b.length;
      }
      if (have < 2) {
        this.wsHdr = Buffer.from(b.subarray(p, p + have));
        return;
      }
      const len7 = b[p + 1]! & 127;
      const hlen = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b[p + 1]! & 128 ? 4 : 0);
      if (have < hlen) {
        this.wsHdr = Buffer.from(b.subarray(p, p + have));
        return;
      }
      const len = len7 === 126 ? b.readUInt16BE(p + 2) : len7 === 127 ? b.readUInt32BE(p + 2) * 2 ** 32 + b.readUInt32BE(p + 6) : len7;
      const opcode = b[p]! & 15;
      this.wsData = opcode < 8;
      if (opcode === 9) this.sock.write(Buffer.from([0x8a, 0x80, 0, 0, 0, 0])); // PONG (ignores ping payload)
      this.wsLeft = len;
      this.wsHdr = null;
      pos += hlen - held;
    }
  }

  /** Walks MQTT packets in buf[start, end); keeps what a split packet needs. */
  private feed(buf: Buffer, start: number, end: number): void {
    let pos = start;
    if (this.skip > 0) {
      const k = Math.min(this.skip, end - pos);
      this.skip -= k;
      pos += k;
      if (pos >= end) return;
    }
    if (this.stash !== null) {
      const take = Math.min(end - pos, 4096);
      const tmp = Buffer.concat([this.stash, buf.subarray(pos, pos + take)]);
      const r = this.one(tmp, 0, tmp.length);
      if (r < 0) {
        this.stash = take < end - pos ? Buffer.concat([this.stash, buf.subarray(pos, end)]) : tmp;
        return;
      }
      const used = r - this.stash.length;
      this.stash = null;
      if (pos + used >= end) {
        this.skip = pos + used - end;
        return;
      }
      pos += used;
    }
    while (pos < end) {
      const r = this.one(buf, pos, end);
      if (r < 0) {
        this.stash = Buffer.from(buf.subarray(pos, end));
        return;
      }
      pos += r;
    }
    if (pos > end) this.skip = pos - end;
  }

  /**
   * Handles the packet starting at `pos`; returns its total length, or -1 when the bytes it
   * needs are not all before `end` (nothing is changed then).
   */
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
    const type = b0 >> 4;
    if (type === 3) {
      if (i + 2 > end) return -1;
      let p = i + 2 + ((buf[i]! << 8) | buf[i + 1]!);
      const qos = (b0 >> 1) & 3;
      let pid = 0;
      if (qos > 0) {
        if (p + 2 > end) return -1;
        pid = (buf[p]! << 8) | buf[p + 1]!;
        p += 2;
      }
      if (pos + total - p >= STAMP_BYTES) {
        if (p + STAMP_BYTES > end) return -1;
        if (buf[p + 14] === shared.genId) {
          const pub = buf[p + 12]! | (buf[p + 13]! << 8);
          const seq = buf[p + 8]! | (buf[p + 9]! << 8) | (buf[p + 10]! << 16) | (buf[p + 11]! << 24);
          if (pub < this.seq.length && seq > this.seq[pub]!) this.seq[pub] = seq;
        }
        const h = shared.hist;
        if (h !== null) {
          const sent = buf.readDoubleLE(p);
          if (sent >= shared.recFrom && sent < shared.recTo) h.recordValue(Math.max(1, Math.round((shared.now - sent) * 1000)));
        }
      }
      if (qos > 0 && this.ackQos1) this.queueAck(pid);
      this.recv++;
      return total;
    }
    if (type === 4) {
      this.acked++;
      return total;
    }
    if (type === 2) {
      if (i + 2 > end) return -1;
      const w = this.waitConnack;
      this.waitConnack = null;
      w?.(buf[i + 1]!);
      return total;
    }
    if (type === 9) {
      if (i + 3 > end) return -1;
      const w = this.waitSuback;
      this.waitSuback = null;
      w?.(buf[i + 2]!);
      return total;
    }
    return total;
  }

  private queueAck(pid: number): void {
    if ((this.nAcks + 1) * 4 > this.acks.length) {
      const bigger = Buffer.allocUnsafe(this.acks.length * 2);
      this.acks.copy(bigger, 0, 0, this.nAcks * 4);
      this.acks = bigger;
    }
    const o = this.nAcks * 4;
    this.acks[o] = 0x40;
    this.acks[o + 1] = 2;
    this.acks[o + 2] = pid >> 8;
    this.acks[o + 3] = pid & 255;
    this.nAcks++;
  }

  /** All PUBACKs of a received chunk leave in one write (one WebSocket message). */
  private flushAcks(): void {
    const out = Buffer.from(this.acks.subarray(0, this.nAcks * 4));
    this.nAcks = 0;
    this.sock.write(this.ws ? wsFrame(out) : out);
  }
}
