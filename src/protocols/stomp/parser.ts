/**
 * Incremental STOMP frame parser (STOMP 1.0 / 1.1 / 1.2). Bytes in, frames out.
 *
 *   COMMAND EOL (header EOL)* EOL body NUL (EOL)*        EOL = LF or CR LF
 *
 * - EOLs between frames are heart-beats (STOMP 1.2 "Heart-beating").
 * - With `content-length` the body is exactly that many bytes (NULs allowed) followed by NUL;
 *   without it, the body ends at the first NUL (STOMP 1.2 "Body").
 * - Header values are unescaped (\r \n \c \\) except in CONNECT / STOMP frames and in 1.0;
 *   an undefined escape is a fatal error (STOMP 1.2 "Value Encoding").
 * - Limits on header count, header line length and body size are enforced as bytes arrive,
 *   so a peer cannot make the broker buffer more than about one frame's worth.
 * Hand-written: no maintained npm library parses STOMP incrementally with these limits.
 */
import { StompFrameError } from './frame.js';
import type { StompFrame, StompVersion } from './frame.js';

export { StompFrameError };

export interface StompParserLimits {
  maxHeaderCount: number;
  maxHeaderLineBytes: number;
  maxBodyBytes: number;
}

const CLIENT_COMMANDS = new Set(['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT']);
const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

interface Pending {
  command: string;
  headers: Array<[string, string]>;
  /** Offset in `buf` where the body starts. */
  bodyStart: number;
  contentLength: number | null;
  receipt: string | undefined;
}

export class StompParser {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  /** Where the NUL search continues for a body without content-length. */
  private scan = 0;
  private version: StompVersion = '1.2';

  constructor(private readonly limits: StompParserLimits) {}

  setVersion(v: StompVersion): void {
    this.version = v;
  }

  push(chunk: Buffer, onFrame: (f: StompFrame) => void, onHeartbeat?: () => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.pending === null) {
        // Skip heart-beats / EOLs between frames.
        let i = 0;
        while (i < this.buf.length) {
          const b = this.buf[i]!;
          if (b === LF) {
            onHeartbeat?.();
            i++;
          } else if (b === CR && i + 1 < this.buf.length && this.buf[i + 1] === LF) {
            onHeartbeat?.();
            i += 2;
          } else if (b === CR && i + 1 === this.buf.length) break;
          else break;
        }
        if (i > 0) this.buf = this.buf.subarray(i);
        if (this.buf.length === 0 || (this.buf.length === 1 && this.buf[0] === CR)) return;
        if (!this.readHeaders()) return;
      }
      const frame = this.readBody();
      if (frame === null) return;
      onFrame(frame);
    }
  }

  /** Parse command + headers if all present; false = need more bytes. */
  private readHeaders(): boolean {
    const buf = this.buf;
    const lim = this.limits;
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) {
        if (buf.length - pos > lim.maxHeaderLineBytes) throw new StompFrameError('SB_ERR_HEADER_TOO_LONG', `a header line is longer than ${lim.maxHeaderLineBytes} bytes`);
        return false;
      }
      let end = nl;
      if (end > pos && buf[end - 1] === CR) end--;
      if (end - pos > lim.maxHeaderLineBytes) throw new StompFrameError('SB_ERR_HEADER_TOO_LONG', `a header line is longer than ${lim.maxHeaderLineBytes} bytes`);
      const line = buf.toString('utf8', pos, end);
      pos = nl + 1;
      if (line.length === 0) break; // blank line: end of headers
      lines.push(line);
      if (lines.length > lim.maxHeaderCount + 1) throw new StompFrameError('SB_ERR_TOO_MANY_HEADERS', `a frame may carry at most ${lim.maxHeaderCount} headers`);
    }
    const command = lines[0] ?? '';
    if (!CLIENT_COMMANDS.has(command)) throw new StompFrameError('SB_ERR_UNKNOWN_COMMAND', `"${command.slice(0, 64)}" is not a STOMP client command`);
    const raw = command === 'CONNECT' || command === 'STOMP' || this.version === '1.0';
    const headers: Array<[string, string]> = [];
    let contentLength: number | null = null;
    let receipt: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new StompFrameError('SB_ERR_MALFORMED_HEADER', `header line "${line.slice(0, 64)}" has no name:value form`, receipt);
      const name = raw ? line.slice(0, colon) : unescape(line.slice(0, colon), this.version, receipt);
      const value = raw ? line.slice(colon + 1) : unescape(line.slice(colon + 1), this.version, receipt);
      headers.push([name, value]);
      // Repeated headers: only the first occurrence counts (STOMP 1.2 "Repeated Header Entries").
      if (name === 'receipt' && receipt === undefined) receipt = value;
      if (name === 'content-length' && contentLength === null) {
        if (!/^\d+$/.test(value)) throw new StompFrameError('SB_ERR_CONTENT_LENGTH', `content-length "${value}" is not a number`, receipt);
        contentLength = Number(value);
        if (contentLength > lim.maxBodyBytes) throw new StompFrameError('SB_ERR_TOO_LARGE', `the body exceeds ${lim.maxBodyBytes} bytes`, receipt);
      }
    }
    this.pending = { command, headers, bodyStart: pos, contentLength, receipt };
    this.scan = pos;
    return true;
  }

  private readBody(): StompFrame | null {
    const p = this.pending!;
    const buf = this.buf;
    let end: number;
    if (p.contentLength !== null) {
      end = p.bodyStart + p.contentLength;
      if (buf.length < end + 1) return null;
      if (buf[end] !== NUL) throw new StompFrameError('SB_ERR_MALFORMED', 'the body is not followed by a NUL byte where content-length says it ends', p.receipt);
    } else {
      end = buf.indexOf(NUL, this.scan);
      if (end < 0) {
        if (buf.length - p.bodyStart > this.limits.maxBodyBytes) throw new StompFrameError('SB_ERR_TOO_LARGE', `the body exceeds ${this.limits.maxBodyBytes} bytes`, p.receipt);
        this.scan = buf.length;
        return null;
      }
      if (end - p.bodyStart > this.limits.maxBodyBytes) throw new StompFrameError('SB_ERR_TOO_LARGE', `the body exceeds ${this.limits.maxBodyBytes} bytes`, p.receipt);
    }
    // Copy the body out so the (possibly large) receive buffer is not kept alive by it.
    const body = Buffer.from(buf.subarray(p.bodyStart, end));
    this.buf = buf.subarray(end + 1);
    this.pending = null;
    return { command: p.command, headers: p.headers, body };
  }
}

/** Undo header escaping (STOMP 1.2 "Value Encoding"; 1.1 has no \r). */
function unescape(s: string, version: StompVersion, receipt: string | undefined): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    if (n === 'n') out += '\n';
    else if (n === 'c') out += ':';
    else if (n === '\\') out += '\\';
    else if (n === 'r' && version === '1.2') out += '\r';
    else throw new StompFrameError('SB_ERR_HEADER_ESCAPE', `undefined escape sequence "\\${n ?? ''}" in a header`, receipt);
  }
  return out;
}
