/**
 * The SQLite backend: every store in one file, `<dataDir>/switchboard.db` (better-sqlite3, WAL).
 *
 * Writes return at once and are committed by group commit (commit.ts), one transaction per
 * event-loop turn or per `batchMs`. What each durability loses:
 *   - `sync`     commits at the end of every turn with writes, `synchronous=FULL` (the WAL is
 *                fsynced by each commit): once flush() resolves the writes survive a crash of
 *                the process, the OS or the power. A crash loses only writes not yet flushed.
 *   - `batched`  commits every `batchMs` (default 10; sooner once `maxBatch` writes wait),
 *                `synchronous=FULL`: a crash loses at most the writes of the last `batchMs`;
 *                flush() resolves at the next commit (it does not force one).
 *   - `none`     commits at the end of every turn, `synchronous=OFF` (no fsync): a crash of the
 *                process loses only the current turn; a crash of the OS or the power can lose
 *                recent commits, or damage the file.
 * Reads see every write made before them (they commit what is pending first).
 *
 * Opening refuses, with an Error naming the file or directory: a data directory another store
 * holds (SQLite's exclusive locking mode: the lock is the OS's, released when its process dies;
 * `switchboard.lock` only names the holder's pid for the message), a file that is not SQLite or
 * not ours (`PRAGMA application_id`), a schema newer than this code, and a directory it cannot
 * create or write. A refused file is never written to.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { topicMatchesRecord } from '../match.js';
import type { Durability, MessageRecord, Stores } from '../types.js';
import { GroupCommit } from './commit.js';
import { SqliteDeadLetterStore } from './dead-letters.js';
import type { DeadLetterBounds } from './dead-letters.js';
import { SqliteQueueStore } from './queues.js';
import { SqliteRetainedStore } from './retained.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, TABLES } from './schema.js';
import { SqliteSessionStore } from './sessions.js';

export { StoreWriteError } from './commit.js';
export { APPLICATION_ID, SCHEMA_VERSION } from './schema.js';

export const DB_FILE = 'switchboard.db';
export const LOCK_FILE = 'switchboard.lock';

export interface SqliteStoresOptions {
  /** Created when missing (unless `create` is false); holds switchboard.db and switchboard.lock. */
  dataDir: string;
  /** Default 'sync'. */
  durability?: Durability;
  /** `batched`: commit every `batchMs` ms (default 10). */
  batchMs?: number;
  /** `batched`: commit early (at the end of the turn) once this many writes wait (default 2000, about 15 ms of SQLite work). */
  maxBatch?: number;
  /** Dead letters kept per application (default 10,000) and their age bound (default 7 days). */
  deadLetters?: Partial<DeadLetterBounds>;
  /** After a failed commit, retry every `retryMs` (default 1000). */
  retryMs?: number;
  /** How long to wait for a data directory another store holds (default 0: refuse at once). */
  lockTimeoutMs?: number;
  /** A size cap for switchboard.db: a commit that would pass it fails as on a full disk (SQLITE_FULL). Default: none. */
  maxBytes?: number;
  /** false: the store must exist already (the `switchboard store` commands). Default true. */
  create?: boolean;
  /** The clock of the dead-letter age bound (tests). */
  now?: () => number;
}

/** Opening failed: the message names the file or directory and what to do. */
export class StoreOpenError extends Error {
  constructor(
    message: string,
    readonly path: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

export interface StoreStats {
  file: string;
  schemaVersion: number;
  durability: Durability;
  /** Bytes of switchboard.db and of its WAL. */
  fileBytes: number;
  walBytes: number;
  /** Rows per table and application (children of sessions counted under their session's application). */
  tables: Record<string, Record<string, number>>;
  /** Transactions committed since open. */
  commits: number;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** An error's message, with its code in front unless the message starts with it (Node's fs errors do). */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const m = String(e.message ?? err);
  return e.code !== undefined && !m.startsWith(e.code) ? `${e.code}: ${m}` : m;
}

/** Read the SQLite header of `file` (null: missing or empty) and refuse what is not ours. */
function checkHeader(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StoreOpenError(`cannot read ${file}: ${reason(err)}`, file, { cause: err });
  }
  try {
    const head = Buffer.alloc(100);
    const n = readSync(fd, head, 0, 100, 0);
    if (n === 0) return; // empty: a new store
    if (n < 100 || !head.subarray(0, 16).equals(SQLITE_MAGIC))
      throw new StoreOpenError(`${file} is not a SQLite database: refusing to open it (it was not modified; move it away or choose another data directory)`, file);
    const appId = head.readInt32BE(68);
    if (appId !== 0 && appId !== APPLICATION_ID)
      throw new StoreOpenError(`${file} is a SQLite database of another application (application_id ${hex(appId)}, a Switchboard store has ${hex(APPLICATION_ID)}): refusing to open it (it was not modified)`, file);
  } finally {
    closeSync(fd);
  }
}

/** The pid in a lock file, if it names one. */
function lockPid(lockFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function holder(lockFile: string): string {
  const pid = lockPid(lockFile);
  if (pid === null) return 'another process';
  return pid === process.pid ? `this process (pid ${pid}: another SqliteStores has it open)` : `process ${pid}`;
}

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

export class SqliteStores implements Stores {
  readonly sessions: SqliteSessionStore;
  readonly retained: SqliteRetainedStore;
  readonly queues: SqliteQueueStore;
  readonly deadLetters: SqliteDeadLetterStore;
  private readonly gc: GroupCommit;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly db: Db,
    readonly dataDir: string,
    readonly file: string,
    private readonly lockFile: string,
    readonly durability: Durability,
    opts: SqliteStoresOptions,
  ) {
    this.gc = new GroupCommit(db, {
      mode: durability === 'batched' ? 'timer' : 'turn',
      batchMs: opts.batchMs ?? 10,
      maxBatch: opts.maxBatch ?? 2000,
      retryMs: opts.retryMs ?? 1000,
      file,
    });
    this.sessions = new SqliteSessionStore(db, this.gc);
    this.retained = new SqliteRetainedStore(db, this.gc);
    this.queues = new SqliteQueueStore(db, this.gc);
    this.deadLetters = new SqliteDeadLetterStore(
      db,
      this.gc,
      { maxCount: opts.deadLetters?.maxCount ?? 10_000, maxAgeMs: opts.deadLetters?.maxAgeMs ?? 7 * 24 * 3600 * 1000 },
      opts.now ?? Date.now,
    );
  }

  /** Open (or create) the store of `dataDir`; see the file comment for what is refused. */
  static async open(opts: SqliteStoresOptions): Promise<SqliteStores> {
    const dir = resolve(opts.dataDir);
    const file = join(dir, DB_FILE);
    const lockFile = join(dir, LOCK_FILE);
    const durability = opts.durability ?? 'sync';
    const create = opts.create ?? true;

    if (create) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') // a file in the way: said below
          throw new StoreOpenError(`cannot create the data directory ${dir}: ${reason(err)}`, dir, { cause: err });
      }
    }
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      if (!create && (err as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreOpenError(`no store in ${dir}: the directory does not exist`, dir, { cause: err });
      throw new StoreOpenError(`cannot open the data directory ${dir}: ${reason(err)}`, dir, { cause: err });
    }
    if (!isDir) throw new StoreOpenError(`the data directory ${dir} is not a directory`, dir);
    try {
      accessSync(dir, constants.W_OK);
    } catch (err) {
      throw new StoreOpenError(`the data directory ${dir} is not writable (${reason(err)})`, dir, { cause: err });
    }
    if (!create) {
      try {
        if (statSync(file).size === 0) throw new Error('empty');
      } catch (err) {
        throw new StoreOpenError(`no store in ${dir}: ${file} does not exist or is empty`, file, { cause: err });
      }
    }
    checkHeader(file);

    let db: Db;
    try {
      db = new Database(file, { timeout: opts.lockTimeoutMs ?? 0 });
    } catch (err) {
      throw new StoreOpenError(`cannot open ${file}: ${reason(err)}`, file, { cause: err });
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      try {
        db.exec('BEGIN EXCLUSIVE; COMMIT'); // takes the lock, held until close
      } catch (err) {
        const code = sqliteCode(err);
        if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
          throw new StoreOpenError(`the data directory ${dir} is in use by ${holder(lockFile)}: ${file} is locked (lock file ${lockFile}); stop that broker first or choose another data directory`, file, { cause: err });
        if (code === 'SQLITE_NOTADB') throw new StoreOpenError(`${file} is not a SQLite database: refusing to open it (it was not modified)`, file, { cause: err });
        throw err;
      }
      const appId = db.pragma('application_id', { simple: true }) as number;
      const version = db.pragma('user_version', { simple: true }) as number;
      const objects = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM sqlite_master').get()?.n ?? 0;
      if (appId !== APPLICATION_ID && !(appId === 0 && objects === 0))
        throw new StoreOpenError(`${file} is a SQLite database of another application (application_id ${hex(appId)}, a Switchboard store has ${hex(APPLICATION_ID)}): refusing to open it (it was not modified)`, file);
      if (version > SCHEMA_VERSION)
        throw new StoreOpenError(`${file} has schema version ${version}, newer than this Switchboard knows (${SCHEMA_VERSION}): upgrade Switchboard`, file);
      migrate(db, version);
      // WAL after the first migration: a new file's first commit (in rollback-journal mode) carries the application_id.
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode !== 'wal') throw new StoreOpenError(`cannot put ${file} in WAL mode (journal_mode stays ${mode})`, file);
      db.pragma(`synchronous = ${durability === 'none' ? 'OFF' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
      if (opts.maxBytes !== undefined) setMaxBytes(db, opts.maxBytes);
      db.function('sb_topic_matches', { deterministic: true }, (f: unknown, t: unknown) => (topicMatchesRecord(String(f), String(t)) ? 1 : 0));
      try {
        writeFileSync(lockFile, `${process.pid}\n`);
      } catch (err) {
        throw new StoreOpenError(`cannot write the lock file ${lockFile}: ${reason(err)}`, lockFile, { cause: err });
      }
      return new SqliteStores(db, dir, file, lockFile, durability, opts);
    } catch (err) {
      db.close();
      if (err instanceof StoreOpenError) throw err;
      throw new StoreOpenError(`cannot open ${file}: ${reason(err)}`, file, { cause: err });
    }
  }

  /** True while a write is not committed. */
  get dirty(): boolean {
    return this.gc.dirty;
  }

  /** Transactions committed since open. */
  get commits(): number {
    return this.gc.commits;
  }

  /** The last commit failure while its writes are still pending (they are retried), else null. */
  get writeError(): Error | null {
    return this.gc.error;
  }

  /** Change the size cap (null: none); a failing commit is retried with the new cap at its next attempt. */
  setMaxBytes(bytes: number | null): void {
    setMaxBytes(this.db, bytes);
  }

  /** Resolves once every write made before the call is committed (durable as the durability says); rejects with a StoreWriteError when that commit fails. */
  flush(): Promise<void> {
    return this.gc.flush();
  }

  /** Commits what is pending and releases the data directory. Rejects when that last commit fails: those writes are lost. */
  close(): Promise<void> {
    this.closing ??= this.shut();
    return this.closing;
  }

  private async shut(): Promise<void> {
    const err = this.gc.close();
    try {
      if (lockPid(this.lockFile) === process.pid) rmSync(this.lockFile, { force: true });
    } catch {
      /* the lock is SQLite's; the file only names its holder */
    }
    this.db.close();
    if (err !== null) throw err;
  }

  /** Counts per table and application, file sizes (`switchboard store stats`). */
  stats(): StoreStats {
    this.gc.settle();
    const tables: Record<string, Record<string, number>> = {};
    for (const t of TABLES) {
      const sql =
        t === 'sessions' || t === 'retained' || t === 'queue_entries' || t === 'dead_letters'
          ? `SELECT app, COUNT(*) AS n FROM ${t} GROUP BY app ORDER BY app`
          : `SELECT s.app AS app, COUNT(*) AS n FROM ${t} JOIN sessions s USING (sid) GROUP BY s.app ORDER BY s.app`;
      const counts: Record<string, number> = {};
      for (const r of this.db.prepare<[], { app: string; n: number }>(sql).all()) counts[r.app] = r.n;
      tables[t] = counts;
    }
    return {
      file: this.file,
      schemaVersion: this.db.pragma('user_version', { simple: true }) as number,
      durability: this.durability,
      fileBytes: size(this.file),
      walBytes: size(`${this.file}-wal`),
      tables,
      commits: this.gc.commits,
    };
  }

  /** Every application that has something stored. */
  apps(): string[] {
    this.gc.settle();
    return this.db
      .prepare<[], { app: string }>('SELECT app FROM sessions UNION SELECT app FROM retained UNION SELECT app FROM queue_entries UNION SELECT app FROM dead_letters ORDER BY app')
      .all()
      .map((r) => r.app);
  }

  /** Everything stored (of `app`, or of every application), as JSON-able records (payloads and binary metadata in base64). */
  async *exportRecords(app?: string): AsyncIterable<Record<string, unknown>> {
    for (const a of app === undefined ? this.apps() : [app]) yield* this.exportApp(a);
  }

  private async *exportApp(app: string): AsyncIterable<Record<string, unknown>> {
    for await (const s of this.sessions.sessions(app)) {
      yield {
        type: 'session',
        ...s,
        will: s.will === null ? null : { delay: s.will.delay, msg: jsonMessage(s.will.msg) },
        inflight: s.inflight.map((x) => ({ ...x, delivery: { ...x.delivery, msg: jsonMessage(x.delivery.msg) } })),
      };
      for (let offset = 0; ; ) {
        const page = await this.sessions.queuePage(app, s.clientId, offset, 1000);
        if (page.length === 0) break;
        for (const d of page) yield { type: 'queued', app, clientId: s.clientId, delivery: { ...d, msg: jsonMessage(d.msg) } };
        offset += page.length;
      }
    }
    for await (const m of this.retained.retained(app)) yield { type: 'retained', app, msg: jsonMessage(m) };
    for await (const q of this.queues.queues(app))
      for (const m of q.messages) yield { type: 'queue', app, filter: q.filter, name: q.name, id: m.id, attempts: m.attempts, msg: jsonMessage(m.msg) };
    for (let before = 0; ; ) {
      const page = await this.deadLetters.deadLetters(app, {}, before, 1000);
      if (page.length === 0) break;
      for (const d of page) yield { type: 'deadLetter', ...d, msg: jsonMessage(d.msg) };
      before = page[page.length - 1]!.id;
    }
  }

  /** Checkpoint the WAL into the file and VACUUM it (`switchboard store compact`); returns the bytes before and after. */
  compact(): { before: number; after: number } {
    const err = this.gc.commit();
    if (err !== null) throw err;
    const before = size(this.file) + size(`${this.file}-wal`);
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return { before, after: size(this.file) + size(`${this.file}-wal`) };
  }
}

/** Take the database from `version` to SCHEMA_VERSION, one transaction per step (with the version bump). */
function migrate(db: Db, version: number): void {
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    })();
  }
}

/** PRAGMA max_page_count: SQLite answers SQLITE_FULL past it, as it does on a full disk. */
function setMaxBytes(db: Db, bytes: number | null): void {
  const page = db.pragma('page_size', { simple: true }) as number;
  const pages = bytes === null ? 0xfffffffe : Math.max(1, Math.floor(bytes / page));
  db.pragma(`max_page_count = ${pages}`);
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function jsonMessage(m: MessageRecord): Record<string, unknown> {
  const meta = m.meta === null ? null : { ...m.meta, ...(m.meta.correlationData !== undefined ? { correlationData: m.meta.correlationData.toString('base64') } : {}) };
  return { ...m, payload: m.payload.toString('base64'), meta };
}
