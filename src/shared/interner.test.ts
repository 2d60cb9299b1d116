import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Interner } from './interner.js';

test('the same bytes give the same string; other bytes never do', () => {
  const i = new Interner(4, 8); // 4 slots: collisions are certain
  const buf = Buffer.from('a/b|a/c|größe|a/b|' + 'x'.repeat(20) + '|');
  const ab = i.get(buf, 0, 3);
  assert.equal(ab, 'a/b');
  assert.equal(i.get(buf, 4, 3), 'a/c');
  assert.equal(i.get(buf, 8, 7), 'größe');
  assert.equal(i.get(buf, 16, 3), 'a/b');
  assert.equal(i.slot >= 0, true);
  assert.equal(i.get(buf, 20, 20), 'x'.repeat(20)); // longer than kept: decoded, not kept
  assert.equal(i.slot, -1);
  assert.equal(i.get(buf, 0, 0), '');
});

test('property: whatever was cached before, get decodes exactly the bytes asked for', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 12, unit: 'grapheme' }), { minLength: 1, maxLength: 60 }), (words) => {
      const i = new Interner(8, 16);
      for (const w of words) {
        const b = Buffer.from(`.${w}.`);
        assert.equal(i.get(b, 1, b.length - 2), w);
      }
    }),
  );
});
