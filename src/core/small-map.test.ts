import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmallMap } from './small-map.js';

test('SmallMap behaves like a Map through the inline and the Map form', () => {
  const m = new SmallMap<string, number>();
  const ref = new Map<string, number>();
  const ops: Array<[string, string, number]> = [
    ['set', 'a', 1], ['set', 'a', 2], ['get', 'a', 0], ['set', 'b', 3], ['delete', 'a', 0], ['has', 'b', 0],
    ['delete', 'b', 0], ['delete', 'b', 0], ['set', 'c', 4], ['get', 'x', 0], ['has', 'x', 0], ['set', 'd', 5], ['set', 'e', 6],
  ];
  for (const [op, k, v] of ops) {
    if (op === 'set') { m.set(k, v); ref.set(k, v); }
    else if (op === 'get') assert.equal(m.get(k), ref.get(k));
    else if (op === 'has') assert.equal(m.has(k), ref.has(k));
    else assert.equal(m.delete(k), ref.delete(k));
    assert.equal(m.size, ref.size);
    assert.deepEqual([...m.entries()], [...ref.entries()]);
    assert.deepEqual([...m.keys()], [...ref.keys()]);
    assert.deepEqual([...m.values()], [...ref.values()]);
  }
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual([...m], []);
});
