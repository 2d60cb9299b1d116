/**
 * Pre-encoded MQTT 3.1.1 packets for the load generator, and a receive-side walker that counts
 * packets by their fixed headers without decoding them (so the generator is cheap per message).
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

export function connect(clientId: string, keepAlive = 0, clean = true): Buffer {
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, clean ? 2 : 0, keepAlive >> 8, keepAlive & 255]), str(clientId)]));
}

export function subscribe(filter: string, qos: 0 | 1, id = 1): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 255]), str(filter), Buffer.from([qos])]));
}

/** A PUBLISH; for QoS 1 the packet id sits at `pidOffset` for patching. */
export function publish(topic: string, payload: Buffer, qos: 0 | 1, id = 1): { buf: Buffer; pidOffset: number; payloadOffset: number } {
  const t = str(topic);
  const head = qos > 0 ? Buffer.concat([t, Buffer.from([id >> 8, id & 255])]) : t;
  const buf = packet(0x30 | (qos << 1), Buffer.concat([head, payload]));
  const hdr = buf.length - head.length - payload.length;
  return { buf, pidOffset: hdr + t.length, payloadOffset: hdr + head.length };
}

export function puback(id: number): Buffer {
  return Buffer.from([0x40, 2, id >> 8, id & 255]);
}

export const DISCONNECT = Buffer.from([0xe0, 0]);

/**
 * Walks a byte stream of MQTT packets. Calls `onPacket(type, buf, start, end)` per whole packet
 * (start = first byte of the variable header) without copying; keeps partial packets.
 */
export class Walker {
  private rest: Buffer | null = null;
  constructor(private readonly onPacket: (first: number, buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let pos = 0;
    const n = buf.length;
    while (pos + 2 <= n) {
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let b = 0;
      do {
        if (i >= n) {
          this.rest = buf.subarray(pos);
          return;
        }
        b = buf[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      if (i + len > n) break;
      this.onPacket(buf[pos]!, buf, i, i + len);
      pos = i + len;
    }
    if (pos < n) this.rest = buf.subarray(pos);
  }
}
