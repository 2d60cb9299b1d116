import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storesContract } from '../contract.js';
import { MemoryStores } from './index.js';
import { MemoryDeadLetterStore } from './dead-letters.js';

storesContract('memory', { open: async () => new MemoryStores(), reopen: async (s) => s });

test('memory dead letters are bounded by count and by age', async () => {
  let now = 10_000;
  const d = new MemoryDeadLetterStore({ maxCount: 3, maxAgeMs: 1000, now: () => now });
  const m = { topic: 't', payload: Buffer.from('x'), qos: 1 as const, retain: false, meta: null, expiresAt: 0, sender: null };
  for (let i = 0; i < 5; i++) d.addDeadLetter({ app: 'a', reason: 'expired', to: null, time: now + i, msg: m });
  assert.equal((await d.deadLetters('a', {}, 0, 10)).length, 3);
  now += 5000;
  assert.equal((await d.deadLetters('a', {}, 0, 10)).length, 0);
});
