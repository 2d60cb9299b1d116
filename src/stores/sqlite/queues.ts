/**
 * Queue entries (messages held by durable shared groups / STOMP queues) in SQLite, with their
 * delivery attempts. Ids are given when a message enters (so `append` returns at once) and never
 * reused: the table is AUTOINCREMENT and the next id starts past the highest ever given.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { MessageRecord, QueuedRecord, QueueStore } from '../types.js';
import { MESSAGE_COLUMNS, MESSAGE_PARAMS, messageOf, messageParams } from './codec.js';
import type { MessageRow } from './codec.js';
import type { GroupCommit } from './commit.js';

type EntryRow = MessageRow & { id: number; filter: string; name: string; attempts: number };

const PAGE = 1000;

export class SqliteQueueStore implements QueueStore {
  private nextId: number;
  private readonly first: Statement<[string, number], EntryRow>;
  private readonly next: Statement<{ app: string; name: string; filter: string; id: number; limit: number }, EntryRow>;
  private readonly insert: Statement<object>;
  private readonly delete: Statement<[number, string]>;
  private readonly attempts: Statement<[number, number, string]>;

  constructor(
    db: Database,
    private readonly gc: GroupCommit,
  ) {
    const last = db.prepare<[], { n: number | null }>("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'queue_entries'), 0), COALESCE((SELECT MAX(id) FROM queue_entries), 0)) AS n").get();
    this.nextId = (last?.n ?? 0) + 1;
    const cols = `id, filter, name, attempts, ${MESSAGE_COLUMNS}`;
    this.first = db.prepare(`SELECT ${cols} FROM queue_entries WHERE app = ? ORDER BY name, filter, id LIMIT ?`);
    this.next = db.prepare(`SELECT ${cols} FROM queue_entries WHERE app = @app AND (name, filter, id) > (@name, @filter, @id) ORDER BY name, filter, id LIMIT @limit`);
    this.insert = db.prepare(`INSERT INTO queue_entries (id, app, filter, name, attempts, ${MESSAGE_COLUMNS}) VALUES (@id, @app, @filter, @name, 0, ${MESSAGE_PARAMS})`);
    this.delete = db.prepare('DELETE FROM queue_entries WHERE id = ? AND app = ?');
    this.attempts = db.prepare('UPDATE queue_entries SET attempts = ? WHERE id = ? AND app = ?');
  }

  async *queues(app: string): AsyncIterable<{ filter: string; name: string; messages: QueuedRecord[] }> {
    let q: { filter: string; name: string; messages: QueuedRecord[] } | null = null;
    let last: EntryRow | undefined;
    for (;;) {
      this.gc.settle();
      const rows: EntryRow[] = last === undefined ? this.first.all(app, PAGE) : this.next.all({ app, name: last.name, filter: last.filter, id: last.id, limit: PAGE });
      for (const r of rows) {
        if (q === null || q.name !== r.name || q.filter !== r.filter) {
          if (q !== null) yield q;
          q = { filter: r.filter, name: r.name, messages: [] };
        }
        q.messages.push({ id: r.id, msg: messageOf(r), attempts: r.attempts });
      }
      last = rows[rows.length - 1];
      if (rows.length < PAGE) break;
    }
    if (q !== null) yield q;
  }

  append(app: string, filter: string, name: string, msg: MessageRecord): number {
    const id = this.nextId++;
    const p = messageParams(msg, { id, app, filter, name });
    this.gc.write(() => this.insert.run(p));
    return id;
  }

  remove(app: string, id: number): void {
    this.gc.write(() => this.delete.run(id, app));
  }

  attempted(app: string, id: number, attempts: number): void {
    this.gc.write(() => this.attempts.run(attempts, id, app));
  }
}
