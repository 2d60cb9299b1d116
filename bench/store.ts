/**
 * The SQLite store's write path: what one commit costs, and enqueue+flush throughput, for each
 * durability, with group commit on the main thread, and with a writer thread (a worker owning
 * the database; the main thread posts each turn's writes and waits for its acknowledgement).
 *
 *   node dist/bench/store.js [--seconds 2] [--payload 256] [--producers 10] [--work-us 20] [--dir DIR] [--only PREFIX]
 *
 * Runs (each on a fresh database in DIR, default the OS temp dir, on its disk):
 *   commit      one enqueue, then await flush(), in a loop: the latency of one commit
 *   batch20     20 enqueues, then await flush(), in a loop (one producer)
 *   concurrent  `--producers` producers doing batch20 at once (group commit merges their turns)
 *   +work       the same, each message also costing `--work-us` of main-thread CPU (a broker's
 *               decode/route/encode), to show what blocking the main thread in fsync costs
 *   no wait     the producers do not wait for flush() (acknowledgements that do not wait: the
 *               application's durability 'batched' or 'none'): the store's own cost per message
 * Printed per run: messages/s, commits/s (in `sync` and `batched`, each commit is one fsync of the
 * WAL: `synchronous=FULL`; checkpoints add a few), flush latency p50/p99, and the main thread's
 * event-loop utilisation (the share of time it was busy, fsync included).
 * Not part of the test suite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SqliteStores } from '../src/stores/sqlite/index.js';
import type { DeliveryRecord, Durability } from '../src/stores/types.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const meta = { login: 'bench', profile: 'SERVICE', protocol: 'mqtt', expiry: 3600, disconnectedAt: 1 };

function delivery(payload: Buffer): DeliveryRecord {
  return {
    msg: { topic: 'bench/topic', payload, qos: 1, retain: false, meta: null, expiresAt: 0, sender: { clientId: 'pub', app: 'bench', profile: 'SERVICE' } },
    qos: 1,
    retain: false,
    subscriptionIds: null,
    group: null,
  };
}

/** What a run needs of a store: enqueue, flush, and how many commits it made. */
interface Target {
  enqueue(clientId: string, d: DeliveryRecord): void;
  flush(): Promise<void>;
  commits(): Promise<number>;
  close(): Promise<void>;
}

// ---- the writer thread --------------------------------------------------------------------

type ToWorker = { ops: Array<[string, DeliveryRecord]>; seq: number } | { commits: true } | { close: true };
type FromWorker = { done: number } | { commits: number } | { failed: string } | { ready: true } | { closed: true };

async function workerMain(): Promise<void> {
  const port = parentPort!;
  const { dir, producers } = workerData as { dir: string; producers: number };
  const s = await SqliteStores.open({ dataDir: dir, durability: 'sync' });
  for (let p = 0; p < producers; p++) s.sessions.putSession('bench', `c${p}`, meta);
  await s.flush();
  port.on('message', (m: ToWorker) => {
    if ('ops' in m) {
      for (const [client, d] of m.ops) s.sessions.enqueue('bench', client, { ...d, msg: { ...d.msg, payload: Buffer.from(d.msg.payload.buffer, d.msg.payload.byteOffset, d.msg.payload.byteLength) } });
      s.flush().then(
        () => port.postMessage({ done: m.seq } satisfies FromWorker),
        (err: Error) => port.postMessage({ failed: err.message } satisfies FromWorker),
      );
    } else if ('commits' in m) port.postMessage({ commits: s.commits } satisfies FromWorker);
    else void s.close().then(() => port.postMessage({ closed: true } satisfies FromWorker));
  });
  port.postMessage({ ready: true } satisfies FromWorker);
}

/** The main thread's side: writes of one turn go over in one message; flush waits for the worker's acknowledgement. */
async function writerThread(dir: string, producers: number): Promise<Target> {
  const w = new Worker(new URL(import.meta.url), { workerData: { dir, producers } });
  let ops: Array<[string, DeliveryRecord]> = [];
  let sent = 0;
  let acked = 0;
  let posting = false;
  const waiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  let commitsAnswer: ((n: number) => void) | null = null;
  let closed: (() => void) | null = null;
  await new Promise<void>((resolve, reject) => {
    w.once('error', reject);
    w.on('message', (m: FromWorker) => {
      if ('ready' in m) resolve();
      else if ('done' in m) {
        acked = Math.max(acked, m.done);
        for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.seq <= acked) waiters.splice(i, 1)[0]!.resolve();
      } else if ('failed' in m) for (const x of waiters.splice(0)) x.reject(new Error(m.failed));
      else if ('commits' in m) commitsAnswer?.(m.commits);
      else if ('closed' in m) closed?.();
    });
  });
  const post = (): void => {
    posting = false;
    if (ops.length === 0) return;
    w.postMessage({ ops, seq: ++sent } satisfies ToWorker);
    ops = [];
  };
  return {
    enqueue(clientId, d) {
      ops.push([clientId, d]);
      if (!posting) {
        posting = true;
        setImmediate(post);
      }
    },
    flush() {
      const seq = sent + (ops.length > 0 ? 1 : 0);
      if (seq <= acked) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ seq, resolve, reject }));
    },
    commits() {
      return new Promise((resolve) => {
        commitsAnswer = resolve;
        w.postMessage({ commits: true } satisfies ToWorker);
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        closed = resolve;
        w.postMessage({ close: true } satisfies ToWorker);
      });
      await w.terminate();
    },
  };
}

async function mainThread(dir: string, durability: Durability, producers: number): Promise<Target> {
  const s = await SqliteStores.open({ dataDir: dir, durability });
  for (let p = 0; p < producers; p++) s.sessions.putSession('bench', `c${p}`, meta);
  await s.flush();
  return {
    enqueue: (clientId, d) => s.sessions.enqueue('bench', clientId, d),
    flush: () => s.flush(),
    commits: async () => s.commits,
    close: () => s.close(),
  };
}

// ---- runs -----------------------------------------------------------------------------------

function busy(us: number): void {
  if (us <= 0) return;
  const end = performance.now() + us / 1000;
  while (performance.now() < end) {
    /* the broker's own work for one message */
  }
}

interface Result {
  msgs: number;
  seconds: number;
  commits: number;
  lat: number[];
  elu: number;
}

async function run(t: Target, opts: { batch: number; producers: number; seconds: number; workUs: number; payload: Buffer; wait: boolean }): Promise<Result> {
  const d = delivery(opts.payload);
  const c0 = await t.commits();
  const lat: number[] = [];
  let msgs = 0;
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  const elu0 = performance.eventLoopUtilization();
  const producer = async (p: number): Promise<void> => {
    const client = `c${p}`;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      for (let i = 0; i < opts.batch; i++) {
        busy(opts.workUs);
        t.enqueue(client, d);
      }
      if (opts.wait) {
        await t.flush();
        lat.push(performance.now() - t0);
      }
      msgs += opts.batch;
      // Let the other producers' turns in (as separate socket reads would).
      await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: opts.producers }, (_, p) => producer(p)));
  if (!opts.wait) await t.flush();
  const seconds = (performance.now() - start) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  return { msgs, seconds, commits: (await t.commits()) - c0, lat, elu };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

function line(name: string, r: Result): string {
  const f = (n: number, d = 0, w = 7): string => n.toFixed(d).padStart(w);
  const mean = r.lat.length === 0 ? 0 : r.lat.reduce((a, b) => a + b, 0) / r.lat.length;
  const flush = r.lat.length === 0 ? 'flush not awaited'.padEnd(42) : `flush mean ${f(mean, 2, 6)} p50 ${f(pct(r.lat, 50), 2, 6)} p99 ${f(pct(r.lat, 99), 2, 6)} ms`;
  return `${name.padEnd(38)} ${f(r.msgs / r.seconds)} msg/s ${f(r.commits / r.seconds)} commits/s  ${flush}  main busy ${f(r.elu * 100, 0, 3)}%`;
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '2'));
  const payload = Buffer.alloc(Number(arg('payload', '256')), 7);
  const producers = Number(arg('producers', '10'));
  const workUs = Number(arg('work-us', '20'));
  const base = mkdtempSync(join(arg('dir', tmpdir()), 'sb-store-bench-'));
  let n = 0;
  process.stdout.write(`store bench: ${seconds} s per run, ${payload.length}-byte payloads, ${producers} producers, ${workUs} us of work per message, in ${base}\n`);
  type Case = { name: string; open: (dir: string, producers: number) => Promise<Target>; batch: number; producers: number; workUs: number; wait: boolean };
  const cases: Case[] = [];
  const add = (prefix: string, open: Case['open'], noWait = true): void => {
    cases.push({ name: `${prefix}: commit (1 msg + flush)`, open, batch: 1, producers: 1, workUs: 0, wait: true });
    cases.push({ name: `${prefix}: batch20`, open, batch: 20, producers: 1, workUs: 0, wait: true });
    cases.push({ name: `${prefix}: batch20 x${producers}`, open, batch: 20, producers, workUs: 0, wait: true });
    cases.push({ name: `${prefix}: batch20 x${producers} +work`, open, batch: 20, producers, workUs, wait: true });
    if (noWait) cases.push({ name: `${prefix}: batch20 x${producers} no wait`, open, batch: 20, producers, workUs: 0, wait: false });
  };
  for (const durability of ['sync', 'batched', 'none'] as const) add(durability, (dir, p) => mainThread(dir, durability, p));
  // Not 'no wait': this prototype has no backpressure (a worker kept busy by incoming messages never reaches its commit).
  add('writer thread (sync)', writerThread, false);
  const only = arg('only', '');
  try {
    for (const c of cases.filter((x) => x.name.startsWith(only))) {
      const dir = join(base, `run${++n}`);
      const t = await c.open(dir, c.producers);
      const r = await run(t, { batch: c.batch, producers: c.producers, seconds, workUs: c.workUs, payload, wait: c.wait });
      await t.close();
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`${line(c.name, r)}\n`);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`store bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
} else void workerMain();
