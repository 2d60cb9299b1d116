/**
 * The brokers under test, each started on loopback with its own free ports, pinned to the
 * broker core, killed with the bench (see procs.ts). Nothing is installed here: a missing peer
 * is reported with the command that installs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPS_ADMIN_KEY, OPS_APP_KEY } from './wire.js';
import { BROKER_CORE, removeDir, SETPRIV, TASKSET_PATH, track, trackDir, which } from './procs.js';

export type BrokerName = 'switchboard' | 'mosquitto' | 'aedes' | 'nats' | 'node-floor' | 'switchboard-cluster' | 'switchboard-base';
export const ALL_BROKERS: BrokerName[] = ['switchboard', 'mosquitto', 'aedes', 'nats'];
/** Brokers --brokers accepts besides ALL_BROKERS (run by default only where a scenario asks). */
export const OPTIONAL_BROKERS: BrokerName[] = ['switchboard-cluster', 'switchboard-base'];
export const isSwitchboard = (n: BrokerName): boolean => n === 'switchboard' || n === 'switchboard-cluster';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SB_MAIN = join(ROOT, 'dist/src/cli/main.js');
/**
 * switchboard-base: another build of Switchboard (SB_BENCH_BASE = a checkout whose `dist/` is
 * built, e.g. a `git worktree` of the previous release), run as a peer: the "vs switchboard-base"
 * column is this build's ratio to it, measured in the same run.
 */
const SB_BASE = process.env.SB_BENCH_BASE;
const SB_BASE_MAIN = SB_BASE === undefined ? '' : join(resolve(SB_BASE), 'dist/src/cli/main.js');

export interface RunningBroker {
  name: BrokerName;
  pid: number;
  port: number;
  /** Processes serving clients (cluster workers); 1 for the rest. */
  workers: number;
  /** MQTT over WebSocket, when the broker offers it. */
  ws: { port: number; path: string } | null;
  /** Why the process ended, while the bench still used it; null while it runs. */
  exited: string | null;
  /** Last lines the broker wrote (for error reports). */
  tail(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

const mosquittoBin = (): string | null => (existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : which('mosquitto'));
const natsBin = (): string | null => which('nats-server') ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : null);

/** Why a broker cannot run here, with the command that fixes it; null when it can. */
export function missing(name: BrokerName): string | null {
  switch (name) {
    case 'switchboard':
    case 'switchboard-cluster':
      return existsSync(SB_MAIN) ? null : `Switchboard is not built (${SB_MAIN} missing): run \`npm run build\``;
    case 'mosquitto':
      return mosquittoBin() ? null : 'Mosquitto is not installed: run `apt-get install mosquitto`';
    case 'nats':
      return natsBin() ? null : 'NATS is not installed: run `apt-get install nats-server`';
    case 'aedes':
      return existsSync(join(ROOT, 'node_modules/aedes/package.json')) ? null : 'Aedes is not installed: run `npm ci`';
    case 'node-floor':
      return null;
    case 'switchboard-base':
      if (SB_BASE === undefined) return 'no base build: set SB_BENCH_BASE to a built checkout (git worktree add /tmp/base <rev> && cd /tmp/base && npm ci && npm run build)';
      return existsSync(SB_BASE_MAIN) ? null : `the base build is missing (${SB_BASE_MAIN}): build it`;
  }
}

export function version(name: BrokerName): string {
  try {
    switch (name) {
      case 'switchboard':
      case 'switchboard-cluster': {
        const v = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
        const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
        return `switchboard ${v}${rev ? ` (${rev})` : ''}${name === 'switchboard-cluster' ? ' as switchboard-cluster (--workers)' : ''}${name === 'switchboard' && OPS ? ' with webhooks and /metrics scraped every second (SB_BENCH_OPS=1)' : ''}`;
      }
      case 'mosquitto': {
        const out = spawnSync(mosquittoBin() ?? 'mosquitto', ['-h'], { encoding: 'utf8' });
        return /mosquitto version [\d.]+/.exec(out.stdout + out.stderr)?.[0] ?? 'mosquitto';
      }
      case 'nats':
        return spawnSync(natsBin() ?? 'nats-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
      case 'aedes':
        return `aedes ${(JSON.parse(readFileSync(join(ROOT, 'node_modules/aedes/package.json'), 'utf8')) as { version: string }).version}`;
      case 'node-floor':
        return `bare Node ${process.version} net server`;
      case 'switchboard-base': {
        const rev = spawnSync('git', ['-C', SB_BASE ?? '.', 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
        return `switchboard-base (${rev || SB_BASE})`;
      }
    }
  } catch {
    return name;
  }
}

async function waitForPort(port: number, until: number, died: () => string | null): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return;
    const d = died();
    if (d) throw new Error(d);
    if (Date.now() > until) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Plan {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  ws: { port: number; path: string } | null;
  /** Switchboard: wait for these `listening <url>` lines instead of probing ports. */
  listening?: string[];
  /** SB_BENCH_OPS: the webhook receiver and metrics scraper beside it. */
  ops?: Ops;
}

/**
 * Settings of the durable scenario (persistence on). Switchboard: the SQLite store in `sync`
 * durability in a fresh data dir, queue bounds as high as Mosquitto's below (nothing acknowledged
 * is dropped while half the subscribers are offline). Mosquitto: `persistence true` (it writes its
 * database only on autosave and at shutdown). NATS: its MQTT listener always keeps sessions and
 * QoS 1 messages in JetStream (store_dir in the temp dir), durable or not.
 */
export const DURABLE_SWITCHBOARD = (dir: string): string[] => [
  '--data-dir',
  join(dir, 'data'),
  '--set',
  'store.type=sqlite',
  '--set',
  'store.durability=sync',
  '--set',
  'limits.maxQueuedMessages=1000000',
  '--set',
  `limits.maxQueuedBytes=${2 ** 30}`,
  '--set',
  `limits.maxStoredBytesPerApp=${4 * 2 ** 30}`,
  '--set',
  `limits.memoryBudget=${4 * 2 ** 30}`,
];

function storeArgs(name: BrokerName, dir: string): string[] {
  if (name === 'switchboard-cluster' || process.env.SB_BENCH_STORE === 'memory') return ['--set', 'store.type=memory'];
  return ['--data-dir', join(dir, 'data')];
}

/**
 * SB_BENCH_OPS=1: Switchboard runs as operators run it in production, to measure what that costs
 * on the hot path: one application (the clients log in as its ADMIN, bench/wire.ts) with webhooks
 * for every lifecycle event and for publishes on a filter the scenarios never publish on, sent to
 * a receiver in this process, and /metrics scraped every second.
 */
const OPS = process.env.SB_BENCH_OPS === '1';

interface Ops {
  config: string;
  stop(): Promise<void>;
}

async function startOps(dir: string, wsPort: number, full: boolean): Promise<Ops> {
  let hooks = 0;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hooks++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hookPort = (receiver.address() as AddressInfo).port;
  const config = join(dir, 'ops.json');
  writeFileSync(
    config,
    JSON.stringify({
      applications: [
        {
          id: 'bench',
          appKey: OPS_APP_KEY,
          profileKeys: { ADMIN: OPS_ADMIN_KEY },
          duplicateLogin: { ADMIN: 'takeover' },
          webhooks: !full ? [] : [
            {
              url: `http://127.0.0.1:${hookPort}/hook`,
              secret: 'bench-webhook-secret-0123456789',
              events: ['client.connected', 'client.disconnected', 'subscription.added', 'subscription.removed', 'message.dead_lettered', 'message.published'],
              topics: ['ops/never/#'],
              maxQueue: 100000,
            },
          ],
        },
      ],
    }),
  );
  let scrapes = 0;
  const scrape = setInterval(() => {
    if (full) fetch(`http://127.0.0.1:${wsPort}/metrics`).then((r) => r.text()).then(() => scrapes++, () => undefined);
  }, 1000);
  return {
    config,
    async stop() {
      clearInterval(scrape);
      await new Promise<void>((r) => receiver.close(() => r()));
      if (process.env.SB_BENCH_DEBUG) process.stderr.write(`ops: ${hooks} webhook requests, ${scrapes} scrapes\n`);
    },
  };
}

async function plan(name: BrokerName, port: number, dir: string, workers: number, durable: boolean): Promise<Plan> {
  const bench = join(ROOT, 'dist/bench/peers');
  switch (name) {
    case 'switchboard':
    case 'switchboard-base':
    case 'switchboard-cluster': {
      const wsPort = await freePort();
      const urls = [`mqtt://127.0.0.1:${port}`, `ws://127.0.0.1:${wsPort}/mqtt`];
      // SB_BENCH_NODE_ARGS: extra Node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      const nodeArgs = process.env.SB_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
      // switchboard-base logs the clients in to the same application without webhooks or scrapes,
      // so an A/B run measures what those cost and nothing else.
      const ops = (name === 'switchboard' || name === 'switchboard-base') && OPS ? await startOps(dir, wsPort, name === 'switchboard') : null;
      return {
        cmd: process.execPath,
        ...(ops !== null ? { ops } : {}),
        args: [...nodeArgs, name === 'switchboard-base' ? SB_BASE_MAIN : SB_MAIN, '--listen', urls[0]!, '--listen', urls[1]!, '--log-level', 'warn', ...(ops !== null ? ['--config', ops.config] : []), ...(name === 'switchboard-cluster' ? ['--workers', String(workers)] : []),
          // As users run it: the default SQLite store (clean sessions and QoS 0 never touch it), in a
          // fresh data dir; SB_BENCH_STORE=memory for the memory store. Workers share no SQLite store:
          // the cluster runs the memory store. Durable scenarios: DURABLE_SWITCHBOARD.
          ...(durable ? DURABLE_SWITCHBOARD(dir) : name === 'switchboard-base' ? [] : storeArgs(name, dir))],
        env: { NODE_ENV: 'production' },
        ws: { port: wsPort, path: '/mqtt' },
        listening: urls,
      };
    }
    case 'mosquitto': {
      const wsPort = await freePort();
      const conf = [
        // Keep our uid: dropping privileges would clear PR_SET_PDEATHSIG (and hide /proc limits).
        'user root',
        'per_listener_settings false',
        'allow_anonymous true',
        `listener ${port} 127.0.0.1`,
        `listener ${wsPort} 127.0.0.1`,
        'protocol websockets',
        // High enough that QoS 1 is never dropped; QoS 0 to online clients is not queued-limited.
        'max_queued_messages 1000000',
        'max_queued_bytes 0',
        'max_inflight_messages 0',
        ...(durable ? ['persistence true', `persistence_location ${dir}/`, 'persistence_file mosquitto.db'] : ['persistence false']),
        'log_dest stderr',
        'log_type error',
      ];
      writeFileSync(join(dir, 'mosquitto.conf'), conf.join('\n') + '\n');
      return { cmd: mosquittoBin() ?? 'mosquitto', args: ['-c', join(dir, 'mosquitto.conf')], ws: { port: wsPort, path: '/mqtt' } };
    }
    case 'nats': {
      const client = await freePort();
      const wsPort = await freePort();
      const conf = [
        `listen: "127.0.0.1:${client}"`,
        'server_name: sb_bench',
        `jetstream { store_dir: "${join(dir, 'js')}" }`,
        `mqtt { listen: "127.0.0.1:${port}" }`,
        // MQTT over WebSocket: the websocket listener, path /mqtt (nats-server >= 2.7).
        `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }`,
      ];
      writeFileSync(join(dir, 'nats.conf'), conf.join('\n') + '\n');
      return { cmd: natsBin() ?? 'nats-server', args: ['-c', join(dir, 'nats.conf')], ws: { port: wsPort, path: '/mqtt' } };
    }
    case 'aedes': {
      const wsPort = await freePort();
      return { cmd: process.execPath, args: [join(bench, 'aedes-server.js'), String(port), String(wsPort)], env: { NODE_ENV: 'production' }, ws: { port: wsPort, path: '/mqtt' } };
    }
    case 'node-floor':
      return { cmd: process.execPath, args: [join(bench, 'node-floor-server.js'), String(port)], ws: null };
  }
}

/** `workers`: cluster workers for switchboard-cluster (ignored by the others); `durable`: persistence on (see DURABLE_SWITCHBOARD). */
export async function startBroker(name: BrokerName, workers = 2, opts: { durable?: boolean } = {}): Promise<RunningBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-${name}-`));
  trackDir(dir);
  const p = await plan(name, port, dir, workers, opts.durable === true);
  // setpriv and taskset exec the broker: the pid we get is the broker's.
  const argv = [p.cmd, ...p.args];
  if (BROKER_CORE !== null && TASKSET_PATH) argv.unshift(TASKSET_PATH, '-c', BROKER_CORE);
  if (SETPRIV) argv.unshift(SETPRIV, '--pdeathsig', 'KILL');
  const proc: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...p.env }, cwd: dir });
  track(proc);
  let out = '';
  let exited: string | null = null;
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-4000);
  };
  // Always read the pipes: a broker blocked on a full pipe would measure the pipe.
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.on('exit', (code, signal) => (exited = `${name} exited (${signal ?? `code ${code}`})`));
  proc.on('error', (err) => (exited = `${name} could not start: ${err.message}`));
  const deadline = Date.now() + 20_000;
  try {
    if (p.listening) {
      const want = p.listening;
      while (!want.every((u) => out.includes(`listening ${u}`))) {
        if (exited) throw new Error(exited);
        if (Date.now() > deadline) throw new Error(`no "listening ${want.join('", "')}" line within 20 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } else {
      await waitForPort(port, deadline, () => exited);
      if (p.ws) await waitForPort(p.ws.port, deadline, () => exited);
    }
  } catch (err) {
    proc.kill('SIGKILL');
    await p.ops?.stop();
    removeDir(dir);
    throw new Error(`${name} did not start: ${(err as Error).message}${out ? `\n${out.trim().split('\n').slice(-5).join('\n')}` : ''}`);
  }
  const pid = proc.pid!;
  return {
    name,
    pid,
    port,
    workers: name === 'switchboard-cluster' ? workers : 1,
    ws: p.ws,
    get exited() {
      return exited;
    },
    tail: () => out.trim().split('\n').slice(-5).join('\n'),
    stop: () =>
      new Promise<void>((res) => {
        // Cluster workers included: the next scenario must not share the cores with a broker
        // still closing 100k sockets.
        const family = tree(pid);
        const done = (): void => {
          void gone(family)
            .then(() => p.ops?.stop())
            .then(() => {
              removeDir(dir);
              res();
            });
        };
        if (proc.exitCode !== null || proc.signalCode !== null) return done();
        proc.once('exit', done);
        // Switchboard gets SIGTERM first (graceful, writes a --cpu-prof profile); peers SIGKILL.
        proc.kill(isSwitchboard(name) ? 'SIGTERM' : 'SIGKILL');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}

export interface Usage {
  cpuSeconds: number;
  rssKB: number;
  peakRssKB: number;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The process and its descendants (cluster workers), from /proc. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const t of readdirSync(`/proc/${out[i]}/task`)) {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Resolves when none of `pids` runs any more (SIGKILL after 10 s). */
async function gone(pids: number[]): Promise<void> {
  const running = (p: number): boolean => {
    try {
      return !/\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8')); // a zombie has exited
    } catch {
      return false;
    }
  };
  const alive = (): number[] => pids.filter(running);
  const until = Date.now() + 10_000;
  while (alive().length > 0) {
    if (Date.now() > until) {
      for (const p of alive()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU (utime + stime, all threads) and RSS of a process and its descendants, from /proc. */
export function usage(pid: number): Usage {
  const sum: Usage = { cpuSeconds: 0, rssKB: 0, peakRssKB: 0 };
  for (const p of tree(pid)) {
    const u = usageOf(p);
    sum.cpuSeconds += u.cpuSeconds;
    sum.rssKB += u.rssKB;
    sum.peakRssKB += u.peakRssKB;
  }
  return sum;
}

function usageOf(pid: number): Usage {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      cpuSeconds: (Number(f[11]) + Number(f[12])) / CLK_TCK,
      rssKB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0),
      peakRssKB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0),
    };
  } catch {
    return { cpuSeconds: 0, rssKB: 0, peakRssKB: 0 };
  }
}
