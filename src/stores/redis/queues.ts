/**
 * Queues (durable shared groups) in Redis: each node keeps the entries it took in under keys
 * naming it (keys.ts: a hash id -> queue + message, and a hash id -> attempts when not 0), and
 * reloads them when it restarts with the same node name. Ids are made here (ids.ts), so append()
 * returns at once.
 *
 * The backlog of a node that died is adopted by one survivor (adopt): appended under the
 * survivor's name, then deleted under the dead node's. A survivor that dies half-way leaves the
 * rest to the next one, which may take some entries twice (at least once, never lost).
 */
import type { MessageRecord, QueuedRecord, QueueStore } from '../types.js';
import { decodeQueued, encodeQueued } from './codec.js';
import { RedisStoreError, toError } from './connection.js';
import type { Client } from './connection.js';
import type { Ids } from './ids.js';
import type { Keys } from './keys.js';
import type { Scripts } from './scripts.js';
import type { Writes } from './writes.js';

/** Entries read per HSCAN step. */
const PAGE = 500;

export class RedisQueueStore implements QueueStore {
  constructor(
    private readonly client: Client,
    private readonly scripts: Scripts,
    private readonly keys: Keys,
    private readonly writes: Writes,
    private readonly ids: Ids,
    private readonly node: string,
    private readonly where: string,
  ) {}

  async *queues(app: string): AsyncIterable<{ filter: string; name: string; messages: QueuedRecord[] }> {
    yield* await this.read(app, this.node);
  }

  async adopt(app: string, node: string): Promise<Array<{ filter: string; name: string; messages: QueuedRecord[] }>> {
    if (node === this.node) return [];
    const theirs = await this.read(app, node);
    const mine = theirs.map((q) => ({
      filter: q.filter,
      name: q.name,
      messages: q.messages.map((m) => {
        const id = this.append(app, q.filter, q.name, m.msg);
        if (m.attempts > 0) this.attempted(app, id, m.attempts);
        return { id, msg: m.msg, attempts: m.attempts };
      }),
    }));
    // Theirs go once ours are written (a failure before leaves them for the next survivor).
    await this.writes.flush();
    const k = this.keys.queue(app, node);
    await this.client.del(k.entries, k.attempts);
    return mine;
  }

  private async read(app: string, node: string): Promise<Array<{ filter: string; name: string; messages: QueuedRecord[] }>> {
    this.writes.assertOpen();
    const k = this.keys.queue(app, node);
    const byQueue = new Map<string, { filter: string; name: string; messages: QueuedRecord[] }>();
    try {
      const attempts = new Map<number, number>();
      const a = await this.client.hgetall(k.attempts);
      for (const [id, n] of Object.entries(a)) attempts.set(Number(id), Number(n));
      const seen = new Set<number>();
      let cursor = '0';
      do {
        const [next, elements] = await this.client.hscanBuffer(k.entries, cursor, 'COUNT', PAGE);
        cursor = next.toString();
        for (let i = 0; i + 1 < elements.length; i += 2) {
          const id = Number(elements[i]!.toString());
          if (seen.has(id)) continue;
          seen.add(id);
          const e = decodeQueued(elements[i + 1]!);
          const key = `${e.name}\u0000${e.filter}`;
          let q = byQueue.get(key);
          if (q === undefined) byQueue.set(key, (q = { filter: e.filter, name: e.name, messages: [] }));
          q.messages.push({ id, msg: e.msg, attempts: attempts.get(id) ?? 0 });
        }
      } while (cursor !== '0');
    } catch (err) {
      throw new RedisStoreError(`cluster.redis: cannot read the queues of ${app} from ${this.where}: ${toError(err).message}`, { cause: err });
    }
    for (const q of byQueue.values()) q.messages.sort((x, y) => x.id - y.id);
    return [...byQueue.values()];
  }

  append(app: string, filter: string, name: string, msg: MessageRecord): number {
    const id = this.ids.next();
    this.writes.track(() => this.client.hset(this.keys.queue(app, this.node).entries, id, encodeQueued(filter, name, msg)));
    return id;
  }

  remove(app: string, id: number): void {
    const k = this.keys.queue(app, this.node);
    this.writes.track(() => this.scripts.sbqremove(k.entries, k.attempts, id));
  }

  attempted(app: string, id: number, attempts: number): void {
    const k = this.keys.queue(app, this.node);
    this.writes.track(() => this.scripts.sbqattempted(k.entries, k.attempts, id, attempts));
  }
}
