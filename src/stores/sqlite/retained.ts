/** Retained messages in SQLite, one row per application and topic. */
import type { Database, Statement } from 'better-sqlite3';
import type { MessageRecord, RetainedStore } from '../types.js';
import { MESSAGE_COLUMNS, MESSAGE_PARAMS, messageOf, messageParams } from './codec.js';
import type { MessageRow } from './codec.js';
import type { GroupCommit } from './commit.js';

const PAGE = 500;

export class SqliteRetainedStore implements RetainedStore {
  private readonly first: Statement<[string, number], MessageRow>;
  private readonly next: Statement<[string, string, number], MessageRow>;
  private readonly put: Statement<object>;
  private readonly clear: Statement<[string, string]>;

  constructor(
    db: Database,
    private readonly gc: GroupCommit,
  ) {
    this.first = db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM retained WHERE app = ? ORDER BY topic LIMIT ?`);
    this.next = db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM retained WHERE app = ? AND topic > ? ORDER BY topic LIMIT ?`);
    this.put = db.prepare(`INSERT OR REPLACE INTO retained (app, ${MESSAGE_COLUMNS}) VALUES (@app, ${MESSAGE_PARAMS})`);
    this.clear = db.prepare('DELETE FROM retained WHERE app = ? AND topic = ?');
  }

  async *retained(app: string): AsyncIterable<MessageRecord> {
    let last: string | null = null;
    for (;;) {
      this.gc.settle();
      const rows: MessageRow[] = last === null ? this.first.all(app, PAGE) : this.next.all(app, last, PAGE);
      if (rows.length === 0) return;
      last = rows[rows.length - 1]!.topic;
      yield* rows.map(messageOf);
      if (rows.length < PAGE) return;
    }
  }

  putRetained(app: string, msg: MessageRecord): void {
    if (msg.payload.length === 0) {
      const topic = msg.topic;
      this.gc.write(() => this.clear.run(app, topic));
      return;
    }
    const p = messageParams(msg, { app });
    this.gc.write(() => this.put.run(p));
  }
}
