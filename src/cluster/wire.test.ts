import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage } from '../core/message.js';
import { encodeClaim, encodeInterest, encodeMessage, encodeRelease, encodeSignal, FrameReader, Kind } from './wire.js';
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
    assert.deepEqual(p, { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'fanout' } });
    assert.deepEqual(q, { kind: Kind.Message, app: 'dev', msg: b, route: { kind: 'shared', filter: '$queue/q', group: 'q' } });
    assert.deepEqual(tap, { kind: Kind.Message, app: 'app', msg: b, route: { kind: 'tap', client: 'watched', profile: 'SUPER_AGENT' } });
    assert.deepEqual(inbox, { kind: Kind.Message, app: 'app', msg: a, route: { kind: 'inbox' } });
    assert.deepEqual([sync, synced], [{ kind: Kind.Sync }, { kind: Kind.Synced }]);
  }
});
