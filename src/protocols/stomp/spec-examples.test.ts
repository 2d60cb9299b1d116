import test from 'node:test';
import assert from 'node:assert/strict';
import { StompParser, StompFrameError } from './parser.js';
import { encodeFrame } from './encoder.js';
import { header } from './frame.js';
import type { StompFrame } from './frame.js';

const limits = { maxHeaderCount: 16, maxHeaderLineBytes: 256, maxBodyBytes: 1024 };

function parse(input: string | Buffer, chunk = Infinity, version?: '1.0' | '1.1' | '1.2'): { frames: StompFrame[]; beats: number } {
  const p = new StompParser(limits);
  if (version) p.setVersion(version);
  const frames: StompFrame[] = [];
  let beats = 0;
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  for (let i = 0; i < buf.length; i += chunk === Infinity ? buf.length : chunk) {
    p.push(buf.subarray(i, Math.min(buf.length, i + (chunk === Infinity ? buf.length : chunk))), (f) => frames.push(f), () => beats++);
  }
  return { frames, beats };
}

test('the specification example SEND frame (STOMP 1.2 "STOMP Frames")', () => {
  const { frames } = parse('SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0');
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.command, 'SEND');
  assert.equal(header(frames[0]!, 'destination'), '/queue/a');
  assert.equal(frames[0]!.body.toString(), 'hello queue a\n');
});

test('split at every byte position and many frames per chunk', () => {
  const two = 'SUBSCRIBE\nid:0\ndestination:/topic/x\nack:client\n\n\0\nSEND\ndestination:/topic/x\n\nbody\0';
  for (let size = 1; size <= two.length; size++) {
    const { frames } = parse(two, size);
    assert.deepEqual(frames.map((f) => f.command), ['SUBSCRIBE', 'SEND'], `chunk ${size}`);
    assert.equal(frames[1]!.body.toString(), 'body');
  }
});

test('EOLs between frames are heart-beats; CR LF accepted everywhere', () => {
  const { frames, beats } = parse('\n\r\n\nSEND\r\ndestination:/topic/a\r\n\r\nx\0\r\n');
  assert.equal(frames.length, 1);
  assert.equal(header(frames[0]!, 'destination'), '/topic/a');
  assert.equal(beats, 4);
});

test('content-length bodies may contain NUL bytes', () => {
  const body = Buffer.from([1, 0, 2, 0, 3]);
  const frame = Buffer.concat([Buffer.from('SEND\ndestination:/topic/b\ncontent-length:5\n\n'), body, Buffer.from([0])]);
  const { frames } = parse(frame, 3);
  assert.deepEqual(frames[0]!.body, body);
  assert.throws(() => parse(Buffer.concat([Buffer.from('SEND\ncontent-length:2\n\n'), Buffer.from('abc\0')])), StompFrameError);
});

test('header escaping: \\r \\n \\c \\\\ decoded in 1.2, not in CONNECT, undefined escapes rejected', () => {
  const { frames } = parse('SEND\ndestination:/topic/c\nx:a\\cb\\nc\\\\d\\re\n\n\0');
  assert.equal(header(frames[0]!, 'x'), 'a:b\nc\\d\re');
  const c = parse('CONNECT\nlogin:a\\cb\n\n\0').frames[0]!;
  assert.equal(header(c, 'login'), 'a\\cb');
  assert.throws(() => parse('SEND\nx:bad\\t\n\n\0'), /invalid header escape/);
  assert.throws(() => parse('SEND\nx:a\\rb\n\n\0', Infinity, '1.1'), /invalid header escape/); // \r is 1.2 only
  assert.equal(header(parse('SEND\nx:a\\cb\n\n\0', Infinity, '1.0').frames[0]!, 'x'), 'a\\cb'); // 1.0: no escaping
});

test('repeated headers: the first wins', () => {
  const f = parse('SEND\nfoo:World\nfoo:Hello\n\n\0').frames[0]!;
  assert.equal(header(f, 'foo'), 'World');
  assert.equal(f.headers.length, 2);
});

test('limits: header count, header line length, body size; unknown command; header without colon', () => {
  const many = 'SEND\n' + Array.from({ length: 20 }, (_, i) => `h${i}:v`).join('\n') + '\n\n\0';
  assert.throws(() => parse(many), /too many headers/);
  assert.throws(() => parse(`SEND\nx:${'a'.repeat(300)}\n\n\0`), /header too long/);
  assert.throws(() => parse(`SEND\ncontent-length:2000\n\n`), /frame too large/);
  assert.throws(() => parse(`SEND\n\n${'b'.repeat(2000)}`), /frame too large/); // detected before the NUL arrives
  assert.throws(() => parse('HELLO\n\n\0'), /unknown command/);
  assert.throws(() => parse('SEND\nnocolon\n\n\0'), /malformed header/);
});

test('errors carry the receipt of the frame when it was already read', () => {
  try {
    parse('SEND\nreceipt:77\nx:bad\\q\n\n\0');
    assert.fail('no error');
  } catch (err) {
    assert.ok(err instanceof StompFrameError);
    assert.equal(err.receipt, '77');
  }
});

test('encoder: escapes (not in CONNECTED), content-length for bodies, round trip through the parser', () => {
  const buf = encodeFrame('MESSAGE', [['destination', '/topic/a'], ['k', 'a:b\nc']], Buffer.from([0, 1, 2]), { version: '1.2' });
  assert.match(buf.toString('latin1'), /k:a\\cb\\nc\n/);
  assert.match(buf.toString('latin1'), /content-length:3\n/);
  const connected = encodeFrame('CONNECTED', [['server', 'a:b']], undefined, { version: '1.2' }).toString();
  assert.equal(connected, 'CONNECTED\nserver:a:b\n\n\0');
  // The parser reads client commands only: check the round trip with SEND.
  const send = encodeFrame('SEND', [['destination', '/topic/a'], ['k', 'a:b\nc']], Buffer.from([0, 1, 2]), { version: '1.2' });
  const f = parse(send).frames[0]!;
  assert.equal(header(f, 'k'), 'a:b\nc');
  assert.deepEqual(f.body, Buffer.from([0, 1, 2]));
});
