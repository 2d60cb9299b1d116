/** The clock and the sweep (core/clock.ts): a ManualClock for most, node:test mock timers for the system clock. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, MAX_TIMER_MS, MIN_SWEEP_MS, Sweep, SWEEP_MS, systemClock } from './clock.js';
import type { Clock, Due, Swept, Timer } from './clock.js';

const DAY = 24 * 3600 * 1000;

/** A Due that records "subject@time". */
function recorder(): Due<string> & { log: string[] } {
  const log: string[] = [];
  return { log, due: (s, now) => void log.push(`${s}@${now}`) };
}

/** A clock that counts the timers set on it. */
function counting(inner: ManualClock): Clock & { set: number[] } {
  const set: number[] = [];
  return {
    set,
    now: () => inner.now(),
    setTimer(ms, fn): Timer {
      set.push(ms);
      return inner.setTimer(ms, fn);
    },
  };
}

describe('ManualClock', () => {
  test('moves only when told; runs due timers in time order, each at its own time', () => {
    const c = new ManualClock(1000);
    const seen: string[] = [];
    c.setTimer(30, () => seen.push(`b@${c.now()}`));
    c.setTimer(10, () => {
      seen.push(`a@${c.now()}`);
      c.setTimer(5, () => seen.push(`a2@${c.now()}`)); // set inside the window: runs in it
    });
    const off = c.setTimer(20, () => seen.push('cancelled'));
    c.setTimer(30, () => seen.push(`c@${c.now()}`)); // same time as b: in the order set
    off.cancel();
    assert.equal(c.now(), 1000);
    c.advance(29);
    assert.deepEqual(seen, ['a@1010', 'a2@1015']);
    assert.equal(c.now(), 1029);
    c.advance(1);
    assert.deepEqual(seen, ['a@1010', 'a2@1015', 'b@1030', 'c@1030']);
    assert.equal(c.pending, 0);
    c.advanceTo(500); // never backwards
    assert.equal(c.now(), 1030);
  });

  test('refuses delays setTimeout cannot wait', () => {
    const c = new ManualClock(0);
    assert.throws(() => c.setTimer(MAX_TIMER_MS + 1, () => undefined), RangeError);
    assert.throws(() => c.setTimer(-1, () => undefined), RangeError);
    assert.throws(() => systemClock.setTimer(MAX_TIMER_MS + 1, () => undefined), RangeError);
  });
});

describe('systemClock', () => {
  test('looks Date.now and setTimeout up per call (node:test mock timers drive it)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5000 });
    assert.equal(systemClock.now(), 5000);
    let fired = 0;
    systemClock.setTimer(100, () => fired++);
    const off = systemClock.setTimer(100, () => fired++);
    off.cancel();
    t.mock.timers.tick(99);
    assert.equal(fired, 0);
    t.mock.timers.tick(1);
    assert.equal(fired, 1);
    assert.equal(systemClock.now(), 5100);
  });
});

describe('Sweep: deadlines', () => {
  test('fire at their time, in time order, once; cancel takes one out', () => {
    const clock = new ManualClock(0);
    const sweep = new Sweep(clock);
    const r = recorder();
    for (const [at, s] of [[50, 'e'], [10, 'a'], [30, 'c'], [20, 'b'], [40, 'd'], [30, 'c2']] as const) sweep.at(at, r, s);
    const gone = sweep.at(25, r, 'gone');
    gone.cancel();
    gone.cancel(); // idempotent
    assert.equal(sweep.pending, 6);
    clock.advance(29);
    assert.deepEqual(r.log, ['a@10', 'b@20']);
    clock.advance(100);
    assert.deepEqual(r.log.slice(2).map((x) => x.split('@')[1]), ['30', '30', '40', '50']);
    assert.equal(sweep.pending, 0);
    clock.advance(DAY);
    assert.equal(r.log.length, 6);
  });

  test('any distance ahead: 30 days and 0xFFFFFFFF seconds wait their time (setTimeout alone fires after 1 ms)', () => {
    const clock = new ManualClock(0);
    const cc = counting(clock);
    const sweep = new Sweep(cc);
    const r = recorder();
    sweep.at(30 * DAY, r, 'month');
    sweep.at(0xffffffff * 1000, r, 'forever-ish');
    assert.ok(cc.set.every((ms) => ms <= MAX_TIMER_MS));
    clock.advance(30 * DAY - 1);
    assert.deepEqual(r.log, []);
    clock.advance(1);
    assert.deepEqual(r.log, [`month@${30 * DAY}`]);
    clock.advanceTo(0xffffffff * 1000 - 1);
    assert.equal(r.log.length, 1);
    clock.advance(1);
    assert.deepEqual(r.log[1], `forever-ish@${0xffffffff * 1000}`);
    assert.ok(cc.set.every((ms) => ms <= MAX_TIMER_MS), 'every timer within setTimeout range');
  });

  test('one timer at a time: re-armed only for an earlier deadline; none left when nothing is pending', () => {
    const clock = new ManualClock(0);
    const cc = counting(clock);
    const sweep = new Sweep(cc);
    const r = recorder();
    sweep.at(10_000, r, 'late');
    sweep.at(20_000, r, 'later'); // no new timer: the armed one comes first
    assert.deepEqual(cc.set, [10_000]);
    sweep.at(1000, r, 'early'); // earlier: re-armed
    assert.deepEqual(cc.set, [10_000, 1000]);
    assert.equal(clock.pending, 1);
    clock.advance(20_000);
    assert.deepEqual(r.log, ['early@1000', 'late@10000', 'later@20000']);
    assert.equal(clock.pending, 0);
  });

  test('a deadline already past fires on the next wake, never inside at()', () => {
    const clock = new ManualClock(100);
    const sweep = new Sweep(clock);
    const r = recorder();
    sweep.at(50, r, 'past');
    assert.deepEqual(r.log, []);
    clock.advance(0);
    assert.deepEqual(r.log, ['past@100']);
  });

  test('callbacks may add and cancel deadlines; a throwing one is reported and the others still run', () => {
    const clock = new ManualClock(0);
    const errors: unknown[] = [];
    const sweep = new Sweep(clock, { onError: (e) => errors.push(e) });
    const r = recorder();
    const victim = sweep.at(10, r, 'victim');
    const chain: Due<number> = {
      due: (n, now) => {
        r.log.push(`chain${n}@${now}`);
        if (n === 0) victim.cancel();
        if (n < 2) sweep.at(now + 5, chain, n + 1);
      },
    };
    sweep.at(5, chain, 0);
    sweep.at(5, { due: () => { throw new Error('boom'); } }, null);
    sweep.at(7, r, 'after-throw');
    clock.advance(100);
    assert.deepEqual(r.log, ['chain0@5', 'after-throw@7', 'chain1@10', 'chain2@15']);
    assert.equal(errors.length, 1);
  });

  test('stop: nothing fires afterwards', () => {
    const clock = new ManualClock(0);
    const sweep = new Sweep(clock);
    const r = recorder();
    sweep.at(10, r, 'x');
    sweep.stop();
    sweep.at(5, r, 'y');
    clock.advance(100);
    assert.deepEqual(r.log, []);
    assert.equal(clock.pending, 0);
  });
});

describe('Sweep: watched items', () => {
  test('checked every period while watched; the timer ends with the last one', () => {
    const clock = new ManualClock(0);
    const sweep = new Sweep(clock, { periodMs: 500 });
    const seen: number[] = [];
    const a: Swept = { onSweep: (now) => void seen.push(now) };
    sweep.watch(a);
    sweep.watch(a); // idempotent
    assert.equal(sweep.watching, 1);
    clock.advance(1499);
    assert.deepEqual(seen, [500, 1000]);
    clock.advance(1);
    assert.deepEqual(seen, [500, 1000, 1500]);
    assert.equal(sweep.lastRun, 1500);
    sweep.unwatch(a);
    clock.advance(500); // one wake finds nothing and does not re-arm
    assert.equal(clock.pending, 0);
    assert.deepEqual(seen, [500, 1000, 1500]);
  });

  test('an item may unwatch itself (or be closed) during the sweep; deadlines between checks fire on time', () => {
    const clock = new ManualClock(0);
    const sweep = new Sweep(clock, { periodMs: 500 });
    const log: string[] = [];
    const once: Swept = { onSweep: (now) => { log.push(`once@${now}`); sweep.unwatch(once); } };
    const keep: Swept = { onSweep: (now) => void log.push(`keep@${now}`) };
    sweep.watch(once);
    sweep.watch(keep);
    sweep.at(730, { due: (_s: null, now) => void log.push(`deadline@${now}`) }, null);
    clock.advance(1000);
    assert.deepEqual(log, ['once@500', 'keep@500', 'deadline@730', 'keep@1000']);
  });

  test('a check is at most one period late: an item watched mid-period is first checked a period later', () => {
    const clock = new ManualClock(0);
    const sweep = new Sweep(clock, { periodMs: 500 });
    const seen: string[] = [];
    sweep.watch({ onSweep: (now) => void seen.push(`a@${now}`) });
    clock.advance(200);
    sweep.watch({ onSweep: (now) => void seen.push(`b@${now}`) });
    clock.advance(800);
    assert.deepEqual(seen, ['a@500', 'b@500', 'a@1000', 'b@1000']);
  });

  test('periodFor: 500 ms, or half the shortest heart-beat, not below the floor', () => {
    assert.equal(Sweep.periodFor(), SWEEP_MS);
    assert.equal(Sweep.periodFor(10_000, 10_000), SWEEP_MS);
    assert.equal(Sweep.periodFor(0, 600), 300);
    assert.equal(Sweep.periodFor(1000, 0), 500);
    assert.equal(Sweep.periodFor(50, 200), MIN_SWEEP_MS);
  });
});
