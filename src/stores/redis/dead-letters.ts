/**
 * Dead letters in Redis: a sorted set per application, the letter (its id included) as member,
 * scored by id (ids.ts: increasing, made here so addDeadLetter returns at once). Each add trims
 * in the same script: past `maxCount` the lowest ids go, and the letters added more than
 * `maxAgeMs` ago (ids follow the clock in microseconds). Reads also hide letters whose own
 * `time` is past the age bound, as the other backends do.
 */
import { topicMatchesRecord } from '../match.js';
import type { DeadLetterFilter, DeadLetterRecord, DeadLetterStore } from '../types.js';
import { decodeDeadLetter, encodeDeadLetter } from './codec.js';
import { RedisStoreError, toError } from './connection.js';
import type { Client } from './connection.js';
import type { Ids } from './ids.js';
import type { Keys } from './keys.js';
import type { Scripts } from './scripts.js';
import type { Writes } from './writes.js';

export interface DeadLetterBounds {
  /** Dead letters kept per application. */
  maxCount: number;
  /** Older ones are dropped, ms. */
  maxAgeMs: number;
}

/** Letters read per step. */
const PAGE = 200;
/** Members removed per ZREM. */
const REMOVE_BATCH = 500;

function matches(d: DeadLetterRecord, f: DeadLetterFilter): boolean {
  if (f.reason !== undefined && d.reason !== f.reason) return false;
  if (f.to !== undefined && d.to !== f.to) return false;
  if (f.topic !== undefined && !topicMatchesRecord(f.topic, d.msg.topic)) return false;
  return true;
}

export class RedisDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly client: Client,
    private readonly scripts: Scripts,
    private readonly keys: Keys,
    private readonly writes: Writes,
    private readonly ids: Ids,
    private readonly bounds: DeadLetterBounds,
    private readonly now: () => number,
    private readonly where: string,
  ) {}

  private failed(what: string, app: string, err: unknown): RedisStoreError {
    return new RedisStoreError(`cluster.redis: cannot ${what} the dead letters of ${app} on ${this.where}: ${toError(err).message}`, { cause: err });
  }

  addDeadLetter(letter: Omit<DeadLetterRecord, 'id'>): number {
    const id = this.ids.next();
    const oldest = Math.max(0, (this.now() - this.bounds.maxAgeMs) * 1000);
    this.writes.track(() => this.scripts.sbdladd(this.keys.deadLetters(letter.app), id, encodeDeadLetter({ ...letter, id }), this.bounds.maxCount, oldest));
    return id;
  }

  async deadLetters(app: string, filter: DeadLetterFilter, before: number, limit: number): Promise<DeadLetterRecord[]> {
    this.writes.assertOpen();
    const key = this.keys.deadLetters(app);
    const out: DeadLetterRecord[] = [];
    const oldest = this.now() - this.bounds.maxAgeMs;
    let max = before === 0 ? '+inf' : `(${before}`;
    try {
      while (out.length < limit) {
        const page = await this.client.zrevrangebyscoreBuffer(key, max, '-inf', 'LIMIT', 0, PAGE);
        for (const b of page) {
          const d = decodeDeadLetter(app, b);
          max = `(${d.id}`;
          if (d.time >= oldest && matches(d, filter)) out.push(d);
          if (out.length === limit) break;
        }
        if (page.length < PAGE) break;
      }
    } catch (err) {
      throw this.failed('read', app, err);
    }
    return out;
  }

  async purgeDeadLetters(app: string, filter: DeadLetterFilter, ids?: readonly number[]): Promise<number> {
    this.writes.assertOpen();
    const key = this.keys.deadLetters(app);
    const doomed: Buffer[] = [];
    try {
      if (ids !== undefined) {
        const pages = await Promise.all([...new Set(ids)].map((id) => this.client.zrangebyscoreBuffer(key, id, id)));
        for (const page of pages) for (const b of page) if (matches(decodeDeadLetter(app, b), filter)) doomed.push(b);
      } else {
        let min = '-inf';
        for (;;) {
          const page = await this.client.zrangebyscoreBuffer(key, min, '+inf', 'LIMIT', 0, PAGE);
          for (const b of page) {
            const d = decodeDeadLetter(app, b);
            min = `(${d.id}`;
            if (matches(d, filter)) doomed.push(b);
          }
          if (page.length < PAGE) break;
        }
      }
      let n = 0;
      for (let i = 0; i < doomed.length; i += REMOVE_BATCH) n += await this.client.zrem(key, ...doomed.slice(i, i + REMOVE_BATCH));
      return n;
    } catch (err) {
      throw this.failed('purge', app, err);
    }
  }
}
