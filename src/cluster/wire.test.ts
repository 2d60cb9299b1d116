import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage } from '../core/message.js';
import { encodeInterest, encodeOffline, encodeOnline, encodePublish, FrameReader, Kind } from './wire.js';
import type { PeerFrame } from './wire.js';

test('peer frames round-trip, split at every byte', () => {
  const meta = { contentType: 'text/plain', responseTopic: 'r/1', correlationData: Buffer.from([0, 1, 255]), userProperties: [['k', 'v'] as [string, string]] };
  const a = createMessage('a/b', Buffer.from('payload é'), 1, true, meta, 1234.5, { clientId: 'sender', app: 'app', profile: 'SERVICE' });
  const b = createMessage('c', Buffer.alloc(0), 0, false, null, 0, null);
  const bytes = Buffer.concat([encodePublish('app', a, true), encodeOnline('app', 'client-1', 'SERVICE', 1700000000123), encodePublish('dev', b, false), encodeInterest(true, 'app', 'a/+/#'), encodeInterest(false, 'dev', 'x'), encodeOffline('app', 'client-1')]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const got: PeerFrame[] = [];
    r.push(bytes.subarray(0, cut), (f) => got.push(f));
    r.push(bytes.subarray(cut), (f) => got.push(f));
    assert.equal(got.length, 6);
    const [p, t, q, i1, i2, off] = got as [PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame, PeerFrame];
    assert.deepEqual(i1, { kind: Kind.Interest, add: true, app: 'app', filter: 'a/+/#' });
    assert.deepEqual(i2, { kind: Kind.Interest, add: false, app: 'dev', filter: 'x' });
    assert.ok(p.kind === Kind.Publish && q.kind === Kind.Publish && t.kind === Kind.Online);
    assert.equal(p.app, 'app');
    assert.equal(p.intercept, true);
    assert.deepEqual(p.msg, a);
    assert.deepEqual(t, { kind: Kind.Online, app: 'app', clientId: 'client-1', profile: 'SERVICE', since: 1700000000123 });
    assert.deepEqual(off, { kind: Kind.Offline, app: 'app', clientId: 'client-1' });
    assert.equal(q.intercept, false);
    assert.deepEqual(q.msg, b);
  }
});
