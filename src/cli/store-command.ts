/**
 * `switchboard store`: look into and tidy a SQLite store (src/stores/sqlite) while no broker
 * holds it (a running broker's data directory is refused, naming its pid).
 *
 *   switchboard store stats   --data-dir DIR [--json]   rows per table and application, file sizes
 *   switchboard store export  --data-dir DIR [--app A]  everything, as JSON lines (payloads base64)
 *   switchboard store compact --data-dir DIR            checkpoint the WAL and VACUUM
 *
 * Errors: a message on stderr, exit status 2 for a usage error, 1 for anything else.
 */
import { parseArgs } from 'node:util';
import { SqliteStores } from '../stores/sqlite/index.js';
import type { StoreStats } from '../stores/sqlite/index.js';

export interface StoreCommandIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
}

const USAGE = `usage: switchboard store stats --data-dir DIR [--json]
       switchboard store export --data-dir DIR [--app APP]
       switchboard store compact --data-dir DIR
`;

/** Columns of `stats`, one per table. */
const COLUMNS: Array<[string, string]> = [
  ['sessions', 'sessions'],
  ['subscriptions', 'subscriptions'],
  ['session_queue', 'queued'],
  ['inflight', 'in-flight'],
  ['inbound', 'inbound'],
  ['wills', 'wills'],
  ['retained', 'retained'],
  ['queue_entries', 'queue msgs'],
  ['dead_letters', 'dead letters'],
];

export async function storeCommand(argv: string[], io: StoreCommandIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [sub, ...rest] = argv;
  let v: { 'data-dir'?: string; json?: boolean; app?: string; help?: boolean };
  try {
    v = parseArgs({
      args: rest,
      strict: true,
      options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, app: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    io.err.write(`switchboard store: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (sub === undefined || sub === '--help' || sub === '-h' || v.help === true) {
    (sub === undefined ? io.err : io.out).write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'stats' && sub !== 'export' && sub !== 'compact') {
    io.err.write(`switchboard store: unknown command "${sub}"\n${USAGE}`);
    return 2;
  }
  const dataDir = v['data-dir'];
  if (dataDir === undefined || dataDir === '') {
    io.err.write(`switchboard store ${sub}: --data-dir is required\n${USAGE}`);
    return 2;
  }
  if ((v.json !== undefined && sub !== 'stats') || (v.app !== undefined && sub !== 'export')) {
    io.err.write(`switchboard store ${sub}: ${v.json !== undefined ? '--json' : '--app'} does not apply here\n${USAGE}`);
    return 2;
  }

  let stores: SqliteStores | null = null;
  try {
    stores = await SqliteStores.open({ dataDir, create: false, durability: 'sync' });
    if (sub === 'stats') {
      const s = stores.stats();
      io.out.write(v.json === true ? `${JSON.stringify(s)}\n` : formatStats(s));
    } else if (sub === 'export') {
      let broken = false;
      const out = io.out as { write(s: string): unknown; once?: (e: 'error', f: () => void) => unknown };
      out.once?.('error', () => (broken = true)); // a closed pipe (`| head`) ends the export quietly
      for await (const r of stores.exportRecords(v.app)) {
        if (broken) break;
        io.out.write(`${JSON.stringify(r)}\n`);
      }
    } else {
      const { before, after } = stores.compact();
      io.out.write(`compacted ${stores.file}: ${before} -> ${after} bytes\n`);
    }
    await stores.close();
    return 0;
  } catch (err) {
    io.err.write(`switchboard store ${sub}: ${(err as Error).message}\n`);
    if (stores !== null) await stores.close().catch(() => undefined);
    return 1;
  }
}

function formatStats(s: StoreStats): string {
  const apps = [...new Set(Object.values(s.tables).flatMap((t) => Object.keys(t)))].sort();
  const header = ['application', ...COLUMNS.map(([, label]) => label)];
  const rows = apps.map((app) => [app, ...COLUMNS.map(([t]) => String(s.tables[t]?.[app] ?? 0))]);
  rows.push(['(all)', ...COLUMNS.map(([t]) => String(Object.values(s.tables[t] ?? {}).reduce((a, b) => a + b, 0)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `store    ${s.file}`,
    `schema   version ${s.schemaVersion}`,
    `size     ${s.fileBytes} bytes (+ WAL ${s.walBytes} bytes)`,
    '',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}
