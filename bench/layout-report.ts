/**
 * RESULTS files with a pinned and an unpinned section (bench/cluster.ts, bench/mqttsn.ts): a
 * run that measured one layout keeps the other layout's section from the file as it was.
 */
import { existsSync, readFileSync } from 'node:fs';

export type LayoutKey = 'pinned' | 'unpinned';

/** The sections to write, in order: this run's, else the file's own between its layout markers. */
export function layoutSections(file: string, sections: ReadonlyMap<LayoutKey, string[]>): string[] {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const parts: string[] = [];
  for (const key of ['pinned', 'unpinned'] as const) {
    const mine = sections.get(key);
    if (mine) {
      parts.push(mine.join('\n'));
      continue;
    }
    const m = new RegExp(`<!-- layout:${key}:start -->[\\s\\S]*?<!-- layout:${key}:end -->`).exec(old);
    if (m) parts.push(m[0]);
  }
  return parts;
}
