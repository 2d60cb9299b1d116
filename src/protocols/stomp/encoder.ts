/** STOMP frame encoder (STOMP 1.2 "STOMP Frames", "Value Encoding"). */
import type { StompVersion } from './frame.js';

export interface EncodeOptions {
  version: StompVersion;
}

/** Characters that need an escape in 1.1 / 1.2 (CR only in 1.2; 1.1 cannot carry it at all). */
const NEEDS_ESCAPE = /[\\\n\r:]/;
/** What a header line cannot carry, by mode (see encodeHeader). */
const RAW_BAD_NAME = /[\0\r\n:]/;
const RAW_BAD_VALUE = /[\0\r\n]/;
const V11_BAD = /[\0\r]/;
const V12_BAD = /\0/;

function escape(s: string, version: StompVersion): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === ':') out += '\\c';
    else if (c === '\r' && version === '1.2') out += '\\r';
    else out += c;
  }
  return out;
}

const NUL = Buffer.from([0]);

/**
 * One header line, or null when the receiver would read it back differently, so it must not be
 * written at all (defence in depth: the protocols refuse such characters on input, see
 * core/headers.ts, but a header must never be able to forge another header or end the block):
 * - every version: an empty name (not a header), a NUL (no escape exists for it);
 * - raw (STOMP 1.0, and CONNECTED frames, which are never escaped): CR or LF anywhere, ':' in
 *   the name (the value may hold ':', the first one separates);
 * - 1.1: CR anywhere (1.1 has no \r escape and a CR before LF is part of the EOL).
 */
function encodeHeader(k: string, v: string, raw: boolean, version: StompVersion): string | null {
  if (k.length === 0) return null;
  if (raw) return RAW_BAD_NAME.test(k) || RAW_BAD_VALUE.test(v) ? null : `${k}:${v}\n`;
  const bad = version === '1.1' ? V11_BAD : V12_BAD;
  if (bad.test(k) || bad.test(v)) return null;
  return `${escape(k, version)}:${escape(v, version)}\n`;
}

/**
 * One frame: command, headers (escaped, except in CONNECTED and in 1.0; headers the receiver
 * could not read back as written are left out, see encodeHeader), a content-length whenever
 * there is a body (bodies may hold NUL bytes), the body, NUL.
 */
export function encodeFrame(command: string, headers: Array<[string, string]>, body?: Buffer, opts: EncodeOptions = { version: '1.2' }): Buffer {
  const raw = command === 'CONNECTED' || opts.version === '1.0';
  let head = command + '\n';
  for (const [k, v] of headers) {
    const line = encodeHeader(k, v, raw, opts.version);
    if (line !== null) head += line;
  }
  if (body !== undefined && body.length > 0) {
    head += `content-length:${body.length}\n\n`;
    const h = Buffer.from(head);
    const out = Buffer.allocUnsafe(h.length + body.length + 1);
    h.copy(out, 0);
    body.copy(out, h.length);
    out[out.length - 1] = 0;
    return out;
  }
  return Buffer.concat([Buffer.from(head + '\n'), NUL]);
}
