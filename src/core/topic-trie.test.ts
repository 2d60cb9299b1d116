import test from 'node:test';
import assert from 'node:assert/strict';
import { TopicTrie } from './topic-trie.js';
import type { Subscriber, Subscription } from './topic-trie.js';
import { isValidTopicFilter, isValidTopicName, parseFilter, topicMatches } from './topic.js';

const sub = (s: Subscriber, raw: string, qos: 0 | 1 | 2 = 0, subscriptionId = 0): Subscription => {
  const p = parseFilter(raw)!;
  return { subscriber: s, raw, filter: p.filter, group: p.group, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId };
};
const ids = (t: TopicTrie, topic: string): string[] =>
  t.match(topic).targets.map((x) => x.subscriber.clientId).sort();

const cases: Array<[string, string, boolean]> = [
  ['sport/tennis/player1', 'sport/tennis/player1', true],
  ['sport/+/player1', 'sport/tennis/player1', true],
  ['sport/#', 'sport/tennis/player1', true],
  ['sport/#', 'sport', true], // [MQTT-4.7.1-1] '#' includes the parent level
  ['+/tennis/#', 'sport/tennis/player1', true],
  ['sport/+', 'sport/tennis/player1', false],
  ['sport/+', 'sport/', true], // an empty level is a level
  ['+', '/finance', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['#', '$SYS/broker/uptime', false], // [MQTT-4.7.2-1]
  ['+/broker/uptime', '$SYS/broker/uptime', false],
  ['$SYS/#', '$SYS/broker/uptime', true],
  ['$SYS/+/uptime', '$SYS/broker/uptime', true],
  ['a/b', 'a/b/c', false],
  ['a/b/c', 'a/b', false],
  ['#', 'a', true],
  ['a/#', 'a/b/c/d', true],
];

test('topic matching examples (MQTT 5.0 section 4.7)', () => {
  for (const [filter, topic, expected] of cases) {
    const t = new TopicTrie();
    t.add(sub({ clientId: 'c' }, filter));
    assert.equal(t.match(topic).targets.length === 1, expected, `${filter} vs ${topic}`);
    assert.equal(topicMatches(filter, topic), expected, `topicMatches ${filter} vs ${topic}`);
  }
});

test('overlapping subscriptions merge into one target with max QoS and all ids [MQTT-3.3.4-2]', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  t.add(sub(a, 'x/#', 0, 1));
  t.add(sub(a, 'x/+', 2, 2));
  t.add(sub(a, 'x/y', 1));
  const m = t.match('x/y');
  assert.equal(m.targets.length, 1);
  assert.equal(m.targets[0]!.qos, 2);
  assert.deepEqual([...m.targets[0]!.subscriptionIds!].sort(), [1, 2]);
});

test('the match cache is invalidated by subscribe and unsubscribe', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  const b = { clientId: 'b' };
  t.add(sub(a, 'q/+'));
  assert.deepEqual(ids(t, 'q/1'), ['a']);
  t.add(sub(b, 'q/#'));
  assert.deepEqual(ids(t, 'q/1'), ['a', 'b']);
  assert.ok(t.remove(a, 'q/+', null));
  assert.deepEqual(ids(t, 'q/1'), ['b']);
  assert.equal(t.remove(a, 'q/+', null), undefined);
  t.remove(b, 'q/#', null);
  assert.deepEqual(ids(t, 'q/1'), []);
  assert.equal(t.size, 0);
  assert.deepEqual([...t.all()], []);
});

test('re-subscribing replaces the subscription [MQTT-3.8.4-3]', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  assert.equal(t.add(sub(a, 'r', 0)), undefined);
  assert.ok(t.add(sub(a, 'r', 2)));
  assert.equal(t.size, 1);
  assert.equal(t.match('r').targets[0]!.qos, 2);
});

test('shared subscriptions come back as groups, not targets', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  const b = { clientId: 'b' };
  t.add(sub(a, '$share/g1/jobs/+'));
  t.add(sub(b, '$share/g1/jobs/+'));
  t.add(sub(b, '$share/g2/jobs/#'));
  const m = t.match('jobs/1');
  assert.equal(m.targets.length, 0);
  assert.deepEqual(m.groups.map((g) => `${g.name}:${g.members.length}`).sort(), ['g1:2', 'g2:1']);
  t.remove(a, 'jobs/+', 'g1');
  assert.equal(t.match('jobs/1').groups.find((g) => g.name === 'g1')!.members.length, 1);
});

test('topic name and filter validation', () => {
  assert.ok(isValidTopicName('a/b'));
  assert.ok(!isValidTopicName(''));
  assert.ok(!isValidTopicName('a/+'));
  assert.ok(!isValidTopicName('a/#'));
  for (const f of ['#', '+', 'a/+/b', 'a/#', '+/+', '/', 'a//b']) assert.ok(isValidTopicFilter(f), f);
  for (const f of ['', 'a#', 'a/#/b', 'a+', '+a/b', 'a/b#', '##']) assert.ok(!isValidTopicFilter(f), f);
  assert.ok(!isValidTopicName('a/b/c', { maxTopicLength: 100, maxTopicLevels: 2 }));
  assert.deepEqual(parseFilter('$share/g/a/b'), { filter: 'a/b', group: 'g' });
  assert.equal(parseFilter('$share/g'), null);
  assert.equal(parseFilter('$share//a'), null);
  assert.equal(parseFilter('$share/g+/a'), null);
});

test('one filter going from one subscriber to several and back (inline subscription <-> Map)', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  const b = { clientId: 'b' };
  const c = { clientId: 'c' };
  assert.equal(t.add(sub(a, 'x/y', 0)), undefined);
  assert.equal(t.add(sub(a, 'x/y', 1))?.qos, 0, 'replacing the inline subscription returns the old one');
  t.add(sub(b, 'x/y'));
  t.add(sub(c, 'x/y'));
  assert.deepEqual(ids(t, 'x/y'), ['a', 'b', 'c']);
  assert.equal(t.remove(b, 'x/y', null)?.subscriber, b);
  assert.equal(t.remove(c, 'x/y', null)?.subscriber, c);
  assert.deepEqual(ids(t, 'x/y'), ['a']);
  assert.equal(t.match('x/y').targets[0]!.qos, 1);
  assert.equal(t.remove(b, 'x/y', null), undefined, 'removing an absent subscriber from an inline node');
  assert.equal(t.size, 1);
  assert.equal(t.remove(a, 'x/y', null)?.subscriber, a);
  assert.equal(t.size, 0);
  assert.deepEqual([...t.all()], []);
  assert.deepEqual(ids(t, 'x/y'), []);
});

test('observers: matched with the subscriptions, cached per topic, never targets; changes clear the cache', () => {
  const t = new TopicTrie();
  const a = { clientId: 'a' };
  t.add(sub(a, 'calls/#'));
  const seen: string[] = [];
  const o = { filters: ['calls/+/state', '#'], seen: (m: { topic: string }) => seen.push(m.topic) };
  const before = t.match('calls/1/state');
  assert.equal(before.observers, null);
  t.observe(o);
  const m = t.match('calls/1/state');
  assert.notEqual(m, before, 'observing clears the cache');
  assert.deepEqual(m.observers, [o], 'two matching filters: the observer once');
  assert.deepEqual(m.targets.map((x) => x.subscriber.clientId), ['a']);
  assert.equal(t.match('calls/1/state'), m, 'cached');
  assert.deepEqual(t.match('news').observers, [o]);
  assert.equal(t.match('news').targets.length, 0, 'an observer is not a subscriber');
  assert.equal(t.match('$SYS/x').observers, null, "'#' does not match $-topics [MQTT-4.7.2-1]");
  assert.equal(t.size, 1);
  t.unobserve(o);
  assert.equal(t.match('calls/1/state').observers, null);
  assert.equal(t.observing, 0);
  assert.equal(seen.length, 0, 'the trie matches; the router tells');
});
