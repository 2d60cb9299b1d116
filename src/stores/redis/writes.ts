/**
 * Writes in flight. Every write is sent to Redis at once (ioredis pipelines what one event-loop
 * turn sends) and tracked here by a sequence number until Redis answers:
 *
 * - `dirty` while any is unanswered;
 * - `flush()` resolves once every write tracked before the call is answered, and rejects when
 *   one of them failed (or when one failed earlier and none has succeeded since);
 * - `error` is the last failure (Redis unreachable, a timeout...) until a write made after it
 *   succeeds. A failed write is not retried: Redis misses it, and the core, which refuses QoS>0
 *   publishes while writeError is set, decides what to do.
 *
 * A write refused by a session's fence (FencedWrite) is not the store's failure (no `error`), but
 * the flushes that cover it reject: what waited for it (an acknowledgement) must not rest on it.
 * On a Redis Cluster the answers of different shards may come back out of order: the bookkeeping
 * is by sequence number, not by order of arrival.
 */
import { toError } from './connection.js';

/** ioredis's messages for a command that met no connection, said plainly. */
function reason(err: unknown): string {
  const m = toError(err).message;
  return /max retries per request|Stream isn't writeable|Connection is closed/i.test(m) ? `Redis is unreachable (${m})` : m;
}

interface Waiter {
  upTo: number;
  failed: Error | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A session write refused because another node holds the session now. */
export class FencedWrite extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedWrite';
  }
}

export class StoreWriteError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'StoreWriteError';
  }
}

export class Writes {
  private seq = 0;
  /** Unanswered writes, oldest first (a Map keeps insertion order; deletions anywhere). */
  private readonly outstanding = new Map<number, true>();
  private waiters: Waiter[] = [];
  private failure: Error | null = null;
  private failureSeq = 0;
  private lastOk = 0;
  /** Writes are refused (they throw) before open and after close. */
  state: 'new' | 'open' | 'closed' = 'new';
  /** Writes skipped because their record could not be encoded (a bug: a retry would fail again). */
  skipped = 0;
  lastSkipped: Error | null = null;

  constructor(private readonly where: string) {}

  get dirty(): boolean {
    return this.outstanding.size > 0;
  }

  get error(): Error | null {
    return this.failure;
  }

  /**
   * Make a write: `send` sends it and returns a promise that settles once Redis answered (rejects
   * when the write failed). Throws before open and after close, as a closed SQLite store does.
   */
  track(send: () => Promise<unknown>): void {
    if (this.state !== 'open') throw new Error(`redis stores on ${this.where}: ${this.state === 'new' ? 'not open (call open() first)' : 'closed'}`);
    let p: Promise<unknown>;
    try {
      p = send();
    } catch (err) {
      this.skip(err);
      return;
    }
    const s = ++this.seq;
    this.outstanding.set(s, true);
    p.then(
      () => this.done(s, null),
      (err: unknown) => this.done(s, err),
    );
  }

  /** Reads, likewise, only while open. */
  assertOpen(): void {
    if (this.state !== 'open') throw new Error(`redis stores on ${this.where}: ${this.state === 'new' ? 'not open (call open() first)' : 'closed'}`);
  }

  /** Run `write`, which encodes records and makes writes; a record it cannot encode is skipped and counted (a bug: a retry would fail again). */
  guard(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.skip(err);
    }
  }

  private skip(err: unknown): void {
    if (!(err instanceof RangeError || err instanceof TypeError)) throw err;
    this.skipped++;
    this.lastSkipped = err;
  }

  private done(s: number, err: unknown): void {
    this.outstanding.delete(s);
    if (err instanceof FencedWrite) {
      for (const w of this.waiters) if (w.upTo >= s && w.failed === null) w.failed = err;
    } else if (err !== null) {
      const e = new StoreWriteError(`cluster.redis: a write to ${this.where} failed: ${reason(err)}`, { cause: err });
      if (s > this.lastOk) {
        this.failure = e;
        this.failureSeq = s;
      }
      for (const w of this.waiters) if (w.upTo >= s && w.failed === null) w.failed = e;
    } else {
      if (s > this.lastOk) this.lastOk = s;
      if (s > this.failureSeq) this.failure = null;
    }
    this.settle();
  }

  private oldest(): number {
    for (const s of this.outstanding.keys()) return s;
    return Infinity;
  }

  private settle(): void {
    const oldest = this.oldest();
    let i = 0;
    for (; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.upTo >= oldest) break;
      const err = w.failed ?? (this.failure !== null && this.failureSeq <= w.upTo ? this.failure : null);
      if (err !== null) w.reject(err);
      else w.resolve();
    }
    if (i > 0) this.waiters = this.waiters.slice(i);
  }

  flush(): Promise<void> {
    const upTo = this.seq;
    if (this.oldest() > upTo) return this.failure !== null ? Promise.reject(this.failure) : Promise.resolve();
    return new Promise<void>((resolve, reject) => this.waiters.push({ upTo, failed: null, resolve, reject }));
  }
}
