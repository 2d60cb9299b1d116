import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expireToken } from './token-expiry.js';
import { ManualClock, Sweep, systemClock } from '../core/clock.js';
import type { CloseReason } from '../core/session.js';

const day = 24 * 3600 * 1000;

test("closes at expiry, also past setTimeout's 24.8-day range; cancel stops it", () => {
  const clock = new ManualClock(0);
  const sweep = new Sweep(clock);
  const closed: CloseReason[] = [];
  const link = { close: (r: CloseReason) => closed.push(r) };
  expireToken(sweep, 30 * day, link);
  clock.advance(30 * day - 1);
  assert.deepEqual(closed, []); // a single setTimeout would have fired after 1 ms
  clock.advance(1);
  assert.deepEqual(closed, ['token-expired']);
  const other = expireToken(sweep, clock.now() + 1000, link);
  other.cancel();
  clock.advance(2000);
  assert.equal(closed.length, 1);
  assert.equal(sweep.pending, 0);
});

test('a token already expired closes on the next wake, not inside the call', () => {
  const clock = new ManualClock(1000);
  const sweep = new Sweep(clock);
  const closed: CloseReason[] = [];
  expireToken(sweep, 999, { close: (r) => closed.push(r) });
  assert.deepEqual(closed, []);
  clock.advance(0);
  assert.deepEqual(closed, ['token-expired']);
});

test('the system clock drives it under mock timers (setTimeout and Date)', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const closed: CloseReason[] = [];
  const sweep = new Sweep(systemClock);
  expireToken(sweep, 30 * day, { close: (r) => closed.push(r) });
  t.mock.timers.tick(25 * day);
  assert.deepEqual(closed, []);
  t.mock.timers.tick(5 * day);
  assert.deepEqual(closed, ['token-expired']);
});
