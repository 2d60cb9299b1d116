/** STOMP frame encoder (STOMP 1.2 "STOMP Frames", "Value Encoding"). */
import type { StompVersion } from './frame.js';

export interface EncodeOptions {
  version: StompVersion;
}

function escape(s: string, version: StompVersion): string {
  if (version === '1.0') return s;
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
 * One frame: command, headers (escaped, except in CONNECTED), a content-length whenever there
 * is a body (bodies may hold NUL bytes), the body, NUL.
 */
export function encodeFrame(command: string, headers: Array<[string, string]>, body?: Buffer, opts: EncodeOptions = { version: '1.2' }): Buffer {
  const raw = command === 'CONNECTED';
  let head = command + '\n';
  for (const [k, v] of headers) {
    head += raw ? `${k}:${v}\n` : `${escape(k, opts.version)}:${escape(v, opts.version)}\n`;
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
