/** Queue backlogs and unacknowledged queue messages in memory. */
import type { MessageRecord, QueuedRecord, QueueStore } from '../types.js';

interface Entry extends QueuedRecord {
  filter: string;
  name: string;
}

export class MemoryQueueStore implements QueueStore {
  /** Per application, by id; Map order is the order messages entered. */
  private readonly apps = new Map<string, Map<number, Entry>>();
  private nextId = 1;

  async *queues(app: string): AsyncIterable<{ filter: string; name: string; messages: QueuedRecord[] }> {
    const byQueue = new Map<string, { filter: string; name: string; messages: QueuedRecord[] }>();
    for (const e of this.apps.get(app)?.values() ?? []) {
      const key = `${e.name}\u0000${e.filter}`;
      let q = byQueue.get(key);
      if (q === undefined) byQueue.set(key, (q = { filter: e.filter, name: e.name, messages: [] }));
      q.messages.push({ id: e.id, msg: e.msg, attempts: e.attempts });
    }
    yield* byQueue.values();
  }

  append(app: string, filter: string, name: string, msg: MessageRecord): number {
    let entries = this.apps.get(app);
    if (entries === undefined) this.apps.set(app, (entries = new Map()));
    const id = this.nextId++;
    entries.set(id, { id, filter, name, msg, attempts: 0 });
    return id;
  }

  remove(app: string, id: number): void {
    this.apps.get(app)?.delete(id);
  }

  attempted(app: string, id: number, attempts: number): void {
    const e = this.apps.get(app)?.get(id);
    if (e !== undefined) e.attempts = attempts;
  }
}
