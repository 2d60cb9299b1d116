import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PredefinedTopics, TopicRegistry, isShortName, outboundTopic, topicIdField } from './topics.js';

const valid = (t: string): boolean => t.length > 0 && !/[#+]/.test(t);

test('registry: one id per name, bounded, ids reused after forget, never 0 or 0xFFFF', () => {
  const r = new TopicRegistry(2);
  const a = r.register('a/b');
  assert.equal(a, 1);
  assert.equal(r.register('a/b'), a);
  const b = r.register('c/d');
  assert.equal(b, 2);
  assert.equal(r.register('e/f'), 0, 'full');
  assert.equal(r.name(b), 'c/d');
  r.forget(a);
  assert.equal(r.id('a/b'), undefined);
  const e = r.register('e/f');
  assert.ok(e !== 0 && e !== b);
  assert.equal(r.size, 2);
  r.clear();
  assert.equal(r.size, 0);
});

test('registry: ids wrap below 0xFFFF and skip ids in use', () => {
  const r = new TopicRegistry(70000);
  for (let i = 0; i < 0xfffe; i++) assert.equal(r.register(`t/${i}`), i + 1);
  assert.equal(r.register('one/more'), 0, 'every id 1..0xFFFE in use');
  r.forget(5);
  assert.equal(r.register('again'), 5);
});

test('predefined topics: parsed from ID=TOPIC, duplicates and bad names refused', () => {
  const p = new PredefinedTopics(['1=sensors/temp', '65534=x=y'], valid);
  assert.equal(p.name(1), 'sensors/temp');
  assert.equal(p.id('x=y'), 65534);
  assert.throws(() => new PredefinedTopics(['1=a', '1=b'], valid), /defined twice/);
  assert.throws(() => new PredefinedTopics(['1=a', '2=a'], valid), /defined twice/);
  assert.throws(() => new PredefinedTopics(['3=a/#'], valid), /not a valid topic name/);
  assert.throws(() => new PredefinedTopics(['65535=a'], valid), /1\.\.65534/);
});

test('outbound topic: registered, then predefined, then short name, else REGISTER', () => {
  const p = new PredefinedTopics(['7=pre/def', '8=ab'], valid);
  const r = new TopicRegistry(10);
  assert.deepEqual(outboundTopic('pre/def', r, p), { kind: 'predefined', id: 7 });
  assert.deepEqual(outboundTopic('zz', r, p), { kind: 'short', name: 'zz' });
  assert.deepEqual(outboundTopic('ab', r, p), { kind: 'predefined', id: 8 });
  assert.equal(outboundTopic('long/topic', r, p), null);
  const id = r.register('pre/def');
  assert.deepEqual(outboundTopic('pre/def', r, p), { kind: 'normal', id });
  assert.ok(isShortName('é'), 'two UTF-8 octets');
  assert.ok(!isShortName('abc'));
  assert.equal(topicIdField({ kind: 'short', name: 'ab' }), 0x6162);
  assert.equal(topicIdField({ kind: 'predefined', id: 9 }), 9);
});
