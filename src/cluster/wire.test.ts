import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage } from '../core/message.js';
import { decodeFrames, encodeAdopted, encodeClaim, encodeInterest, encodeMessage, encodeRelease, encodeSignal, encodeStored, encodeWill, FrameReader, Kind, MessageFrame, writeSenderAlias, writeTopicAlias } from './wire.js';
import type { PeerFrame } from './wire.js';

test('peer frames round-trip, split at every byte', () => {
  const meta = { contentType: 'text/plain', responseTopic: 'r/1', correlationData: Buffer.from([0, 1, 255]), userProperties: [['k', 'v'] as [string, string]] };
  const a = createMessage('a/b', Buffer.from('payload é'), 1, true, meta, 1234.5, { clientId: 'sender', app: 'app', profile: 'SERVICE' });
  const b = createMessage('c', Buffer.alloc(0), 0, false, null, 0, null);
  const claim = { clientId: 'client-1', profile: 'SERVICE' as const, online: false, since: 1700000000123, protocol: 'stomp', transport: 'ws' };
  const bytes = Buffer.concat([
    encodeMessage('app', a),
    encodeClaim('app', claim),
    encodeMessage('dev', b, { kind: 'shared', filter: '$queue/q', group: 'q' }),
    encodeInterest(true, 'app', 'a/+/#'),
    encodeInterest(false, 'dev', 'x'),
    encodeRelease('app', 'client-1'),
    encodeMessage('app', b, { kind: 'tap', client: 'watched', profile: 'SUPER_AGENT' }),
    encodeMessage('app', a, { kind: 'inbox' }),
    encodeSignal(Kind.Sync),
    encodeSignal(Kind.Synced),
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const got: PeerFrame[] = [];
    r.push(bytes.subarray(0, cut), (f) => got.push(f));
    r.push(bytes.subarray(cut), (f) => got.push(f));
    assert.equal(got.length, 10);
    const [p, c, q, i1, i2, rel, tap, inbox, sync, synced] = got as [PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame];
    assert.deepEqual(i1, { kind: Kind.Interest, add: true, app: 'app', filter: 'a/+/#' });
    assert.deepEqual(i2, { kind: Kind.Interest, add: false, app: 'dev', filter: 'x' });
    assert.deepEqual(c, { kind: Kind.Claim, app: 'app', claim });
    assert.deepEqual(rel, { kind: Kind.Release, app: 'app', clientId: 'client-1' });
    assert.deepEqual(p, { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'fanout' }, confirm: 0 });
    assert.deepEqual(q, { kind: Kind.Message, app: 'dev', msg: b, route: { kind: 'shared', filter: '$queue/q', group: 'q' }, confirm: 0 });
    assert.deepEqual(tap, { kind: Kind.Message, app: 'app', msg: b, route: { kind: 'tap', client: 'watched', profile: 'SUPER_AGENT' }, confirm: 0 });
    assert.deepEqual(inbox, { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'inbox' }, confirm: 0 });
    assert.deepEqual([sync, synced], [{ kind: Kind.Sync }, { kind: Kind.Synced }]);
  }
});

test('cluster frames of the Redis bus and the hand-over: wills, RESET/BYE, TAKE/RELEASED, confirmations, SWITCH', () => {
  const a = createMessage('users/x/will', Buffer.from('gone'), 1, false, null, 0, { clientId: 'x', app: 'app', profile: 'AGENT' });
  const client = { clientId: 'x', login: 'x', profile: 'AGENT' as const, app: 'app', protocol: 'mqtt' as const, transport: 'tcp', remoteAddress: '127.0.0.1' };
  const bytes = Buffer.concat([
    encodeWill('app', { clientId: 'x', client, msg: a, delay: 30 }),
    encodeWill('app', { clientId: 'x', client: null, msg: null, delay: 0 }),
    encodeSignal(Kind.Reset),
    encodeSignal(Kind.Bye),
    encodeRelease('app', 'x', Kind.Take),
    encodeRelease('app', 'x', Kind.Released),
    encodeMessage('app', a, { kind: 'fanout' }, 0xfffffffe),
    encodeStored(0xfffffffe),
    encodeSignal(Kind.Switch),
  ]);
  const got: PeerFrame[] = [];
  decodeFrames(bytes, 0, (f) => got.push(f));
  assert.deepEqual(got, [
    { kind: Kind.Will, app: 'app', will: { clientId: 'x', client, delay: 30, msg: a } },
    { kind: Kind.Will, app: 'app', will: { clientId: 'x', client: null, delay: 0, msg: null } },
    { kind: Kind.Reset },
    { kind: Kind.Bye },
    { kind: Kind.Take, app: 'app', clientId: 'x' },
    { kind: Kind.Released, app: 'app', clientId: 'x' },
    { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'fanout' }, confirm: 0xfffffffe },
    { kind: Kind.Stored, id: 0xfffffffe },
    { kind: Kind.Switch },
  ]);
  // A batch cut short is refused, never half-read.
  assert.throws(() => decodeFrames(bytes.subarray(0, bytes.length - 2), 0, () => undefined), /truncated/);
});

test('frames fed one byte at a time, with non-ASCII and long names, decode as sent', () => {
  const long = `t/${'x'.repeat(60)}`;
  const a = createMessage('größe/👍', Buffer.from([1, 2, 3]), 1, false, null, 0, { clientId: 'ü-client', app: 'äpp', profile: 'AGENT' });
  const b = createMessage(long, Buffer.alloc(70_000, 7), 0, true, null, 0, null);
  const bytes = Buffer.concat([
    encodeMessage('äpp', a, { kind: 'tap', client: 'wätched', profile: 'SERVICE' }, 9),
    encodeMessage(long, b, { kind: 'shared', filter: 'q/ü', group: 'g' }),
    encodeAdopted('node-ß'),
  ]);
  const r = new FrameReader();
  const got: PeerFrame[] = [];
  for (let i = 0; i < bytes.length; i += 1 + (i % 3)) r.push(bytes.subarray(i, Math.min(bytes.length, i + 1 + (i % 3))), (f) => got.push(f));
  assert.deepEqual(got, [
    { kind: Kind.Message, app: 'äpp', msg: a, route: { kind: 'tap', client: 'wätched', profile: 'SERVICE' }, confirm: 9 },
    { kind: Kind.Message, app: long, msg: b, route: { kind: 'shared', filter: 'q/ü', group: 'g' }, confirm: 0 },
    { kind: Kind.Adopted, node: 'node-ß' },
  ]);
});

test('aliased messages decode to the strings their definitions gave, split at every byte; a redefinition takes over', () => {
  const sender = { clientId: 'pub-ü', app: 'app', profile: 'SUPER_AGENT' as const };
  const a = createMessage('a/b', Buffer.from('one'), 1, false, null, 0, sender);
  const b = createMessage('größe/c', Buffer.from('two'), 0, true, { contentType: 'text/plain' }, 99, sender);
  const f = new MessageFrame();
  const buf = Buffer.alloc(1024);
  let at = writeSenderAlias(buf, 0, 7, 'app', sender);
  at = writeTopicAlias(buf, at, 300, 'a/b');
  at = writeTopicAlias(buf, at, 301, 'größe/c');
  f.aliasedBound(a, 5);
  at = f.writeAliased(buf, at, a, 5, 7, 300);
  f.aliasedBound(b, 0);
  at = f.writeAliased(buf, at, b, 0, 7, 301);
  at = writeTopicAlias(buf, at, 300, 'x/y'); // redefined
  f.aliasedBound(a, 0);
  at = f.writeAliased(buf, at, a, 0, 7, 300);
  const bytes = buf.subarray(0, at);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const got: PeerFrame[] = [];
    r.push(bytes.subarray(0, cut), (x) => got.push(x));
    r.push(bytes.subarray(cut), (x) => got.push(x));
    assert.deepEqual(got, [
      { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'fanout' }, confirm: 5 },
      { kind: Kind.Message, app: 'app', msg: b, route: { kind: 'fanout' }, confirm: 0 },
      { kind: Kind.Message, app: 'app', msg: { ...a, topic: 'x/y' }, route: { kind: 'fanout' }, confirm: 0 },
    ]);
  }
  // An alias never defined on the stream is an error, not a guess.
  f.aliasedBound(a, 0);
  const end = f.writeAliased(buf, 0, a, 0, 8, 300);
  assert.throws(() => new FrameReader().push(buf.subarray(0, end), () => undefined), /unknown alias/);
});
