/**
 * Group commit. Every write of the stores is an operation (a closure over prepared statements)
 * appended, in call order, to `pending`; the writes return at once. One transaction commits all
 * pending operations: at the end of the event-loop turn (setImmediate) in the `sync` and `none`
 * modes, `batchMs` after the first pending write in the `batched` mode (or at the end of the turn
 * once `maxBatch` writes wait, so that one commit never holds the thread long). `flush()` resolves once
 * every write made before it is committed, and rejects when that commit fails.
 *
 * A commit that fails for a storage reason (SQLITE_FULL, an I/O error, ...) is rolled back as a
 * whole: its operations stay pending, in order, ahead of newer ones, and `dirty` stays true.
 * Every flush() waiting for them rejects with a StoreWriteError; the commit is retried every
 * `retryMs` (and by a flush() once `retryMs` has passed since the last attempt; a flush() before
 * that rejects at once with the last error). Once a retry succeeds the store holds exactly what
 * the core wrote, in order; nothing was dropped. The pending writes are lost only if the process
 * ends (or close() fails) before a retry succeeds.
 *
 * An operation that fails by itself (a constraint or a value SQLite refuses: a bug, which a
 * retry would hit again) is skipped, counted in `skipped`, and the rest of the batch commits.
 */
import type { Database, Statement } from 'better-sqlite3';

/** A commit failed: the writes it carried are still pending (see `StoreWriteError.pending`). */
export class StoreWriteError extends Error {
  constructor(
    message: string,
    readonly pending: number,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'StoreWriteError';
  }
}

export type CommitMode = 'turn' | 'timer';

export interface CommitOptions {
  /** `turn`: commit at the end of each event-loop turn with writes; `timer`: every `batchMs`. */
  mode: CommitMode;
  batchMs: number;
  /** `timer`: commit at the end of the turn instead once this many writes wait (bounds how long one commit holds the thread). */
  maxBatch: number;
  retryMs: number;
  /** Names the database in messages. */
  file: string;
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** SQLite result codes that are about the operation itself, not the storage. */
const OP_ERRORS = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/;

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class GroupCommit {
  private pending: Array<() => void> = [];
  /** Writes accepted so far / committed so far (pending = accepted - committed). */
  private accepted = 0;
  private committed = 0;
  private waiters: Waiter[] = [];
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failure: StoreWriteError | null = null;
  private lastAttempt = 0;
  private closed = false;
  private readonly begin: Statement;
  private readonly commitStmt: Statement;
  private readonly rollback: Statement;
  /** Transactions committed. */
  commits = 0;
  /** Operations skipped because they failed by themselves (see above). */
  skipped = 0;
  lastSkipped: Error | null = null;

  constructor(
    private readonly db: Database,
    private readonly opts: CommitOptions,
  ) {
    this.begin = db.prepare('BEGIN');
    this.commitStmt = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
  }

  /** True while a write is not committed. */
  get dirty(): boolean {
    return this.accepted > this.committed;
  }

  /** The last commit failure, while its writes are still pending. */
  get error(): StoreWriteError | null {
    return this.failure;
  }

  write(op: () => void): void {
    if (this.closed) throw new Error(`store ${this.opts.file} is closed`);
    this.pending.push(op);
    this.accepted++;
    if (this.pending.length === this.opts.maxBatch && this.timer !== null && this.failure === null) {
      clearTimeout(this.timer); // a full batch: commit at the end of this turn
      this.timer = null;
    }
    this.schedule();
  }

  flush(): Promise<void> {
    const upTo = this.accepted;
    if (upTo <= this.committed) return Promise.resolve();
    if (this.failure !== null) {
      if (Date.now() - this.lastAttempt < this.opts.retryMs) return Promise.reject(this.failure);
      const err = this.commit();
      return err === null ? Promise.resolve() : Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
  }

  /** Commit what is pending now (reads call it first, so they see every write), unless a commit is failing. */
  settle(): void {
    if (this.pending.length > 0 && this.failure === null) this.commit();
  }

  /** Commit now, whatever the schedule; null when everything is committed. */
  commit(): StoreWriteError | null {
    this.cancel();
    if (this.pending.length === 0) return null;
    const ops = this.pending;
    const upTo = this.accepted;
    this.lastAttempt = Date.now();
    try {
      this.begin.run();
      for (const op of ops) {
        try {
          op();
        } catch (err) {
          if (!this.db.open || !(OP_ERRORS.test(sqliteCode(err) ?? '') || err instanceof TypeError || err instanceof RangeError)) throw err;
          this.skipped++;
          this.lastSkipped = err as Error;
        }
      }
      this.commitStmt.run();
    } catch (err) {
      if (this.db.open && this.db.inTransaction) {
        try {
          this.rollback.run();
        } catch {
          /* SQLite rolled it back already */
        }
      }
      const code = sqliteCode(err);
      this.failure = new StoreWriteError(
        `cannot commit ${ops.length} write(s) to ${this.opts.file}: ${code !== undefined ? `${code}: ` : ''}${(err as Error).message}`,
        ops.length,
        { cause: err },
      );
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.reject(this.failure);
      this.schedule();
      return this.failure;
    }
    this.pending = this.pending === ops ? [] : this.pending.slice(ops.length);
    this.committed = upTo;
    this.failure = null;
    this.commits++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (w.upTo <= this.committed) w.resolve();
      else this.waiters.push(w);
    }
    return null;
  }

  /** Commit what is pending and stop accepting writes; rejects (and the pending writes are lost) when that commit fails. */
  close(): StoreWriteError | null {
    const err = this.commit();
    this.cancel();
    this.closed = true;
    this.pending = [];
    return err;
  }

  private schedule(): void {
    if (this.closed || this.immediate !== null || this.timer !== null) return;
    if (this.failure !== null) {
      const wait = Math.max(0, this.lastAttempt + this.opts.retryMs - Date.now());
      this.timer = setTimeout(this.due, wait);
      this.timer.unref(); // a failing disk does not keep the process alive; close() makes the last attempt
    } else if (this.opts.mode === 'timer' && this.pending.length < this.opts.maxBatch) this.timer = setTimeout(this.due, this.opts.batchMs);
    else this.immediate = setImmediate(this.due);
  }

  private readonly due = (): void => {
    this.immediate = null;
    this.timer = null;
    this.commit();
  };

  private cancel(): void {
    if (this.immediate !== null) clearImmediate(this.immediate);
    if (this.timer !== null) clearTimeout(this.timer);
    this.immediate = null;
    this.timer = null;
  }
}
