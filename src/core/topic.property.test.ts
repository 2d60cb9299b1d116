/** The allocation-free matcher agrees with the plain split-based one on any filter and topic. */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { filterMatches, topicMatches } from './topic.js';

const level = fc.oneof(fc.constantFrom('', 'a', 'b', 'ab', '$SYS', '$x', 'é'), fc.string({ unit: fc.constantFrom('a', 'b', '$'), maxLength: 3 }));
const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const filter = fc
  .array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 })
  .chain((l) => fc.boolean().map((hash) => (hash ? [...l, '#'] : l).join('/')));

test('filterMatches == topicMatches', () => {
  fc.assert(fc.property(filter, topic, (f, t) => assert.equal(filterMatches(f, t), topicMatches(f, t), `${f} vs ${t}`)), { numRuns: 20_000 });
  for (const [f, t, want] of [['#', '$SYS/x', false], ['a/#', 'a', true], ['a/+', 'a', false], ['+/+', '/', true], ['a/+', 'a/', true], ['#', 'a/b/c', true]] as const) {
    assert.equal(filterMatches(f, t), want, `${f} vs ${t}`);
  }
});
