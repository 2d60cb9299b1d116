/**
 * Strings decoded once: a broker reads the same short strings (topics, client ids, application
 * names) over and over. A direct-mapped cache keyed by the bytes answers with the string decoded
 * the first time: no call into C++ (Buffer#toString), no new string, and the string's hash is
 * already computed for the Maps it is looked up in (the router's topic cache). A miss costs a
 * hash and a copy of the bytes. Hand-written: no library does this on Buffers.
 */

/** Node's decoders without their argument checks. */
interface RawBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
}

export class Interner {
  private readonly bytes: Buffer;
  /** Byte length + 1 of each slot's string (0: empty). */
  private readonly lens: Uint8Array;
  private readonly strs: string[];
  private readonly mask: number;
  /** The slot of the last `get` (-1: not kept), for callers that keep something beside a string. */
  slot = -1;

  /** `slots`: a power of two; `keep`: the longest string kept, in bytes (at most 254). */
  constructor(
    slots = 512,
    private readonly keep = 48,
  ) {
    this.mask = slots - 1;
    this.bytes = Buffer.alloc(slots * keep);
    this.lens = new Uint8Array(slots);
    this.strs = new Array<string>(slots).fill('');
  }

  /** The string of the UTF-8 bytes `buf[at, at + n)` (valid UTF-8: the caller has checked, or trusts, them). */
  get(buf: Buffer, at: number, n: number): string {
    const slot = this.slotOf(buf, at, n);
    if (slot < 0) return n === 0 ? '' : (buf as RawBuffer).utf8Slice(at, at + n);
    if (this.has(slot, buf, at, n)) return this.strs[slot]!;
    return this.put(slot, buf, at, n, (buf as RawBuffer).utf8Slice(at, at + n));
  }

  /** The slot the bytes hash to (and `slot` set to it); -1 for strings not kept. */
  slotOf(buf: Buffer, at: number, n: number): number {
    if (n > this.keep || n === 0) return (this.slot = -1);
    let h = 0x811c9dc5 ^ n; // FNV-1a
    for (let i = 0; i < n; i++) h = Math.imul(h ^ buf[at + i]!, 0x01000193);
    return (this.slot = (h >>> 7) & this.mask);
  }

  /** The string in `slot` if it has exactly these bytes, else null. */
  lookup(slot: number, buf: Buffer, at: number, n: number): string | null {
    return slot >= 0 && this.has(slot, buf, at, n) ? this.strs[slot]! : null;
  }

  /** Keep `s` (of the bytes `buf[at, at + n)`) in `slot`; returns it. */
  put(slot: number, buf: Buffer, at: number, n: number, s: string): string {
    if (slot < 0) return s;
    const bytes = this.bytes;
    const base = slot * this.keep;
    for (let i = 0; i < n; i++) bytes[base + i] = buf[at + i]!;
    this.lens[slot] = n + 1;
    this.strs[slot] = s;
    return s;
  }

  private has(slot: number, buf: Buffer, at: number, n: number): boolean {
    if (this.lens[slot] !== n + 1) return false;
    const bytes = this.bytes;
    const base = slot * this.keep;
    let i = 0;
    while (i < n && bytes[base + i] === buf[at + i]) i++;
    return i === n;
  }
}
