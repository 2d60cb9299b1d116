/**
 * MQTT conformance report (markdown) for the vectors in ../shared/conformance/mqtt-vectors.
 *
 *   node dist/test/conformance/report.js --spawn                 start Switchboard (dist/src/cli/main.js) on a free port
 *   node dist/test/conformance/report.js --host H --port P       a broker that is already running
 *   node dist/test/conformance/report.js --mosquitto             /usr/sbin/mosquitto on a free loopback port (reference)
 *
 * Options: --update-readme (rewrite README.md between <!-- conformance:start --> and
 * <!-- conformance:end -->; not with --mosquitto), --readme PATH, --file NAME.json (repeatable),
 * --match TEXT (cases whose key contains TEXT), --concurrency N, --timeout MS, --json PATH
 * (all results); --failures is accepted (failures are always listed). Exit status 0 whatever the results; 2 on usage errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadExpectedFailures, repoRoot, runVectors, startSwitchboard, summarize } from './vectors.js';
import type { CaseResult, Cell, Level, Started } from './vectors.js';

const LEVELS: Level[] = [3, 4, 5];
const LEVEL_NAME: Record<Level, string> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

const cell = (c: Cell): string => (c.total === 0 ? '–' : `${c.pass}/${c.total}`);
const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').replace(/\|/g, '\\|');

/** The per-file x level table with totals. */
export function markdownTable(results: CaseResult[]): string {
  const s = summarize(results);
  const lines = ['| file | 3.1 | 3.1.1 | 5.0 | all |', '|---|---:|---:|---:|---:|'];
  for (const r of s.rows) lines.push(`| ${r.file} | ${LEVELS.map((l) => cell(r.byLevel[l])).join(' | ')} | ${cell(r.all)} |`);
  lines.push(`| **total** | ${LEVELS.map((l) => `**${cell(s.byLevel[l])}**`).join(' | ')} | **${cell(s.all)}** |`);
  const notes: string[] = [];
  if (s.connackProperties.length > 0) notes.push(`${s.connackProperties.length} case(s) differ from the data only in v5 CONNACK properties (not counted as passes)`);
  if (s.skipped > 0) notes.push(`${s.skipped} case(s) are disabled in the data and were not run`);
  if (notes.length > 0) lines.push('', `${notes.join('; ')}.`);
  return lines.join('\n');
}

function listing(rs: CaseResult[], expected: Record<string, string>): string[] {
  return rs.map((r) => {
    const listed = expected[r.key];
    return `- ${code(r.key)} (${LEVEL_NAME[r.ver]}): ${oneLine(r.reason ?? '')}${listed ? ` — expected failure: ${oneLine(listed)}` : ''}`;
  });
}

/** Table, then the CONNACK-property cases and the failures with their reasons. */
export function markdownReport(results: CaseResult[], expected: Record<string, string> = {}): string {
  const s = summarize(results);
  const out = [markdownTable(results)];
  if (s.connackProperties.length > 0) out.push('', `### Only v5 CONNACK properties differ (${s.connackProperties.length})`, '', ...listing(s.connackProperties, expected));
  if (s.failures.length > 0) out.push('', `### Failures (${s.failures.length})`, '', ...listing(s.failures, expected));
  return out.join('\n');
}

/** What goes into README.md: the table, and the cases that do not pass with their (listed) reasons. */
function readmeSection(results: CaseResult[], expected: Record<string, string>): string {
  const s = summarize(results);
  const notPassing = [...s.connackProperties, ...s.failures].sort((a, b) => (a.key < b.key ? -1 : 1));
  const out = [markdownTable(results)];
  if (notPassing.length > 0 && notPassing.length <= 60) {
    out.push('', 'Not passing, and why:', '');
    for (const r of notPassing) out.push(`- ${code(r.key)}: ${oneLine(expected[r.key] ?? r.reason ?? '')}`);
  } else if (notPassing.length > 60) out.push('', `${notPassing.length} cases do not pass; \`report.js\` lists them.`);
  return out.join('\n');
}

export function replaceSection(readme: string, body: string): string {
  const start = '<!-- conformance:start -->';
  const end = '<!-- conformance:end -->';
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README has no ${start} ... ${end} section`);
  return `${readme.slice(0, a + start.length)}\n${body}\n${readme.slice(b)}`;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** Reference run: mosquitto with `listener PORT 127.0.0.1` and `allow_anonymous true`, config in /tmp. */
async function startMosquitto(bin = '/usr/sbin/mosquitto'): Promise<Started> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'conformance-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const tail: string[] = [];
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    tail.push(...d.split('\n').filter((l) => l.length > 0));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  });
  let exit: number | null = null;
  const exited = new Promise<void>((res) => proc.once('exit', (c, sig) => ((exit = c ?? (sig ? 128 : 1)), res())));
  proc.once('error', (err) => tail.push(err.message));
  const stop = async (): Promise<void> => {
    if (exit === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100 && exit === null; i++) {
    if (await canConnect(port)) return { host: '127.0.0.1', port, stderrTail: () => tail.join('\n'), exitCode: () => exit, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`mosquitto did not start on port ${port}:\n${tail.join('\n')}`);
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: node dist/test/conformance/report.js (--spawn | --mosquitto | --host H --port P) [--update-readme] [--file F.json] [--match TEXT] [--concurrency N] [--timeout MS] [--json PATH]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      spawn: { type: 'boolean' },
      mosquitto: { type: 'boolean' },
      'update-readme': { type: 'boolean' },
      readme: { type: 'string' },
      file: { type: 'string', multiple: true },
      match: { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'string' },
      failures: { type: 'boolean' }, // accepted for older docs: failures are always listed
    },
  });
  const modes = [values.spawn, values.mosquitto, values.port !== undefined].filter(Boolean).length;
  if (modes !== 1) usage('choose one of --spawn, --mosquitto, --host H --port P');
  if (values.mosquitto && values['update-readme']) usage('--update-readme describes Switchboard; not with --mosquitto');
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) usage(`${name} needs a positive integer`);
    return n;
  };

  let broker: Started | null = null;
  let host = values.host ?? '127.0.0.1';
  let port = num(values.port, '--port') ?? 0;
  if (values.spawn) broker = await startSwitchboard();
  if (values.mosquitto) broker = await startMosquitto();
  if (broker) ({ host, port } = broker);

  const began = Date.now();
  let results: CaseResult[];
  try {
    const match = values.match;
    const concurrency = num(values.concurrency, '--concurrency');
    const timeoutMs = num(values.timeout, '--timeout');
    results = await runVectors({
      host,
      port,
      ...(values.file ? { files: values.file } : {}),
      ...(match ? { filter: (key: string) => key.includes(match) } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  } finally {
    const code = broker?.exitCode();
    if (broker && code !== null && code !== undefined) process.stderr.write(`the broker exited (${code}) during the run:\n${broker.stderrTail()}\n`);
    await broker?.stop();
  }
  const expected = values.mosquitto ? {} : loadExpectedFailures();
  const target = values.mosquitto ? 'mosquitto (reference)' : values.spawn ? 'Switchboard' : `${host}:${port}`;
  process.stdout.write(`## MQTT conformance: ${target}\n\n${markdownReport(results, expected)}\n`);
  process.stderr.write(`${results.length} cases in ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  if (values['update-readme']) {
    const path = values.readme ?? join(repoRoot(), 'README.md');
    writeFileSync(path, replaceSection(readFileSync(path, 'utf8'), readmeSection(results, expected)));
    process.stderr.write(`updated the conformance section of ${path}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
