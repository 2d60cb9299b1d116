/** Brute-force slow-down: after `freeFailures` failed logins from one address within the window, answers are delayed exponentially. */
export interface ThrottleOptions {
  windowMs: number;
  freeFailures: number;
  maxDelayMs: number;
  now?: () => number;
  /** Addresses remembered at most (oldest forgotten first). */
  maxEntries?: number;
}

export class FailureThrottle {
  private readonly entries = new Map<string, { failures: number; since: number }>();
  private readonly now: () => number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
  }

  delayFor(address: string): number {
    const e = this.entries.get(address);
    if (!e || this.now() - e.since > this.opts.windowMs) return 0;
    const over = e.failures - this.opts.freeFailures;
    if (over <= 0) return 0;
    return Math.min(this.opts.maxDelayMs, 100 * 2 ** (over - 1));
  }

  fail(address: string): void {
    const now = this.now();
    const e = this.entries.get(address);
    if (!e || now - e.since > this.opts.windowMs) {
      this.entries.delete(address);
      this.entries.set(address, { failures: 1, since: now });
      const max = this.opts.maxEntries ?? 100_000;
      if (this.entries.size > max) this.entries.delete(this.entries.keys().next().value!);
      return;
    }
    e.failures++;
  }

  succeed(address: string): void {
    this.entries.delete(address);
  }
}
