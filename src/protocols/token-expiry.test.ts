import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenExpiry } from './token-expiry.js';
import type { CloseReason } from '../core/session.js';

test('closes at expiry, also past setTimeout\'s 24.8-day range (re-armed in steps); cancel stops it', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const closed: CloseReason[] = [];
  const link = { close: (r: CloseReason) => closed.push(r) };
  const day = 24 * 3600 * 1000;
  new TokenExpiry(30 * day, link);
  t.mock.timers.tick(25 * day);
  assert.deepEqual(closed, []); // a single setTimeout would have fired at once
  t.mock.timers.tick(5 * day);
  assert.deepEqual(closed, ['token-expired']);
  const other = new TokenExpiry(Date.now() + 1000, link);
  other.cancel();
  t.mock.timers.tick(2000);
  assert.equal(closed.length, 1);
  new TokenExpiry(Date.now() - 1, link); // already expired: closed now
  assert.equal(closed.length, 2);
});
