/** Dead letters in memory, bounded by count and age (the oldest go first). */
import { topicMatchesRecord } from '../match.js';
import type { DeadLetterFilter, DeadLetterRecord, DeadLetterStore } from '../types.js';

export interface DeadLetterBounds {
  /** Dead letters kept per application. */
  maxCount: number;
  /** Older ones are dropped, ms. */
  maxAgeMs: number;
  now?: () => number;
}

export class MemoryDeadLetterStore implements DeadLetterStore {
  /** Per application, oldest first. */
  private readonly apps = new Map<string, DeadLetterRecord[]>();
  private nextId = 1;
  private readonly now: () => number;

  constructor(private readonly bounds: DeadLetterBounds) {
    this.now = bounds.now ?? Date.now;
  }

  addDeadLetter(letter: Omit<DeadLetterRecord, 'id'>): number {
    let list = this.apps.get(letter.app);
    if (list === undefined) this.apps.set(letter.app, (list = []));
    const id = this.nextId++;
    list.push({ ...letter, id });
    this.trim(list);
    return id;
  }

  private trim(list: DeadLetterRecord[]): void {
    const oldest = this.now() - this.bounds.maxAgeMs;
    let drop = Math.max(0, list.length - this.bounds.maxCount);
    while (drop < list.length && list[drop]!.time < oldest) drop++;
    if (drop > 0) list.splice(0, drop);
  }

  async deadLetters(app: string, filter: DeadLetterFilter, before: number, limit: number): Promise<DeadLetterRecord[]> {
    const list = this.apps.get(app);
    if (list === undefined) return [];
    this.trim(list);
    const out: DeadLetterRecord[] = [];
    for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
      const d = list[i]!;
      if (before !== 0 && d.id >= before) continue;
      if (matches(d, filter)) out.push(d);
    }
    return out;
  }

  async purgeDeadLetters(app: string, filter: DeadLetterFilter, ids?: readonly number[]): Promise<number> {
    const list = this.apps.get(app);
    if (list === undefined) return 0;
    const only = ids === undefined ? null : new Set(ids);
    const keep = list.filter((d) => !(matches(d, filter) && (only === null || only.has(d.id))));
    const n = list.length - keep.length;
    this.apps.set(app, keep);
    return n;
  }
}

function matches(d: DeadLetterRecord, f: DeadLetterFilter): boolean {
  if (f.reason !== undefined && d.reason !== f.reason) return false;
  if (f.to !== undefined && d.to !== f.to) return false;
  if (f.topic !== undefined && !topicMatchesRecord(f.topic, d.msg.topic)) return false;
  return true;
}
