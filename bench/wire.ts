/**
 * Pre-encoded MQTT 3.1.1 packets (and their WebSocket frames) for the load generator.
 * Sent: CONNECT (3.1.1, clean, keep-alive 0), SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK. Read: CONNACK,
 * SUBACK, PUBLISH, PUBACK. No PINGREQ and no DISCONNECT (connections end with a TCP RST).
 */

export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

/** CONNECT, clean session, no keep-alive (idle clients must not be timed out). */
/** Skip a Variable Byte Integer-prefixed block (MQTT 5 properties) at `at`: the position after it. */
export function skipProperties(buf: Buffer, at: number): number {
  let len = 0;
  let mul = 1;
  let c = 0;
  do {
    c = buf[at++]!;
    len += (c & 127) * mul;
    mul *= 128;
  } while (c & 128);
  return at + len;
}

/**
 * SB_BENCH_OPS=1 (brokers.ts): every client logs in as an ADMIN of the bench application, whose
 * webhooks and metrics are on (peers accept any credentials: none of them checks them here).
 */
export const OPS_APP_KEY = 'bench-app-key';
export const OPS_ADMIN_KEY = 'bench-admin-key';
const OPS = process.env.SB_BENCH_OPS === '1';

export function connect(clientId: string): Buffer {
  if (OPS) return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 0]), str(clientId), str(OPS_APP_KEY), str(OPS_ADMIN_KEY)]));
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 2, 0, 0]), str(clientId)]));
}

export function subscribe(filter: string, qos: 0 | 1, id = 1): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 255]), str(filter), Buffer.from([qos])]));
}

/**
 * Bytes of the payload the generator reads back: [0,8) send time (float64 LE, ms of the
 * monotonic clock), [8,12) sequence number (uint32 LE), [12,14) publisher index, [14] generator.
 */
export const STAMP_BYTES = 15;

/** A PUBLISH (optionally inside one WebSocket frame) with offsets for patching. */
export interface Template {
  buf: Buffer;
  /** Offset of the payload's first byte. */
  payloadOffset: number;
  /** Offset of the packet id (QoS 1), else -1. */
  pidOffset: number;
}

export function publish(topic: string, size: number, qos: 0 | 1, ws: boolean): Template {
  const t = str(topic);
  const head = qos > 0 ? Buffer.concat([t, Buffer.from([0, 1])]) : t;
  const payload = Buffer.alloc(Math.max(size, STAMP_BYTES), 0x61);
  payload.fill(0, 0, STAMP_BYTES);
  const pkt = packet(0x30 | (qos << 1), Buffer.concat([head, payload]));
  const fixed = pkt.length - head.length - payload.length;
  const buf = ws ? wsFrame(pkt) : pkt;
  const frame = buf.length - pkt.length;
  return { buf, payloadOffset: frame + fixed + head.length, pidOffset: qos > 0 ? frame + fixed + t.length : -1 };
}

/**
 * A client-to-server binary WebSocket frame. The mask key is zero (legal: the key is not
 * checked, and XOR with zero leaves the bytes as they are), so pre-encoded packets stay
 * patchable in place.
 */
export function wsFrame(payload: Buffer): Buffer {
  const n = payload.length;
  let head: Buffer;
  if (n < 126) head = Buffer.from([0x82, 0x80 | n]);
  else if (n < 65536) head = Buffer.from([0x82, 0x80 | 126, n >> 8, n & 255]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x82;
    head[1] = 0x80 | 127;
    head.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    head.writeUInt32BE(n >>> 0, 6);
  }
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** Monotonic milliseconds, comparable across processes of this machine. */
export function hrMs(): number {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
}
