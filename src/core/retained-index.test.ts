/** The runtime retained index: set, replace, clear and wildcard lookups. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createMessage } from './message.js';
import { RetainedIndex } from './retained-index.js';

const msg = (topic: string, payload: string) => createMessage(topic, Buffer.from(payload), 1, true, null, 0, { clientId: 'c', app: 'a', profile: 'AGENT' });

test('retained index: set, replace, clear [MQTT-3.3.1-5..7]', () => {
  const s = new RetainedIndex();
  s.set(msg('a/b', '1'));
  s.set(msg('a/b', '2'));
  assert.equal(s.size, 1);
  assert.equal(s.get('a/b')!.payload.toString(), '2');
  s.set(msg('a/b', ''));
  assert.equal(s.size, 0);
  assert.equal(s.get('a/b'), undefined);
  s.set(msg('a/b', '')); // clearing twice is harmless
  assert.equal(s.size, 0);
});


test('retained index: wildcard lookups', () => {
  const s = new RetainedIndex();
  for (const t of ['a', 'a/b', 'a/b/c', 'a/x/c', 'b', '$SYS/x', '/lead']) s.set(msg(t, t));
  const m = (f: string): string[] => s.match(f).map((x) => x.topic).sort();
  assert.deepEqual(m('a/#'), ['a', 'a/b', 'a/b/c', 'a/x/c']);
  assert.deepEqual(m('a/+/c'), ['a/b/c', 'a/x/c']);
  assert.deepEqual(m('#'), ['/lead', 'a', 'a/b', 'a/b/c', 'a/x/c', 'b']);
  assert.deepEqual(m('+'), ['a', 'b']);
  assert.deepEqual(m('$SYS/#'), ['$SYS/x']);
  assert.deepEqual(m('+/lead'), ['/lead']);
  assert.deepEqual(m('a/b'), ['a/b']);
  assert.deepEqual(m('nothing/#'), []);
});
