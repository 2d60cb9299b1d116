/**
 * Conformance report: `node dist/test/conformance/report.js [--spawn | --host H --port P | --mosquitto] [--update-readme] [--failures]`
 * Prints passes per file and protocol level as a markdown table.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runVectors, tally } from './vectors.js';
import type { CaseResult } from './vectors.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** Start the Switchboard CLI on a free port; resolves with the port once it prints `listening`. */
export function spawnSwitchboard(extra: string[] = []): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'silent', '--set', 'sys.interval=0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening mqtt:\/\/[^:]+:(\d+)/.exec(out);
      if (m) res({ port: Number(m[1]), proc });
    });
    proc.on('exit', (c) => rej(new Error(`switchboard exited with ${c}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function spawnMosquitto(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-mosq-'));
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
  const proc = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { port, proc };
}

export function markdown(results: CaseResult[]): string {
  const t = tally(results);
  const lines = ['| file | 3.1 | 3.1.1 | 5.0 | total |', '|---|---|---|---|---|'];
  for (const r of t.rows) lines.push(`| ${r.file} | ${r.v3} | ${r.v4} | ${r.v5} | ${r.pass}/${r.total} |`);
  const lv = (v: number): string => `${t.byLevel[v]!.pass}/${t.byLevel[v]!.total}`;
  lines.push(`| **all** | **${lv(3)}** | **${lv(4)}** | **${lv(5)}** | **${t.pass}/${t.total}** |`);
  const skipped = results.filter((r) => r.skipped).length;
  if (skipped > 0) lines.push('', `${skipped} cases are marked "disable" in the data and not run.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      spawn: { type: 'boolean' },
      mosquitto: { type: 'boolean' },
      'update-readme': { type: 'boolean' },
      failures: { type: 'boolean' },
      file: { type: 'string', multiple: true },
    },
  });
  let port = Number(values.port);
  let proc: ChildProcess | undefined;
  if (values.mosquitto) ({ port, proc } = await spawnMosquitto());
  else if (values.spawn || !values.port) ({ port, proc } = await spawnSwitchboard());
  try {
    const results = await runVectors({ host: values.host!, port, ...(values.file ? { files: values.file } : {}) });
    const md = markdown(results);
    process.stdout.write(md + '\n');
    if (values.failures) {
      for (const r of results.filter((x) => !x.pass && !x.skipped).sort((a, b) => a.key.localeCompare(b.key))) {
        process.stdout.write(`FAIL v${r.ver} ${r.key}: [${r.outcome}] ${r.reason}\n`);
      }
    }
    if (values['update-readme']) {
      const path = join(ROOT, 'README.md');
      const readme = readFileSync(path, 'utf8');
      const next = readme.replace(/<!-- conformance:start -->[\s\S]*<!-- conformance:end -->/, `<!-- conformance:start -->\n${md}\n<!-- conformance:end -->`);
      writeFileSync(path, next);
    }
  } finally {
    proc?.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
