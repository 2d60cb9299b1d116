import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryPair } from './memory.js';
import type { ConnectionHandler } from './connection.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const tick = (): Promise<void> => new Promise((r) => process.nextTick(r));

function recorder(): ConnectionHandler & { data: string[]; closes: boolean[] } {
  const h = {
    data: [] as string[],
    closes: [] as boolean[],
    onData(chunk: Buffer) {
      h.data.push(chunk.toString());
    },
    onClose(hadError: boolean) {
      h.closes.push(hadError);
    },
  };
  return h;
}

test('writes in one turn reach the peer as one chunk, in order (coalesced as for sockets)', async () => {
  const { conn, peer } = memoryPair();
  const got: string[] = [];
  peer.onData = (c) => got.push(c.toString());
  conn.write(Buffer.from('a'));
  conn.write(Buffer.from('b'));
  conn.write(Buffer.from('c'));
  assert.equal(conn.backlog, 3);
  assert.deepEqual(got, []); // nothing before the flush
  await turn();
  assert.deepEqual(got, ['abc']);
  assert.equal(peer.chunks, 1);
  assert.equal(conn.backlog, 0);
  conn.coalesce = false;
  conn.write(Buffer.from('d'));
  assert.deepEqual(got, ['abc', 'd']); // at once
});

test('bytes written in place (reserve/commit) keep their order among writes, across turns and buffers', async () => {
  const { conn, peer } = memoryPair();
  const got: string[] = [];
  peer.onData = (c) => got.push(c.toString());
  const put = (s: string): void => {
    const at = conn.reserve(s.length);
    conn.room.write(s, at);
    conn.commit(at + s.length);
  };
  put('a');
  assert.ok(conn.room.length <= 2048, 'a quiet connection keeps a small room');
  put('b');
  conn.write(Buffer.from('c'));
  put('d');
  assert.equal(conn.backlog, 4);
  await turn();
  assert.deepEqual(got, ['abcd']);
  // What was handed on is never written over: later bytes go after it, or into a new buffer.
  const first = conn.room;
  put('e');
  put('x'.repeat(first.length)); // does not fit: a buffer of its own
  assert.notEqual(conn.room, first);
  await turn();
  const later = got.slice(1).join('');
  assert.ok(later === 'e' + 'x'.repeat(first.length), `got ${later.length} bytes from ${JSON.stringify(later.slice(0, 3))}`);
  assert.equal(got[0], 'abcd');
  // Nothing in place survives a destroy.
  const n = got.length;
  put('z');
  conn.destroy();
  await turn();
  assert.equal(got.length, n);
});

test('input arrives on a later tick, in order, and carries the transport name and address', async () => {
  const { conn, peer } = memoryPair({ remoteAddress: '10.0.0.9' });
  assert.equal(conn.transport, 'memory');
  assert.equal(conn.remoteAddress, '10.0.0.9');
  const h = recorder();
  conn.setHandler(h);
  peer.write(Buffer.from('1'));
  peer.write(Buffer.from('2'));
  assert.deepEqual(h.data, []);
  await tick();
  assert.deepEqual(h.data, ['1', '2']);
});

test('a paused connection holds input; resume delivers it later, never inside the call', async () => {
  const { conn, peer } = memoryPair();
  const h = recorder();
  conn.setHandler(h);
  conn.pause();
  peer.write(Buffer.from('x'));
  peer.write(Buffer.from('y'));
  await turn();
  assert.deepEqual(h.data, []);
  conn.resume();
  assert.deepEqual(h.data, []);
  await tick();
  assert.deepEqual(h.data, ['x', 'y']);
});

test('a handler that pauses stops the rest of the input until resume', async () => {
  const { conn, peer } = memoryPair();
  const data: string[] = [];
  conn.setHandler({
    onData(c) {
      data.push(c.toString());
      if (c.toString() === 'hold') conn.pause();
    },
    onClose() {},
  });
  peer.write(Buffer.from('hold'));
  peer.write(Buffer.from('after'));
  await turn();
  assert.deepEqual(data, ['hold']);
  conn.resume();
  await turn();
  assert.deepEqual(data, ['hold', 'after']);
});

test('end flushes what is pending, the peer sees the end, the handler hears the close once, later', async () => {
  const { conn, peer } = memoryPair();
  const h = recorder();
  conn.setHandler(h);
  const got: string[] = [];
  let how: string | null = null;
  peer.onData = (c) => got.push(c.toString());
  peer.onClose = (x) => (how = x);
  conn.write(Buffer.from('last words'));
  conn.end();
  assert.deepEqual(got, ['last words']);
  assert.equal(how, 'end');
  assert.deepEqual(h.closes, []);
  await tick();
  assert.deepEqual(h.closes, [false]);
  conn.end();
  conn.destroy();
  peer.write(Buffer.from('ignored'));
  await turn();
  assert.deepEqual(h.closes, [false]);
  assert.deepEqual(h.data, []);
});

test('destroy drops unsent writes', async () => {
  const { conn, peer } = memoryPair();
  const got: string[] = [];
  peer.onData = (c) => got.push(c.toString());
  conn.write(Buffer.from('lost'));
  conn.destroy();
  await turn();
  assert.deepEqual(got, []);
  assert.equal(peer.closed, 'destroy');
});

test('the peer ending is heard after the input it wrote before; a dropped peer is heard at once even while paused', async () => {
  const a = memoryPair();
  const ha = recorder();
  a.conn.setHandler(ha);
  a.peer.write(Buffer.from('bye'));
  a.peer.end();
  await turn();
  assert.deepEqual(ha.data, ['bye']);
  assert.deepEqual(ha.closes, [false]);
  assert.equal(a.conn.closed, true);

  const b = memoryPair();
  const hb = recorder();
  b.conn.setHandler(hb);
  b.conn.pause();
  b.peer.write(Buffer.from('unread'));
  b.peer.destroy();
  await turn();
  assert.deepEqual(hb.data, []);
  assert.deepEqual(hb.closes, [true]);
});

test('a stalled peer makes sent bytes count as backlog until it reads again', async () => {
  const { conn, peer } = memoryPair();
  const got: string[] = [];
  peer.onData = (c) => got.push(c.toString());
  peer.stall();
  conn.write(Buffer.from('12345'));
  await turn();
  assert.deepEqual(got, []);
  assert.equal(conn.backlog, 5);
  conn.write(Buffer.from('678'));
  assert.equal(conn.backlog, 8); // pending + transport
  await turn();
  peer.unstall();
  assert.deepEqual(got, ['12345', '678']);
  assert.equal(conn.backlog, 0);
});
