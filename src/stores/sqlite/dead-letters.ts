/**
 * Dead letters in SQLite, bounded per application by count and by age. Each insert trims, in the
 * same transaction and at the cost of a few index lookups: past `maxCount` the oldest go (the
 * count is kept in dead_letter_counts by triggers, so no COUNT(*)), and those older than
 * `maxAgeMs` go (an index on (app, time)). Reads hide letters past the age bound.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { DeadLetterFilter, DeadLetterRecord, DeadLetterStore } from '../types.js';
import { MESSAGE_COLUMNS, MESSAGE_PARAMS, messageOf, messageParams } from './codec.js';
import type { MessageRow } from './codec.js';
import type { GroupCommit } from './commit.js';

export interface DeadLetterBounds {
  /** Dead letters kept per application. */
  maxCount: number;
  /** Older ones are dropped, ms. */
  maxAgeMs: number;
}

type LetterRow = MessageRow & { id: number; reason: string; to_client: string | null; time: number };

interface Query {
  app: string;
  before: number;
  since: number;
  reason: string | null;
  to: string | null;
  topic: string | null;
}

const WHERE = `app = @app AND id < @before AND time >= @since
  AND (@reason IS NULL OR reason = @reason) AND (@to IS NULL OR to_client = @to) AND (@topic IS NULL OR sb_topic_matches(@topic, topic))`;

export class SqliteDeadLetterStore implements DeadLetterStore {
  private nextId: number;
  private readonly insert: Statement<object>;
  private readonly trimCount: Statement<{ app: string; max: number }>;
  private readonly trimAge: Statement<[string, number]>;
  private readonly select: Statement<Query & { limit: number }, LetterRow>;
  private readonly purgeAll: Statement<Query>;
  private readonly purgeOne: Statement<Query & { id: number }>;

  constructor(
    private readonly db: Database,
    private readonly gc: GroupCommit,
    private readonly bounds: DeadLetterBounds,
    private readonly now: () => number,
  ) {
    const last = db.prepare<[], { n: number | null }>("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'dead_letters'), 0), COALESCE((SELECT MAX(id) FROM dead_letters), 0)) AS n").get();
    this.nextId = (last?.n ?? 0) + 1;
    this.insert = db.prepare(`INSERT INTO dead_letters (id, app, reason, to_client, time, ${MESSAGE_COLUMNS}) VALUES (@id, @app, @reason, @to_client, @time, ${MESSAGE_PARAMS})`);
    this.trimCount = db.prepare(
      `DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE app = @app ORDER BY id
         LIMIT max(0, COALESCE((SELECT n FROM dead_letter_counts WHERE app = @app), 0) - @max))`,
    );
    this.trimAge = db.prepare('DELETE FROM dead_letters WHERE app = ? AND time < ?');
    this.select = db.prepare(`SELECT id, reason, to_client, time, ${MESSAGE_COLUMNS} FROM dead_letters WHERE ${WHERE} ORDER BY id DESC LIMIT @limit`);
    this.purgeAll = db.prepare(`DELETE FROM dead_letters WHERE ${WHERE}`);
    this.purgeOne = db.prepare(`DELETE FROM dead_letters WHERE id = @id AND ${WHERE}`);
  }

  addDeadLetter(letter: Omit<DeadLetterRecord, 'id'>): number {
    const id = this.nextId++;
    const p = messageParams(letter.msg, { id, app: letter.app, reason: letter.reason, to_client: letter.to, time: letter.time });
    const oldest = this.now() - this.bounds.maxAgeMs;
    const trim = { app: letter.app, max: this.bounds.maxCount };
    this.gc.write(() => {
      this.insert.run(p);
      this.trimCount.run(trim);
      this.trimAge.run(letter.app, oldest);
    });
    return id;
  }

  private query(app: string, f: DeadLetterFilter, before: number): Query {
    return {
      app,
      before: before === 0 ? Number.MAX_SAFE_INTEGER : before,
      since: this.now() - this.bounds.maxAgeMs,
      reason: f.reason ?? null,
      to: f.to ?? null,
      topic: f.topic ?? null,
    };
  }

  async deadLetters(app: string, filter: DeadLetterFilter, before: number, limit: number): Promise<DeadLetterRecord[]> {
    this.gc.settle();
    return this.select.all({ ...this.query(app, filter, before), limit }).map((r) => ({
      id: r.id,
      app,
      reason: r.reason,
      to: r.to_client,
      time: r.time,
      msg: messageOf(r),
    }));
  }

  /** Deletes at once, in its own transaction, after committing what is pending (rejects if that fails). */
  async purgeDeadLetters(app: string, filter: DeadLetterFilter, ids?: readonly number[]): Promise<number> {
    const err = this.gc.commit();
    if (err !== null) throw err;
    const q = { ...this.query(app, filter, 0), since: Number.MIN_SAFE_INTEGER };
    if (ids === undefined) return this.purgeAll.run(q).changes;
    return this.db.transaction(() => {
      let n = 0;
      for (const id of new Set(ids)) n += this.purgeOne.run({ ...q, id }).changes;
      return n;
    })();
  }
}
