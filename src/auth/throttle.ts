/**
 * Login throttling (brute-force slow-down), one per broker.
 *
 * - Failed logins are counted per remote address and per login id, each over a sliding window
 *   of `windowMs` (two fixed buckets, the previous one weighted by how much of it the window
 *   still covers). An IPv6 address counts by its /64 (one subscriber's prefix, which an attacker
 *   can rotate through freely); an IPv4 address embedded in IPv6 (`::ffff:a.b.c.d`) as itself.
 * - A success resets nothing: another login's success (or the attacker's own valid key) must
 *   not buy more guesses, and forgiving one login would need per-(address, login) state.
 * - Past its free allowance a counter asks for 100 ms, doubling per further failure, capped at
 *   `maxDelayMs`; a failed login is answered after the larger of the address's and the login's.
 * - Pending logins (being verified, or waiting for their delayed failure answer) are counted per
 *   address; at `maxPendingPerAddress` further logins from that address are refused at once.
 *   With the delay this bounds the guessing rate: a failed guess holds its slot until answered,
 *   even when the client hangs up early.
 * - Every map is keyed by values the client chooses, so each holds at most `maxEntries` keys:
 *   failure counters forget the least recently failed first; the pending table, whose counts
 *   cannot be forgotten, refuses addresses it has no room for.
 */
import { isIPv6 } from 'node:net';

export interface ThrottleOptions {
  /** Failures are remembered over this sliding window, ms. */
  windowMs: number;
  freeFailuresPerAddress: number;
  freeFailuresPerLogin: number;
  maxDelayMs: number;
  maxPendingPerAddress: number;
  now?: () => number;
  /** Keys each table holds at most (default 100,000). */
  maxEntries?: number;
}

/** The first delay past the free failures, ms; it doubles per failure up to maxDelayMs. */
export const BASE_DELAY_MS = 100;
const DEFAULT_MAX_ENTRIES = 100_000;

/** Failures in the bucket [start, start + window) and in the one before it. */
interface Bucket {
  start: number;
  cur: number;
  prev: number;
}

/** Failures inside the sliding window ending at `now` (estimated: the previous bucket is weighted). */
function estimate(b: Bucket, now: number, w: number): number {
  const age = now - b.start;
  if (age < 0) return b.cur + b.prev; // the clock went back
  if (age < w) return b.cur + (b.prev * (w - age)) / w;
  if (age < 2 * w) return (b.cur * (2 * w - age)) / w;
  return 0;
}

function roll(b: Bucket, now: number, w: number): void {
  const age = now - b.start;
  if (age < w) return;
  if (age < 2 * w) {
    b.prev = b.cur;
    b.start += w;
  } else {
    b.prev = 0;
    b.start = now;
  }
  b.cur = 0;
}

/** Failure counters keyed by address or login; least recently failed first (Map order). */
class FailureCounts {
  private readonly map = new Map<string, Bucket>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Failures inside the window, rounded up. */
  count(key: string, now: number): number {
    const b = this.map.get(key);
    if (b === undefined) return 0;
    const n = estimate(b, now, this.windowMs);
    if (n === 0) this.map.delete(key);
    return Math.ceil(n - 1e-9);
  }

  add(key: string, now: number): void {
    const w = this.windowMs;
    let b = this.map.get(key);
    if (b !== undefined) {
      roll(b, now, w);
      b.cur++;
      this.map.delete(key); // re-inserted last: most recently failed
    } else {
      b = { start: now, cur: 1, prev: 0 };
      // Forget what has aged out, then the least recently failed if still full.
      for (const [k, old] of this.map) {
        if (this.map.size < this.maxEntries && estimate(old, now, w) > 0) break;
        this.map.delete(k);
      }
    }
    this.map.set(key, b);
  }
}

/**
 * The key an address is counted under: IPv4 (and anything not IPv6) as is, an IPv6 address
 * with an embedded dotted IPv4 as that IPv4, other IPv6 addresses as their /64 ("2001:db8:0:1::/64").
 */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  if (address.includes('.')) {
    const v4 = address.slice(address.lastIndexOf(':') + 1);
    return v4.length > 0 && !v4.includes('%') ? v4 : address;
  }
  const zone = address.indexOf('%');
  const a = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  if (!isIPv6(a)) return address;
  const gap = a.indexOf('::');
  const split = (s: string): string[] => (s.length === 0 ? [] : s.split(':'));
  const head = gap === -1 ? split(a) : split(a.slice(0, gap));
  const tail = gap === -1 ? [] : split(a.slice(gap + 2));
  const groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

export class LoginThrottle {
  private readonly byAddress: FailureCounts;
  private readonly byLogin: FailureCounts;
  private readonly pending = new Map<string, number>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.byAddress = new FailureCounts(opts.windowMs, this.maxEntries);
    this.byLogin = new FailureCounts(opts.windowMs, this.maxEntries);
  }

  /**
   * Whether a login from this address must be refused at once ("server busy"): it has
   * `maxPendingPerAddress` logins pending, or the pending table has no room for it.
   * The successful profile-key path: no allocation while nothing is pending, nor ever for an
   * IPv4 address (an IPv6 or IPv4-mapped one costs one short key string).
   */
  full(address: string): boolean {
    if (this.pending.size === 0) return false;
    const n = this.pending.get(addressKey(address));
    if (n === undefined) return this.pending.size >= this.maxEntries;
    return n >= this.opts.maxPendingPerAddress;
  }

  /** A login from this address is now pending; pair with exactly one release(). */
  acquire(address: string): void {
    const key = addressKey(address);
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  release(address: string): void {
    const key = addressKey(address);
    const n = this.pending.get(key);
    if (n === undefined) return;
    if (n <= 1) this.pending.delete(key);
    else this.pending.set(key, n - 1);
  }

  /** Logins pending from this address. */
  pendingFor(address: string): number {
    return this.pending.get(addressKey(address)) ?? 0;
  }

  /** Record a failed login. */
  fail(address: string, login: string): void {
    const now = this.now();
    this.byAddress.add(addressKey(address), now);
    this.byLogin.add(login, now);
  }

  /** How long to hold back the answer to a failed login, ms: the larger of the address's and the login's delays. */
  delayFor(address: string, login: string): number {
    const now = this.now();
    const a = this.delay(this.byAddress.count(addressKey(address), now) - this.opts.freeFailuresPerAddress);
    const l = this.delay(this.byLogin.count(login, now) - this.opts.freeFailuresPerLogin);
    return Math.max(a, l);
  }

  /** Keys held per table (tests, metrics). */
  get sizes(): { addresses: number; logins: number; pending: number } {
    return { addresses: this.byAddress.size, logins: this.byLogin.size, pending: this.pending.size };
  }

  private delay(over: number): number {
    if (over <= 0) return 0;
    return Math.min(this.opts.maxDelayMs, BASE_DELAY_MS * 2 ** Math.min(over - 1, 40));
  }
}
