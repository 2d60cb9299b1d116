/**
 * Time for the whole broker: one injected `Clock`, and one `Sweep` built on it that serves every
 * timer the broker needs, whatever the protocol.
 *
 * Why one sweep instead of a timer per connection or session: a Node `Timeout` and its closure
 * cost a few hundred bytes each, which an idle fleet pays per connection (see README
 * "Benchmarks"), and setTimeout cannot wait longer than 2^31-1 ms (24.8 days): longer delays fire
 * after 1 ms. The sweep holds one timer at a time and serves two kinds of work:
 *
 * - watched items (`Swept`), checked every `periodMs` while any is watched: activity-based
 *   timeouts that move with every packet (MQTT keepalive, STOMP heart-beats both ways). A packet
 *   only stores a time; nothing is re-armed per packet. A check runs up to `periodMs` after
 *   the moment it could first decide, so such timeouts are late by at most one period.
 * - deadlines (`at()`): a binary min-heap of absolute times (ms since the epoch, the clock's
 *   scale): connect timeouts, token expiry, session expiry, will delays. The timer is armed for
 *   the earliest one (in steps of at most MAX_TIMER_MS), so a deadline fires on time, whatever
 *   its distance: a 30-day session expiry waits 30 days. Cancelling removes the entry (O(log n)).
 *
 * The timer wakes at min(next check, earliest deadline) and is not re-armed when nothing is left.
 * Deadlines are times on the clock, which is the wall clock (as message expiry and stored session
 * times must be): a step of the system time moves them with it, as it moves keepalive checks.
 * Invariants: every callback runs from the sweep's timer, never from the call that registered it
 * (a deadline already past fires on the next wake, a turn later); a callback may watch, unwatch,
 * add or cancel deadlines, including its own; a callback that throws is reported to `onError`
 * and does not stop the others.
 */

/** setTimeout's longest delay (2^31-1 ms, 24.8 days); longer waits are made in steps. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Default sweep period, ms: the most the periodic checks (keepalive, heart-beats) add. */
export const SWEEP_MS = 500;

/** The shortest sweep period periodFor() picks, ms (a lower bound on the sweep's CPU cost). */
export const MIN_SWEEP_MS = 100;

/** A scheduled callback that can be called off. */
export interface Timer {
  cancel(): void;
}

/**
 * The broker's source of time. `now()` is wall-clock time in ms since the epoch (the scale of
 * Date.now(): message expiry, presence `since`, dead-letter times and stored session times are
 * compared with it, also across restarts). `setTimer` calls `fn` once after `ms` (0 <= ms <=
 * MAX_TIMER_MS); the timer must not keep the process alive.
 */
export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): Timer;
}

class SystemTimer implements Timer {
  constructor(private readonly t: ReturnType<typeof setTimeout>) {}
  cancel(): void {
    clearTimeout(this.t);
  }
}

/**
 * The real clock. `Date.now` and `setTimeout` are looked up on every call, so node:test
 * `mock.timers` (apis `setTimeout` and `Date`) drive a broker that uses it.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    if (!(ms >= 0 && ms <= MAX_TIMER_MS)) throw new RangeError(`timer delay ${ms} ms is outside 0..${MAX_TIMER_MS}`);
    const t = setTimeout(fn, ms);
    t.unref?.();
    return new SystemTimer(t);
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told: for tests and for embedders testing their integration.
 * `advance(ms)` / `advanceTo(time)` run the timers that fall due, in time order (equal times in
 * the order they were set), each with `now()` at its own due time, including timers set by those
 * callbacks inside the window. Time never goes backwards.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start: number = Date.now()) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (!(ms >= 0 && ms <= MAX_TIMER_MS)) throw new RangeError(`timer delay ${ms} ms is outside 0..${MAX_TIMER_MS}`);
    const timer: ManualTimer = { at: this.t + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.timers.filter((x) => !x.cancelled).length;
  }

  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(time: number): void {
    for (;;) {
      this.timers = this.timers.filter((x) => !x.cancelled);
      let next: ManualTimer | undefined;
      for (const x of this.timers) if (x.at <= time && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (next === undefined) break;
      next.cancelled = true;
      if (next.at > this.t) this.t = next.at;
      next.fn();
    }
    if (time > this.t) this.t = time;
  }
}

/** Checked by the sweep every period while watched (activity-based timeouts). */
export interface Swept {
  /** `now`: the clock's time at this sweep. */
  onSweep(now: number): void;
}

/**
 * What a deadline calls when due: one shared object per kind of deadline (not a closure per
 * entry), given the entry's subject.
 */
export interface Due<T> {
  due(subject: T, now: number): void;
}

/** A pending deadline: its time, and a way to call it off (idempotent; a no-op once fired). */
export interface Deadline extends Timer {
  readonly at: number;
}

/** What the heap holds: a time, a position, and what to do when due. */
interface HeapEntry {
  readonly at: number;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
  fire(now: number): void;
}

class Entry<T> implements Deadline, HeapEntry {
  index = -1;
  constructor(
    private readonly sweep: Sweep,
    readonly at: number,
    private readonly handler: Due<T>,
    private readonly subject: T,
  ) {}
  cancel(): void {
    if (this.index >= 0) this.sweep.remove(this);
  }
  fire(now: number): void {
    this.handler.due(this.subject, now);
  }
}

export interface SweepOptions {
  /** The checks' period, ms (default SWEEP_MS; see Sweep.periodFor). */
  periodMs?: number;
  /** A callback threw: report it (default: rethrown outside the sweep, as an uncaught error). */
  onError?: (err: unknown) => void;
}

/**
 * One per broker (createBroker), shared by its applications and protocols. Per broker rather than
 * per process (as the keepalive interval was): the clock is the broker's (tests and embedders
 * inject one, several brokers in a process may run on different clocks), and `stop()` ends the
 * broker's timers with it. A process running one broker, as the CLI and each cluster worker do,
 * has one sweep and at most one pending timer.
 */
export class Sweep {
  readonly periodMs: number;
  /**
   * The clock's time at the sweep's last wake (or last start): a cheap lower bound of now() for
   * stamps that may be early but never late (when a STOMP connection last wrote).
   */
  lastRun: number;
  private readonly watched = new Set<Swept>();
  private readonly heap: HeapEntry[] = [];
  private timer: Timer | null = null;
  /** When the armed timer fires (Infinity: none). */
  private wakeAt = Infinity;
  /** When the watched items are checked next. */
  private nextCheck = 0;
  private running = false;
  private stopped = false;
  private readonly onError: (err: unknown) => void;

  constructor(
    readonly clock: Clock,
    opts: SweepOptions = {},
  ) {
    this.periodMs = opts.periodMs ?? SWEEP_MS;
    if (!(this.periodMs > 0 && this.periodMs <= MAX_TIMER_MS)) throw new RangeError(`sweep period ${this.periodMs} ms`);
    this.onError =
      opts.onError ??
      ((err) =>
        queueMicrotask(() => {
          throw err;
        }));
    this.lastRun = clock.now();
  }

  /**
   * The period that keeps `intervals` (ms, 0 = none: STOMP heart-beats the broker offers or
   * asks for) on time: SWEEP_MS, or half the shortest interval if that is less, but not below
   * MIN_SWEEP_MS.
   */
  static periodFor(...intervals: number[]): number {
    let p = SWEEP_MS;
    for (const ms of intervals) if (ms > 0 && ms / 2 < p) p = ms / 2;
    return Math.max(MIN_SWEEP_MS, Math.floor(p));
  }

  now(): number {
    return this.clock.now();
  }

  /** Items checked every period. */
  get watching(): number {
    return this.watched.size;
  }

  /** Deadlines pending. */
  get pending(): number {
    return this.heap.length;
  }

  /** Check `x` every period from now on (idempotent). */
  watch(x: Swept): void {
    if (this.watched.size === 0) {
      const now = this.clock.now();
      this.lastRun = now;
      this.nextCheck = now + this.periodMs;
    }
    this.watched.add(x);
    this.arm();
  }

  /** Stop checking `x` (idempotent). The timer is not touched: a wake with nothing to do ends it. */
  unwatch(x: Swept): void {
    this.watched.delete(x);
  }

  /** Call `handler.due(subject, now)` at `time` (ms since the epoch, any distance ahead). */
  at<T>(time: number, handler: Due<T>, subject: T): Deadline {
    const e = new Entry<T>(this, time, handler, subject);
    const heap = this.heap;
    e.index = heap.length;
    heap.push(e);
    this.up(heap.length - 1);
    if (e.index === 0) this.arm();
    return e;
  }

  /** No more callbacks (the broker stopped); pending work is kept but never runs. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.wakeAt = Infinity;
  }

  /** @internal Entry.cancel(): take `e` out of the heap. */
  remove(e: HeapEntry): void {
    const heap = this.heap;
    const i = e.index;
    e.index = -1;
    const last = heap.pop()!;
    if (last === e) return;
    heap[i] = last;
    last.index = i;
    this.down(i);
    this.up(last.index);
  }

  /** The timer: due deadlines first (in time order), then the periodic checks when their time came. */
  private readonly run = (): void => {
    this.timer = null;
    this.wakeAt = Infinity;
    if (this.stopped) return;
    this.running = true;
    const now = this.clock.now();
    this.lastRun = now;
    try {
      const heap = this.heap;
      for (let e = heap[0]; e !== undefined && e.at <= now; e = heap[0]) {
        this.remove(e);
        try {
          e.fire(now);
        } catch (err) {
          this.onError(err);
        }
      }
      if (this.watched.size > 0 && now >= this.nextCheck) {
        this.nextCheck = now + this.periodMs;
        // Deleting the current entry of a Set while iterating it is safe.
        for (const x of this.watched) {
          try {
            x.onSweep(now);
          } catch (err) {
            this.onError(err);
          }
        }
      }
    } finally {
      this.running = false;
      this.arm();
    }
  };

  /** Arm the timer for the earliest work, unless it is armed for that time or earlier. */
  private arm(): void {
    if (this.stopped || this.running) return;
    let at = this.watched.size > 0 ? this.nextCheck : Infinity;
    const first = this.heap[0];
    if (first !== undefined && first.at < at) at = first.at;
    if (at === Infinity) return;
    if (this.timer !== null) {
      if (this.wakeAt <= at) return;
      this.timer.cancel();
    }
    const now = this.clock.now();
    const ms = Math.min(Math.max(0, Math.ceil(at - now)), MAX_TIMER_MS);
    this.wakeAt = now + ms;
    this.timer = this.clock.setTimer(ms, this.run);
  }

  private up(i: number): void {
    const heap = this.heap;
    const e = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (parent.at <= e.at) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r]!.at < heap[l]!.at ? r : l;
      const child = heap[c]!;
      if (child.at >= e.at) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}
