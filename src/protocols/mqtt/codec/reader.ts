/**
 * Bounds-checked cursor over one packet's bytes (internal to the codec).
 *
 * Decoding is synchronous and never re-entered (packets are handed out only once decoded), so
 * the decoder keeps one Reader and re-points it at each packet instead of allocating one.
 * Every read that would pass `end` throws DecodeError 0x81: a field that does not fit in its
 * packet makes the packet malformed (MQTT 5.0 section 1.2, "Malformed Packet").
 */
import { DecodeError } from './packets.js';
import { isValidMqttString } from './utf8.js';

export const MALFORMED = 0x81;
export const PROTOCOL_ERROR = 0x82;
export const PACKET_TOO_LARGE = 0x95;
export const UNSUPPORTED_PROTOCOL_VERSION = 0x84;

export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  /**
   * First Protocol Error (0x82) found in the packet being read. Raised only once the whole
   * packet has parsed, so that a Malformed Packet (0x81) anywhere in it takes precedence.
   */
  deferred: DecodeError | null = null;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.deferred = null;
    return this;
  }

  /** Record a Protocol Error (0x82), raised after the packet has fully parsed. */
  protocolError(message: string, rule?: string): void {
    this.deferred ??= new DecodeError(PROTOCOL_ERROR, message, rule);
  }

  get left(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new DecodeError(MALFORMED, `truncated ${what}`);
  }

  byte(what: string): number {
    if (this.pos >= this.end) throw new DecodeError(MALFORMED, `truncated ${what}`);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    const p = this.pos;
    if (this.end - p < 2) throw new DecodeError(MALFORMED, `truncated ${what}`);
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  u32(what: string): number {
    const p = this.pos;
    if (this.end - p < 4) throw new DecodeError(MALFORMED, `truncated ${what}`);
    this.pos = p + 4;
    const b = this.buf;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** Variable Byte Integer: at most 4 bytes [MQTT-1.5.5-1], minimal encoding (MQTT 5.0 section 1.5.5). */
  varint(what: string): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new DecodeError(MALFORMED, `non-minimal variable byte integer in ${what}`, 'MQTT-1.5.5-1');
        return value;
      }
      mul *= 128;
    }
    throw new DecodeError(MALFORMED, `variable byte integer longer than 4 bytes in ${what}`, 'MQTT-1.5.5-1');
  }

  /** Binary Data: two-byte length then bytes (MQTT 5.0 section 1.5.6). A slice: callers copy what they keep. */
  bin(what: string): Buffer {
    const n = this.u16(what);
    const p = this.pos;
    if (this.end - p < n) throw new DecodeError(MALFORMED, `truncated ${what}`);
    this.pos = p + n;
    return this.buf.subarray(p, p + n);
  }

  /** UTF-8 Encoded String (MQTT 5.0 section 1.5.4): well-formed, no surrogates, no U+0000 [MQTT-1.5.4-1, MQTT-1.5.4-2]. */
  str(what: string): string {
    const n = this.u16(what);
    const p = this.pos;
    if (this.end - p < n) throw new DecodeError(MALFORMED, `truncated ${what}`);
    this.pos = p + n;
    if (n === 0) return '';
    if (!isValidMqttString(this.buf, p, p + n)) throw new DecodeError(MALFORMED, `invalid UTF-8 in ${what}`, 'MQTT-1.5.4-1');
    return this.buf.toString('utf8', p, p + n);
  }
}
