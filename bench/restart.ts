/**
 * Restart with a large stored backlog: how long Switchboard takes to come back with N queued
 * messages in its SQLite store, how soon a returning subscriber gets the first of them, how much
 * memory the restored queue costs and how fast it drains.
 *
 *   node dist/bench/restart.js [--messages 1000000] [--payload 64] [--publishers 4] [--window 500]
 *     [--fill-durability none] [--durability sync] [--stop kill|term] [--max-fill-s 300] [--max-drain-s 600] [--dir DIR] [--keep]
 *
 * --keep leaves the data dir in place (`switchboard store stats --data-dir DIR` reads it).
 *
 * 1. Fill: a fresh data dir; the broker (dist/src/cli/main.js, NODE_ENV=production, pinned to the
 *    broker core like the bench) runs with `store.durability` = --fill-durability (default `none`:
 *    no fsync, PUBACK at once; commits still happen at the end of every turn) and queue bounds
 *    raised (limits.maxQueuedMessages, maxQueuedBytes, maxStoredBytesPerApp, memoryBudget). One
 *    persistent subscriber (MQTT 5, Session Expiry 3600) subscribes to restart/q at QoS 1 and
 *    disconnects; --publishers MQTT 3.1.1 connections publish N QoS 1 messages to restart/q,
 *    --window each in flight. After the last PUBACK and a quiet second the broker is stopped with
 *    SIGKILL (--stop kill: a crash; WAL recovery at the next open) or SIGTERM (--stop term).
 * 2. Restart, same data dir, `store.durability` = --durability (default `sync`, the default of the
 *    broker). Measured from spawn: the `listening` line on stdout and the first accepted TCP
 *    connection. Then the subscriber reconnects (clean start 0): CONNECT -> CONNACK and
 *    CONNECT -> first queued message; broker RSS (VmRSS) before it connects, at the first message,
 *    the highest VmRSS sampled every 50 ms during the drain, and VmHWM at the end; the drain rate
 *    (every message acknowledged as it arrives; the broker's in-flight window is mqtt.maxInflight,
 *    64). Sequence numbers in the payloads count losses and duplicates.
 * Prints a markdown table. Not part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, ROOT } from './brokers.js';
import { MiniMqtt, Pipeline, publishTemplate, Seen } from './mqtt-client.js';
import { BROKER_CORE, installCleanup, pinSelf, removeDir, SETPRIV, TASKSET_PATH, track, trackDir } from './procs.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    payload: { type: 'string', default: '64' },
    publishers: { type: 'string', default: '4' },
    window: { type: 'string', default: '500' },
    'fill-durability': { type: 'string', default: 'none' },
    durability: { type: 'string', default: 'sync' },
    stop: { type: 'string', default: 'kill' },
    'max-fill-s': { type: 'string', default: '300' },
    'max-drain-s': { type: 'string', default: '600' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
  },
});
const N = Number(values.messages);
const PAYLOAD = Math.max(4, Number(values.payload));
const PUBLISHERS = Math.max(1, Number(values.publishers));
const WINDOW = Math.max(1, Number(values.window));
const MAX_FILL_MS = Number(values['max-fill-s']) * 1000;
const MAX_DRAIN_MS = Number(values['max-drain-s']) * 1000;
const TOPIC = 'restart/q';
const SUB_ID = 'restart-sub';
const MAIN = join(ROOT, 'dist/src/cli/main.js');

const say = (s: string): void => void process.stdout.write(s + '\n');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (v: number): string => Math.round(v).toLocaleString('en-US');
const mb = (kb: number): string => (kb / 1024).toFixed(0);

interface Broker {
  proc: ChildProcess;
  pid: number;
  port: number;
  spawnedAt: number;
  /** performance.now() of the `listening` line / the first accepted connection. */
  listening: Promise<number>;
  accepting: Promise<number>;
  exited: string | null;
  out(): string;
}

function status(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function fileSize(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}

function startBroker(port: number, dataDir: string, durability: string): Broker {
  const args = [
    MAIN,
    '--listen',
    `mqtt://127.0.0.1:${port}`,
    '--log-level',
    'warn',
    '--data-dir',
    dataDir,
    '--set',
    'store.type=sqlite',
    '--set',
    `store.durability=${durability}`,
    '--set',
    `limits.maxQueuedMessages=${Math.max(2_000_000, N * 2)}`,
    '--set',
    `limits.maxQueuedBytes=${8 * 2 ** 30}`,
    '--set',
    `limits.maxStoredBytesPerApp=${8 * 2 ** 30}`,
    '--set',
    `limits.memoryBudget=${8 * 2 ** 30}`,
  ];
  const argv = [process.execPath, ...args];
  if (BROKER_CORE !== null && TASKSET_PATH) argv.unshift(TASKSET_PATH, '-c', BROKER_CORE);
  if (SETPRIV) argv.unshift(SETPRIV, '--pdeathsig', 'KILL');
  const spawnedAt = performance.now();
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  track(proc);
  let out = '';
  const b: Broker = {
    proc,
    pid: proc.pid!,
    port,
    spawnedAt,
    exited: null,
    listening: Promise.resolve(0),
    accepting: Promise.resolve(0),
    out: () => out.trim().split('\n').slice(-8).join('\n'),
  };
  proc.on('exit', (code, signal) => (b.exited = `broker exited (${signal ?? `code ${code}`})`));
  b.listening = new Promise((resolve, reject) => {
    const want = `listening mqtt://127.0.0.1:${port}`;
    const on = (d: Buffer): void => {
      const now = performance.now();
      out = (out + d.toString()).slice(-8000);
      if (out.includes(want)) resolve(now);
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
    proc.once('exit', () => setTimeout(() => reject(new Error(`${b.exited}: ${b.out()}`)), 10));
    setTimeout(() => reject(new Error(`no "${want}" line within 120 s: ${b.out()}`)), 120_000).unref();
  });
  b.accepting = (async () => {
    for (;;) {
      const t = await new Promise<number | null>((res) => {
        const s = net.connect(port, '127.0.0.1', () => {
          const now = performance.now();
          s.destroy();
          res(now);
        });
        s.on('error', () => res(null));
      });
      if (t !== null) return t;
      if (b.exited) throw new Error(b.exited);
      if (performance.now() - spawnedAt > 120_000) throw new Error('port did not open within 120 s');
      await sleep(2);
    }
  })();
  b.listening.catch(() => {});
  b.accepting.catch(() => {});
  return b;
}

function stop(b: Broker, signal: NodeJS.Signals): Promise<void> {
  return new Promise((res) => {
    if (b.proc.exitCode !== null || b.proc.signalCode !== null) return res();
    b.proc.once('exit', () => res());
    b.proc.kill(signal);
    setTimeout(() => b.proc.kill('SIGKILL'), 30_000).unref();
  });
}

async function main(): Promise<void> {
  installCleanup();
  pinSelf();
  const base = mkdtempSync(join(values.dir ?? tmpdir(), 'sb-restart-'));
  if (!values.keep) trackDir(base);
  const dataDir = join(base, 'data');
  const db = join(dataDir, 'switchboard.db');
  const rows: Array<[string, string]> = [];
  say(`restart bench: ${fmt(N)} messages of ${PAYLOAD} B, fill with store.durability=${values['fill-durability']} (${PUBLISHERS} publishers x ${WINDOW} in flight), restart with store.durability=${values.durability}, stop by ${values.stop === 'term' ? 'SIGTERM' : 'SIGKILL'}; data in ${dataDir}; broker core ${BROKER_CORE ?? '-'}`);

  // ---- 1. fill -------------------------------------------------------------------------------
  const port = await freePort();
  const fill = startBroker(port, dataDir, values['fill-durability']!);
  await fill.listening;
  const sub0 = await MiniMqtt.connect({ port, clientId: SUB_ID, clean: true, version: 5, sessionExpiry: 3600 });
  await sub0.subscribe(TOPIC, 1);
  await sub0.disconnect();
  let seq = 0;
  const per = Math.ceil(N / PUBLISHERS);
  const pubs: Pipeline[] = [];
  for (let i = 0; i < PUBLISHERS; i++) {
    const count = Math.min(per, N - i * per);
    if (count <= 0) break;
    const c = await MiniMqtt.connect({ port, clientId: `restart-pub-${i}`, clean: true });
    pubs.push(new Pipeline(c, publishTemplate(TOPIC, PAYLOAD), WINDOW, () => seq++, count));
  }
  const acked = (): number => pubs.reduce((a, p) => a + p.acked, 0);
  const sentN = (): number => pubs.reduce((a, p) => a + p.sent, 0);
  const f0 = performance.now();
  for (const p of pubs) p.start();
  let lastReport = f0;
  let fillPeakRss = 0;
  let cut = false;
  while (acked() < N) {
    await sleep(20);
    if (fill.exited) throw new Error(`the broker died while filling: ${fill.exited}\n${fill.out()}`);
    const now = performance.now();
    fillPeakRss = Math.max(fillPeakRss, status(fill.pid).rss);
    if (now - lastReport > 10_000) {
      lastReport = now;
      say(`  fill: ${fmt(acked())} acknowledged in ${((now - f0) / 1000).toFixed(0)} s (${fmt((acked() / (now - f0)) * 1000)}/s), broker RSS ${mb(status(fill.pid).rss)} MB`);
    }
    if (now - f0 > MAX_FILL_MS && !cut) {
      cut = true;
      for (const p of pubs) p.stop();
      say(`  fill: stopped after ${MAX_FILL_MS / 1000} s (--max-fill-s)`);
    }
    if (cut && acked() >= sentN()) break;
  }
  const f1 = performance.now();
  const filled = acked();
  const fillS = (f1 - f0) / 1000;
  fillPeakRss = Math.max(fillPeakRss, status(fill.pid).hwm);
  for (const p of pubs) p.conn.destroy();
  await sleep(1000); // the last turns' commits (durability none/batched acknowledge before committing)
  const s0 = performance.now();
  await stop(fill, values.stop === 'term' ? 'SIGTERM' : 'SIGKILL');
  const stopMs = performance.now() - s0;
  rows.push([`fill: ${fmt(filled)} QoS 1 publishes (${PAYLOAD} B), store.durability=${values['fill-durability']}`, `${fillS.toFixed(1)} s = ${fmt(filled / fillS)} acknowledged/s; broker peak RSS ${mb(fillPeakRss)} MB (the offline session keeps one page in memory, the rest in the store)`]);
  rows.push([`store after the fill (${values.stop === 'term' ? 'SIGTERM' : 'SIGKILL'}: exited ${stopMs.toFixed(0)} ms after the signal)`, `switchboard.db ${(fileSize(db) / 2 ** 20).toFixed(0)} MB + WAL ${(fileSize(`${db}-wal`) / 2 ** 20).toFixed(1)} MB`]);
  say(`  filled ${fmt(filled)} in ${fillS.toFixed(1)} s; broker stopped`);

  // ---- 2. restart ----------------------------------------------------------------------------
  const port2 = await freePort();
  const b = startBroker(port2, dataDir, values.durability!);
  const [tListen, tAccept] = await Promise.all([b.listening, b.accepting]);
  rows.push(['restart: spawn -> `listening` line', `${(tListen - b.spawnedAt).toFixed(0)} ms`]);
  rows.push(['restart: spawn -> first accepted TCP connection', `${(tAccept - b.spawnedAt).toFixed(0)} ms`]);
  await sleep(200);
  const idle = status(b.pid);
  rows.push([`broker RSS after start (${fmt(filled)} stored), before the subscriber connects`, `${mb(idle.rss)} MB`]);

  const seen = new Seen();
  let first = 0;
  let firstRss = 0;
  let last = 0;
  let maxRss = idle.rss;
  const c0 = performance.now();
  const sub = await MiniMqtt.connect({ port: port2, clientId: SUB_ID, clean: false, version: 5, sessionExpiry: 3600, timeoutMs: 120_000 }, (c) => {
    c.onPublish = (buf, start, end) => {
      const now = performance.now();
      if (first === 0) {
        first = now;
        firstRss = status(b.pid).rss;
      }
      last = now;
      if (end - start >= 4) seen.add(buf.readUInt32LE(start));
    };
  });
  const connack = sub.connackAt;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, status(b.pid).rss)), 50);
  let movedAt = performance.now();
  let prev = 0;
  let lastReport2 = movedAt;
  let drainTimedOut = false;
  while (seen.unique < filled) {
    await sleep(20);
    if (b.exited) break;
    const now = performance.now();
    if (seen.unique !== prev) {
      prev = seen.unique;
      movedAt = now;
    } else if (now - movedAt > 10_000) break;
    if (now - c0 > MAX_DRAIN_MS) {
      drainTimedOut = true;
      break;
    }
    if (now - lastReport2 > 10_000) {
      lastReport2 = now;
      say(`  drain: ${fmt(seen.unique)} received in ${((now - c0) / 1000).toFixed(0)} s, broker RSS ${mb(status(b.pid).rss)} MB`);
    }
  }
  clearInterval(sampler);
  const end = status(b.pid);
  maxRss = Math.max(maxRss, end.rss);
  const died = b.exited;
  rows.push(['subscriber CONNECT -> CONNACK', `${(connack - c0).toFixed(0)} ms (session present: ${sub.sessionPresent ? 'yes' : '**no**'})`]);
  rows.push(['subscriber CONNECT -> first queued message', first ? `${(first - c0).toFixed(0)} ms` : '**none arrived**']);
  rows.push(['broker RSS at the first message', first ? `${mb(firstRss)} MB` : '-']);
  rows.push(['broker RSS during the drain: highest VmRSS sampled (50 ms) / VmHWM at the end', `${mb(maxRss)} MB / ${mb(end.hwm)} MB${end.rss ? ` (VmRSS at the end ${mb(end.rss)} MB)` : ''}`]);
  const drainS = first ? (last - first) / 1000 : 0;
  rows.push([
    'drain (first to last message, each acknowledged on arrival)',
    `${fmt(seen.unique)} of ${fmt(filled)} in ${drainS.toFixed(1)} s = ${drainS > 0 ? fmt(seen.unique / drainS) : '-'} msgs/s; ${fmt(Math.max(0, filled - seen.unique))} missing${drainTimedOut ? ` (stopped at --max-drain-s ${MAX_DRAIN_MS / 1000})` : ''}, ${fmt(seen.dups)} duplicates`,
  ]);
  sub.destroy();
  await sleep(500);
  rows.push(['store after the drain (broker running)', `switchboard.db ${(fileSize(db) / 2 ** 20).toFixed(0)} MB + WAL ${(fileSize(`${db}-wal`) / 2 ** 20).toFixed(1)} MB`]);
  if (died) rows.push(['**broker died during the drain**', `${died}: ${b.out().replace(/\n/g, ' / ')}`]);
  await stop(b, 'SIGTERM');

  say('');
  say('| measure | value |');
  say('|---|---|');
  for (const [k, v] of rows) say(`| ${k} | ${v} |`);
  if (values.keep) say(`\ndata dir kept: ${dataDir}`);
  else removeDir(base);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`restart bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
