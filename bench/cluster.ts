/**
 * The Redis cluster bench: three Switchboard nodes sharing one topic space through one Redis
 * server (`--redis`, `--node-id`), against a three-server NATS cluster (routes, JetStream, an
 * MQTT listener on each), with publishers and subscribers placed on different nodes.
 *
 *   npx tsc -p tsconfig.json --outDir .dist-bench
 *   node .dist-bench/bench/cluster.js [--quick] [--unpinned | --both] [--repeat N] [--window S]
 *     [--clients N] [--gens N] [--only pairs,pairs-lb,fanout,latency,storm] [--systems sb,nats,single]
 *     [--out FILE]
 *
 * SB_BENCH_NODE_ARGS adds Node flags to the Switchboard processes (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof"); SB_BENCH_DEBUG=1 prints every service's last lines and Redis' INFO
 * at the end of a layout.
 *
 * Started here, on free loopback ports, killed with the bench whatever happens (procs.ts):
 * `redis-server` (no persistence), three Switchboard nodes (the main.js of the build this file is
 * part of; memory store, $SYS off), HAProxy in TCP mode (roundrobin, no stickiness, health checks,
 * redispatch) in front of them, three `nats-server`s in a cluster, HAProxy in front of those, and
 * one Switchboard node without Redis (the single-node reference). Every system runs during the
 * whole layout; the scenarios take turns on them (Switchboard cluster, NATS cluster, single node),
 * so slow drifts of a shared machine hit them alike. A fresh process runs cold (V8 compiles its
 * hot paths under the first load): each system gets a short pairs and fan-out load first, shown
 * in the report but not measured.
 *
 * Scenarios (the load generator of gen/, pinned like `npm run bench`; placement = which node's
 * own port a client connects to):
 * 1.  cross-node pairs: 20 pairs, pair i publishes on node i%3 and subscribes on node (i+1)%3, QoS 0.
 * 1b. the same 20 pairs through HAProxy (it places the connections).
 * 2.  cross-node fan-out: 1 publisher on node 1, 20 subscribers alternating nodes 2 and 3, QoS 0.
 * 3.  cross-node latency: 1 publisher on node 1 at a fixed 10,000 msg/s, 1 subscriber on node 2.
 * For the Switchboard cluster, Redis' `cmdstat_spublish` calls are read (redis-cli INFO
 * commandstats) at the start and end of each measuring window: SPUBLISHes per published message
 * and per delivery.
 * 4.  reconnect storm: N clients (default 10,000) through HAProxy, each a persistent session (MQTT
 *     3.1.1, clean session 0) with a QoS 1 subscription, in worker processes (this file, forked with
 *     --storm-worker; bench/mqtt-client.ts); one node is SIGKILLed; measured: from the kill until
 *     every client it held (HAProxy closes them) has a CONNACK again, through HAProxy, from another
 *     node; session-present flags, attempts and refusals. Then one message is published to a
 *     sample of the clients from a surviving node, to see the routes work after the storm.
 *
 * One HAProxy process holds at most (RLIMIT_NOFILE - 500) / 2 proxied connections (a client
 * socket and a server socket each): where that is fewer than N (20,000 here: no CAP_SYS_RESOURCE
 * to raise it), several identical HAProxy processes share the clients, as behind a DNS name.
 *
 * `--unpinned`: nothing pinned (brokers and generator share the cores); `--both`: pinned, then
 * unpinned, in one run. A full run writes bench/RESULTS-redis-cluster.md (a single-layout run
 * replaces its layout's section and keeps the other's); `--quick` (or --only, --systems) writes
 * .bench-tmp/RESULTS-redis-cluster-quick.md.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { layoutSections } from './layout-report.js';
import net from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { missing, ROOT, usage, version } from './brokers.js';
import { GenPool } from './gen/pool.js';
import type { Gen } from './gen/pool.js';
import type { ClientSpec, PubSpec, RunResult } from './gen/protocol.js';
import { MiniMqtt } from './mqtt-client.js';
import { BROKER_CORE, CORES, GEN_CORE_COUNT, GEN_CORES, installCleanup, raiseNofile, readNofile, removeDir, SETPRIV, TASKSET_PATH, track, trackDir, which } from './procs.js';
import { hrMs, publish } from './wire.js';

const HERE = fileURLToPath(import.meta.url);
/** The Switchboard of the same build as this file (dist/ or .dist-bench/). */
const SB_MAIN = join(dirname(HERE), '../src/cli/main.js');
const STORM_FLAG = '--storm-worker';
/** SB_BENCH_NODE_ARGS: extra Node flags for the Switchboard processes, as in brokers.ts (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
const NODE_ARGS = process.env.SB_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
/** SB_BENCH_CLUSTER_LINK=0: messages between nodes go through Redis, not direct links (cluster.link). */
const CLUSTER_LINK = process.env.SB_BENCH_CLUSTER_LINK !== '0';
/** SB_BENCH_CLUSTER_STORE: the cluster nodes' store.type (default redis, their default with --redis: sessions in Redis). */
const CLUSTER_STORE = process.env.SB_BENCH_CLUSTER_STORE ?? 'redis';

const say = (s: string): void => void process.stdout.write(s + '\n');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (v: number): string => Math.round(v).toLocaleString('en-US');
const pctText = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)}%` : '-');
/** 3 significant digits below 1 (Redis commands per message). */
const small = (v: number): string => (!Number.isFinite(v) ? '-' : v >= 1 ? v.toFixed(2) : v.toPrecision(3));
const ratioText = (r: number): string => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;

// ---- affinity ---------------------------------------------------------------------------------

const ALL_CORES = `0-${CORES - 1}`;

/** Pin a process (all its threads) to `cores`, or let it use every core (null). */
function setAffinity(pid: number | undefined, cores: string | null): void {
  if (pid === undefined || TASKSET_PATH === null) return;
  spawnSync(TASKSET_PATH, ['-a', '-cp', cores ?? ALL_CORES, String(pid)], { stdio: 'ignore' });
}

interface Layout {
  pinned: boolean;
  /** taskset -c for brokers (Redis, nodes, HAProxy, NATS) and for generators; null: any core. */
  brokerCores: string | null;
  genCores: string | null;
  title: string;
}

function layout(pinned: boolean): Layout {
  const can = pinned && BROKER_CORE !== null && GEN_CORES !== null;
  return {
    pinned: can,
    brokerCores: can ? BROKER_CORE : null,
    genCores: can ? GEN_CORES : null,
    title: can ? `Pinned: every broker process on core ${BROKER_CORE}, the generator on core ${GEN_CORES}` : pinned ? 'Pinned requested, but taskset or a second core is missing: unpinned' : `Unpinned: brokers and generator share cores ${ALL_CORES}`,
  };
}

// ---- services ---------------------------------------------------------------------------------

interface Svc {
  name: string;
  pid: number;
  /** Why it ended while still in use; null while it runs. */
  readonly exited: string | null;
  tail(): string;
  stop(): Promise<void>;
  /** SIGKILL now (the storm), without waiting. */
  kill(): void;
}

interface SpawnOpts {
  cores: string | null;
  env?: Record<string, string>;
  cwd: string;
  /** Ready when every one of these appears in the output... */
  lines?: string[];
  /** ...or when this port accepts connections. */
  port?: number;
  /** SIGTERM first (Switchboard: graceful, says BYE), else SIGKILL. */
  graceful?: boolean;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
  });
}

/** Spawn a broker-side process as brokers.ts does: setpriv --pdeathsig KILL, taskset, pipes always read. */
async function spawnSvc(name: string, cmd: string, args: string[], o: SpawnOpts): Promise<Svc> {
  const argv = [cmd, ...args];
  if (o.cores !== null && TASKSET_PATH) argv.unshift(TASKSET_PATH, '-c', o.cores);
  if (SETPRIV) argv.unshift(SETPRIV, '--pdeathsig', 'KILL');
  const proc: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env }, cwd: o.cwd });
  track(proc);
  let out = '';
  let exited: string | null = null;
  let stopping = false;
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-8000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const ended = new Promise<void>((res) => proc.once('exit', () => res()));
  proc.on('exit', (code, signal) => {
    if (!stopping) exited = `${name} exited (${signal ?? `code ${code}`})`;
  });
  proc.on('error', (err) => (exited = `${name} could not start: ${err.message}`));
  const tail = (): string => out.trim().split('\n').slice(-8).join('\n');
  const until = Date.now() + 30_000;
  try {
    for (;;) {
      if (exited) throw new Error(exited);
      if (o.lines && o.lines.every((l) => out.includes(l))) break;
      if (o.port !== undefined && (await portOpen(o.port))) break;
      if (Date.now() > until) throw new Error(`not ready within 30 s`);
      await sleep(25);
    }
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${name} did not start: ${(err as Error).message}${out ? `\n${tail()}` : ''}`);
  }
  return {
    name,
    pid: proc.pid!,
    get exited() {
      return exited;
    },
    tail,
    kill: () => {
      stopping = true;
      proc.kill('SIGKILL');
    },
    stop: async () => {
      stopping = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(o.graceful ? 'SIGTERM' : 'SIGKILL');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await ended;
        clearTimeout(t);
      }
    },
  };
}

const natsBin = (): string | null => which('nats-server') ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : null);
const haproxyBin = (): string | null => which('haproxy') ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : null);

/** What this bench needs and lacks, with the command that installs it. */
function prerequisites(): string[] {
  const out: string[] = [];
  if (!existsSync(SB_MAIN)) out.push(`Switchboard is not built next to this file (${SB_MAIN}): run \`npx tsc -p tsconfig.json --outDir .dist-bench\``);
  if (!which('redis-server')) out.push('redis-server is missing: `apt-get install -y redis-server`');
  if (!which('redis-cli')) out.push('redis-cli is missing: `apt-get install -y redis-tools`');
  if (!natsBin()) out.push('nats-server is missing: `apt-get install -y nats-server`');
  return out;
}

/** HAProxy, installed with apt-get when missing (as the issue asks). */
function ensureHaproxy(): string {
  let bin = haproxyBin();
  if (bin) return bin;
  say('haproxy is missing: apt-get install -y haproxy');
  const r = spawnSync('apt-get', ['install', '-y', 'haproxy'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  bin = haproxyBin();
  if (!bin) throw new Error(`haproxy could not be installed (apt-get exit ${r.status ?? r.signal}): install it and run again`);
  return bin;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? cmd;
}

// ---- the systems under test -------------------------------------------------------------------

interface System {
  id: 'sb' | 'nats' | 'single';
  label: string;
  /** Each node's own MQTT port. */
  nodes: number[];
  /** HAProxy frontends (several processes when one cannot hold the storm; see the header). */
  lbs: number[];
  /** Processes whose CPU counts for this system (HAProxy only in runs through it). */
  pids: number[];
  lbPids: number[];
  /** Names of `pids`, for the CPU split. */
  names: string[];
  redisPort: number | null;
}

interface Env {
  layout: Layout;
  dir: string;
  svcs: Svc[];
  sb: System;
  nats: System;
  single: System;
  sbNodes: Svc[];
  haproxies: Svc[];
  lbCapacity: number;
  /** Stats sockets of the Switchboard HAProxy processes. */
  lbSocks: string[];
  pool: GenPool;
}

/** A roundrobin TCP proxy in front of `servers`, with a stats socket (`show stat`: current sessions per server). */
async function startHaproxy(bin: string, name: string, port: number, servers: number[], maxconn: number, e: { dir: string; cores: string | null }): Promise<{ svc: Svc; port: number; sock: string }> {
  const sock = join(e.dir, `${name}.sock`);
  const cfg = [
    'global',
    `  maxconn ${maxconn}`,
    `  stats socket ${sock} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  balance roundrobin',
    // A connection the killed node refused is retried on another server at once.
    '  option redispatch 1',
    '  retries 3',
    '  timeout connect 500ms',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout check 500ms',
    `  maxconn ${maxconn}`,
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  default_backend be',
    'backend be',
    '  default-server check inter 200ms fall 1 rise 2',
    ...servers.map((p, i) => `  server n${i + 1} 127.0.0.1:${p}`),
  ];
  const file = join(e.dir, `${name}.cfg`);
  writeFileSync(file, cfg.join('\n') + '\n');
  const svc = await spawnSvc(name, bin, ['-f', file, '-db'], { cores: e.cores, cwd: e.dir, port });
  return { svc, port, sock };
}

/** HAProxy `show stat`: current sessions of each server of backend `be`. */
function haproxySessions(sock: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: sock });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('error', reject);
    s.on('connect', () => s.write('show stat\n'));
    s.on('close', () => {
      const lines = text.split('\n');
      const head = (lines.find((l) => l.startsWith('# ')) ?? '').slice(2).split(',');
      const [px, sv, cur] = ['pxname', 'svname', 'scur'].map((k) => head.indexOf(k)) as [number, number, number];
      const m = new Map<string, number>();
      for (const l of lines) {
        const f = l.split(',');
        if (f[px] === 'be' && f[sv]?.startsWith('n')) m.set(f[sv]!, Number(f[cur] ?? 0));
      }
      resolve(m);
    });
  });
}

/**
 * Waits until a message published on every node reaches a subscriber on every other node
 * (cluster formed, interest propagated); MQTT connects are retried (NATS: JetStream elects its
 * leaders first).
 */
async function meshReady(ports: number[], tag: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const open = async (port: number, id: string): Promise<MiniMqtt> => {
    for (;;) {
      try {
        return await MiniMqtt.connect({ port, clientId: id, clean: true, timeoutMs: 5000 });
      } catch (err) {
        if (Date.now() > until) throw new Error(`cannot connect to port ${port}: ${(err as Error).message}`);
        await sleep(250);
      }
    }
  };
  const subs: MiniMqtt[] = [];
  const pubs: MiniMqtt[] = [];
  const seen = ports.map(() => new Set<number>());
  try {
    for (let j = 0; j < ports.length; j++) {
      const s = await open(ports[j]!, `${tag}-ps${j}`);
      subs.push(s);
      s.onPublish = (buf, start) => void seen[j]!.add(buf[start]!);
      for (;;) {
        try {
          await s.subscribe(`probe/${j}`, 0);
          break;
        } catch (err) {
          if (Date.now() > until) throw err;
          await sleep(250);
        }
      }
    }
    for (let i = 0; i < ports.length; i++) pubs.push(await open(ports[i]!, `${tag}-pp${i}`));
    for (;;) {
      let missingPairs = 0;
      for (let j = 0; j < ports.length; j++) {
        for (let i = 0; i < ports.length; i++) {
          if (i === j || seen[j]!.has(i)) continue;
          missingPairs++;
          const t = publish(`probe/${j}`, 16, 0, false);
          t.buf[t.payloadOffset] = i;
          pubs[i]!.sock.write(t.buf);
        }
      }
      if (missingPairs === 0) return;
      if (Date.now() > until) throw new Error(`${missingPairs} node pairs still do not pass messages after ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  } finally {
    for (const c of [...subs, ...pubs]) c.destroy();
  }
}

/** `n` distinct free loopback ports (all held at once, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((res, rej) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => res(s));
          s.on('error', rej);
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** Starts every system of a layout; a failure stops what had started. */
async function startEnv(L: Layout, lbCapacity: number, lbCount: number): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-rcluster-'));
  trackDir(dir);
  const svcs: Svc[] = [];
  try {
    return await startAll(L, lbCapacity, lbCount, dir, svcs);
  } catch (err) {
    await Promise.all(svcs.map((s) => s.stop()));
    removeDir(dir);
    throw err;
  }
}

async function startAll(L: Layout, lbCapacity: number, lbCount: number, dir: string, svcs: Svc[]): Promise<Env> {
  const add = (s: Svc): Svc => (svcs.push(s), s);
  const cores = L.brokerCores;
  const haproxy = ensureHaproxy();
  // Every port at once: distinct, and taken by their services right after.
  const free = await freePorts(1 + 3 + lbCount + 9 + 1 + 1);
  const freePort = async (): Promise<number> => free.shift()!;
  // Redis: no snapshots, no AOF.
  const redisPort = await freePort();
  const redis = add(await spawnSvc('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { cores, cwd: dir, port: redisPort }));
  // Three Switchboard nodes on that Redis (one after the other: each finds the earlier ones).
  const sbPorts: number[] = [];
  const sbNodes: Svc[] = [];
  for (let i = 1; i <= 3; i++) {
    const p = await freePort();
    const url = `mqtt://127.0.0.1:${p}`;
    const args = [...NODE_ARGS, SB_MAIN, '--listen', url, '--redis', `redis://127.0.0.1:${redisPort}`, '--node-id', `n${i}`, '--set', `store.type=${CLUSTER_STORE}`, ...(CLUSTER_LINK ? ['--cluster-link', '127.0.0.1:0'] : []), '--log-level', 'warn', '--set', 'sys.interval=0'];
    sbNodes.push(add(await spawnSvc(`switchboard n${i}`, process.execPath, args, { cores, cwd: dir, env: { NODE_ENV: 'production' }, lines: [`listening ${url}`], graceful: true })));
    sbPorts.push(p);
  }
  const haproxies: Svc[] = [];
  const sbLbs: number[] = [];
  const socks: string[] = [];
  for (let i = 0; i < lbCount; i++) {
    const h = await startHaproxy(haproxy, `haproxy-sb${i + 1}`, await freePort(), sbPorts, lbCapacity, { dir, cores });
    haproxies.push(add(h.svc));
    sbLbs.push(h.port);
    socks.push(h.sock);
  }
  // Three NATS servers: routes to each other, JetStream (MQTT needs it), an MQTT listener each.
  const natsPorts: number[] = [];
  const natsSvcs: Svc[] = [];
  const route = await Promise.all([freePort(), freePort(), freePort()]);
  for (let i = 1; i <= 3; i++) {
    const client = await freePort();
    const mqtt = await freePort();
    const conf = [
      `server_name: n${i}`,
      `listen: "127.0.0.1:${client}"`,
      `jetstream { store_dir: "${join(dir, `js${i}`)}" }`,
      `cluster { name: sbbench, listen: "127.0.0.1:${route[i - 1]}", routes: [${route
        .filter((_, k) => k !== i - 1)
        .map((r) => `"nats-route://127.0.0.1:${r}"`)
        .join(', ')}] }`,
      `mqtt { listen: "127.0.0.1:${mqtt}" }`,
    ];
    const file = join(dir, `nats${i}.conf`);
    writeFileSync(file, conf.join('\n') + '\n');
    natsSvcs.push(add(await spawnSvc(`nats n${i}`, natsBin()!, ['-c', file], { cores, cwd: dir, port: mqtt })));
    natsPorts.push(mqtt);
  }
  const natsLb = await startHaproxy(haproxy, 'haproxy-nats', await freePort(), natsPorts, lbCapacity, { dir, cores });
  add(natsLb.svc);
  // The single-node reference: the same build, no Redis.
  const singlePort = await freePort();
  const singleUrl = `mqtt://127.0.0.1:${singlePort}`;
  const single = add(
    await spawnSvc('switchboard single', process.execPath, [...NODE_ARGS, SB_MAIN, '--listen', singleUrl, '--set', 'store.type=memory', '--log-level', 'warn', '--set', 'sys.interval=0'], {
      cores,
      cwd: dir,
      env: { NODE_ENV: 'production' },
      lines: [`listening ${singleUrl}`],
      graceful: true,
    }),
  );
  try {
    await meshReady(sbPorts, `ready-sb${process.pid}`);
    await meshReady(natsPorts, `ready-nats${process.pid}`);
  } catch (err) {
    const state = svcs.map((s) => `${s.name} (pid ${s.pid}): ${s.exited ?? 'running'}\n  ${s.tail().split('\n').slice(-4).join('\n  ')}`);
    throw new Error(`${(err as Error).message}; Switchboard ports ${sbPorts.join(', ')}, NATS MQTT ports ${natsPorts.join(', ')}\n${state.join('\n')}`);
  }
  const pool = new GenPool();
  const env: Env = {
    layout: L,
    dir,
    svcs,
    sbNodes,
    haproxies,
    lbCapacity,
    pool,
    lbSocks: socks,
    sb: { id: 'sb', label: 'Switchboard cluster (3 nodes, Redis)', nodes: sbPorts, lbs: sbLbs, pids: [...sbNodes.map((s) => s.pid), redis.pid], names: ['n1', 'n2', 'n3', 'redis'], lbPids: haproxies.map((h) => h.pid), redisPort },
    nats: { id: 'nats', label: 'NATS cluster (3 servers, routes)', nodes: natsPorts, lbs: [natsLb.port], pids: natsSvcs.map((s) => s.pid), names: ['n1', 'n2', 'n3'], lbPids: [natsLb.svc.pid], redisPort: null },
    single: { id: 'single', label: 'Switchboard single node (reference)', nodes: [singlePort], lbs: [], pids: [single.pid], names: ['node'], lbPids: [], redisPort: null },
  };
  return env;
}

async function stopEnv(e: Env): Promise<void> {
  e.pool.stop();
  await Promise.all(e.svcs.map((s) => s.stop()));
  removeDir(e.dir);
}

// ---- loads: the generator of gen/, clients placed on nodes -----------------------------------

interface XGroup {
  /** Each subscriber's node (index into the system's ports) and filter. */
  subs: Array<{ node: number; filter: string }>;
  /** Each publisher's node, topic and the group's subscribers that receive it. */
  pubs: Array<{ node: number; topic: string; to: number[] }>;
}

interface XLoad {
  groups: XGroup[];
  /** Messages/s per publisher (latency recorded); 0: as fast as flow control allows. */
  rate: number;
  size: number;
}

interface Timing {
  warmMs: number;
  windowMs: number;
  latWarmMs: number;
  latWindowMs: number;
  quietMs: number;
  maxDrainMs: number;
}

interface Fig {
  value: number;
  text: string;
  lost: number;
  notes: string[];
  /** CPU of the system under test (all its processes), % of one core, during the window. */
  sysPct: number;
  /** CPU of the other systems (idle meanwhile), % of one core. */
  otherPct: number;
  genPct: number;
  /** SPUBLISH and all commands in the window, per published message and per delivery; bytes into Redis per published message. */
  redis: { spublish: number; all: number; perMsg: number; perDelivery: number; bytesPerMsg: number } | null;
  /** CPU of each process of the system during the window. */
  split: string;
  error?: string;
}

/** Redis' command counters (INFO commandstats) and the bytes it read (INFO stats). */
function redisCalls(port: number): { spublish: number; all: number; netIn: number } {
  const r = spawnSync('redis-cli', ['-p', String(port), 'info', 'all'], { encoding: 'utf8' });
  let spublish = 0;
  let all = 0;
  const netIn = Number(/^total_net_input_bytes:(\d+)/m.exec(r.stdout)?.[1] ?? NaN);
  for (const m of r.stdout.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    const n = Number(m[2]);
    all += n;
    if (m[1] === 'spublish') spublish = n;
  }
  return { spublish, all, netIn };
}

const cpuOf = (pids: number[]): number => pids.reduce((a, p) => a + usage(p).cpuSeconds, 0);
let seq = 0;

/** The generator processes, pinned as the layout says (GenPool pins them to GEN_CORES). */
function getGens(e: Env, n: number): Gen[] {
  const gens = e.pool.get(n);
  for (const g of gens) setAffinity(g.child.pid, e.layout.genCores);
  return gens;
}

/**
 * One load on a system; `viaLb`: every client through HAProxy instead of its node's port.
 * As scenarios.ts runs a load: groups dealt over the generators (a publisher and its
 * subscribers in one process: flow control follows what they received), warm-up, window,
 * drain; here each client connects to the node its group places it on.
 */
async function runX(e: Env, sys: System, load: XLoad, t: Timing, gensWanted: number, viaLb: boolean): Promise<Fig> {
  const nGens = Math.max(1, Math.min(gensWanted, load.groups.length));
  const gens = getGens(e, nGens);
  const paced = load.rate > 0;
  const tag = `rc${process.pid % 10000}x${++seq}`;
  const pktLen = publish('bench/x', load.size, 0, false).buf.length;
  // As `npm run bench`: at most 1 MB per subscriber published and not yet delivered (QoS 0).
  const perSub = Math.max(16, Math.min(8192, Math.floor((1024 * 1024) / pktLen)));
  const portOf = (node: number): number => (viaLb ? sys.lbs[0]! : sys.nodes[node % sys.nodes.length]!);
  try {
    await Promise.all(
      gens.map(async (gen, gi) => {
        const mine = load.groups.filter((_, g) => g % nGens === gi);
        // Connection indexes in this generator: opens run one after another (each appends).
        const subIdx = mine.map((g) => g.subs.map(() => -1));
        const pubIdx = mine.map((g) => g.pubs.map(() => -1));
        const openAll = async (kind: 's' | 'p'): Promise<void> => {
          const byPort = new Map<number, Array<{ spec: ClientSpec; set: (i: number) => void }>>();
          mine.forEach((g, mi) => {
            const list = kind === 's' ? g.subs : g.pubs;
            list.forEach((c, k) => {
              const port = portOf(c.node);
              let arr = byPort.get(port);
              if (arr === undefined) byPort.set(port, (arr = []));
              const spec: ClientSpec = kind === 's' ? { clientId: `${tag}-g${gi}-s${mi}-${k}`, filter: (c as { filter: string }).filter, qos: 0 } : { clientId: `${tag}-g${gi}-p${mi}-${k}`, qos: 0 };
              arr.push({ spec, set: (i) => ((kind === 's' ? subIdx : pubIdx)[mi]![k] = i) });
            });
          });
          for (const [port, arr] of byPort) {
            const r = await gen.open({ op: 'open', clients: arr.map((a) => a.spec), transport: 'tcp', port, path: '/', concurrency: 20, timeoutMs: 30_000 });
            if (r.failed > 0) throw new Error(`${r.failed} ${kind === 's' ? 'subscribers' : 'publishers'} failed on port ${port}: ${r.firstError}`);
            arr.forEach((a, k) => a.set(r.base + k));
          }
        };
        await openAll('s');
        await openAll('p');
        const pubs: PubSpec[] = [];
        mine.forEach((g, mi) => {
          const feeders = g.subs.map((_, s) => g.pubs.filter((p) => p.to.includes(s)).length);
          g.pubs.forEach((p, k) => {
            const fanIn = Math.max(1, ...p.to.map((s) => feeders[s] ?? 1));
            pubs.push({
              conn: pubIdx[mi]![k]!,
              topic: p.topic,
              size: load.size,
              qos: 0,
              window: 64,
              limit: paced ? 0 : Math.max(8, Math.floor(perSub / fanIn)),
              subs: p.to.map((s) => subIdx[mi]![s]!),
              rate: load.rate,
            });
          });
        });
        await gen.flows({ op: 'flows', pubs });
      }),
    );
    // Interest crosses the bus (Redis, routes) before the first message.
    await sleep(300);
    const sysPids = viaLb ? [...sys.pids, ...sys.lbPids] : sys.pids;
    const otherPids = e.svcs.map((s) => s.pid).filter((p) => !sysPids.includes(p));
    interface Sample {
      at: number;
      sys: number;
      other: number;
      redis: { spublish: number; all: number; netIn: number } | null;
      /** CPU seconds of each process of the system. */
      each: number[];
    }
    const win: { a: Sample | null; b: Sample | null } = { a: null, b: null };
    const sysNames = viaLb ? [...sys.names, ...sys.lbPids.map((_, i) => `haproxy${sys.lbPids.length > 1 ? i + 1 : ''}`)] : sys.names;
    const sample = (): Sample => {
      const each = sysPids.map((p) => usage(p).cpuSeconds);
      return { at: performance.now(), sys: each.reduce((x, y) => x + y, 0), each, other: cpuOf(otherPids), redis: sys.redisPort !== null ? redisCalls(sys.redisPort) : null };
    };
    gens[0]!.onEvent = (ev) => {
      if (ev.ev === 'window-start') win.a = sample();
      else win.b = sample();
    };
    const warmMs = paced ? t.latWarmMs : t.warmMs;
    const windowMs = paced ? t.latWindowMs : t.windowMs;
    const results = await Promise.all(gens.map((g) => g.run({ op: 'run', warmMs, windowMs, quietMs: t.quietMs, maxDrainMs: t.maxDrainMs, latency: paced })));
    gens[0]!.onEvent = null;
    let windowDeliveries = 0;
    let winMs = 0;
    let sent = 0;
    let expected = 0;
    let received = 0;
    let drainMs = 0;
    let timedOut = false;
    let genCpu = 0;
    let hist: Histogram | null = null;
    for (const r of results as RunResult[]) {
      windowDeliveries += r.windowDeliveries;
      winMs += r.windowMs / results.length;
      sent += r.sent;
      expected += r.expected;
      received += r.received;
      drainMs = Math.max(drainMs, r.drainMs);
      timedOut ||= r.drainTimedOut;
      genCpu += r.cpuMs;
      if (r.histogram) {
        const h = decodeFromCompressedBase64(r.histogram);
        if (hist) hist.add(h);
        else hist = h;
      }
    }
    const notes: string[] = [];
    const missingN = Math.max(0, expected - received);
    let lost = missingN;
    if (received > expected) notes.push(`${fmt(received - expected)} duplicates`);
    if (timedOut && missingN > 0) {
      notes.push(`${fmt(missingN)} still arriving after the ${t.maxDrainMs / 1000} s drain (backlog, not counted as lost)`);
      lost = 0;
    } else if (drainMs > 1000) notes.push(`drained in ${(drainMs / 1000).toFixed(1)} s`);
    const { a, b } = win;
    const span = a && b ? (b.at - a.at) / 1000 : NaN;
    const rate = (windowDeliveries / winMs) * 1000;
    const fanOut = load.groups[0]!.pubs[0]!.to.length;
    let redis: Fig['redis'] = null;
    if (a?.redis && b?.redis) {
      const spub = b.redis.spublish - a.redis.spublish;
      // Published in the window: deliveries / subscribers per message (steady state).
      const published = windowDeliveries / fanOut;
      redis = { spublish: spub, all: b.redis.all - a.redis.all, perMsg: spub / published, perDelivery: spub / windowDeliveries, bytesPerMsg: (b.redis.netIn - a.redis.netIn) / published };
    }
    const f: Fig = {
      value: rate,
      text: fmt(rate),
      lost,
      notes,
      sysPct: a && b ? ((b.sys - a.sys) / span) * 100 : NaN,
      otherPct: a && b ? ((b.other - a.other) / span) * 100 : NaN,
      genPct: (genCpu / winMs / Math.min(nGens, GEN_CORE_COUNT)) * 100,
      redis,
      split: a && b && sysNames.length > 1 ? sysNames.map((n, i) => `${n} ${pctText(((b.each[i]! - a.each[i]!) / span) * 100)}`).join(', ') : '',
    };
    if (paced) {
      const h = hist as Histogram | null;
      if (!h || h.totalCount === 0) throw new Error('no latency samples');
      const ms = (v: number): string => (v / 1000).toFixed(2);
      f.value = h.getValueAtPercentile(99) / 1000;
      f.text = `${ms(h.getValueAtPercentile(50))} / ${ms(h.getValueAtPercentile(99))} / ${ms(h.getValueAtPercentile(99.9))} / ${ms(h.maxValue)}`;
      notes.unshift(`${fmt(rate)} deliveries/s, ${fmt(h.totalCount)} samples`);
    }
    for (const s of e.svcs) if (s.exited) throw new Error(`${s.exited}: ${s.tail().split('\n').pop() ?? ''}`);
    return f;
  } finally {
    for (const g of gens) g.onEvent = null;
    await Promise.all(gens.map((g) => g.close().catch(() => {})));
  }
}

/** Pair i: publisher on node i%3, subscriber on node (i+1)%3: every pair crosses, every node has both. */
const crossPairs = (n: number, nodes: number): XGroup[] =>
  Array.from({ length: n }, (_, i) => ({ subs: [{ node: (i + 1) % nodes, filter: `bench/pair/${i}` }], pubs: [{ node: i % nodes, topic: `bench/pair/${i}`, to: [0] }] }));
/** Publisher on node 1, subscribers alternating over the other nodes. */
const crossFanout = (subs: number, nodes: number): XGroup[] => [
  {
    subs: Array.from({ length: subs }, (_, i) => ({ node: nodes > 1 ? 1 + (i % (nodes - 1)) : 0, filter: 'bench/fanout' })),
    pubs: [{ node: 0, topic: 'bench/fanout', to: Array.from({ length: subs }, (_, i) => i) }],
  },
];
const crossLatency = (nodes: number): XGroup[] => [{ subs: [{ node: nodes > 1 ? 1 : 0, filter: 'bench/lat' }], pubs: [{ node: 0, topic: 'bench/lat', to: [0] }] }];

// ---- the reconnect storm ----------------------------------------------------------------------

interface StormClient {
  id: string;
  topic: string;
  port: number;
}

type StormReq =
  | { op: 'open'; clients: StormClient[]; concurrency: number }
  | { op: 'status'; detail: boolean }
  | { op: 'sample'; k: number }
  | { op: 'count'; ids: string[] }
  | { op: 'close' };

interface StormOpened {
  opened: number;
  failed: number;
  firstError: string | null;
  sessionPresent: number;
  ms: number;
}

interface StormStatus {
  clients: number;
  /** Connected now (CONNACK had). */
  up: number;
  /** Connections closed by the other side since the open. */
  drops: number;
  /** Dropped clients with a CONNACK again. */
  reconnected: number;
  /** ...and subscribed again (SUBACK; only where the session was not present). */
  resubscribed: number;
  sessionPresent: number;
  attempts: number;
  failures: Record<string, number>;
  /** hrMs of each reconnect's CONNACK (detail). */
  connackAt: number[];
  firstDropAt: number;
  lastDropAt: number;
}

/** The storm's client side, in a forked process of its own (`cluster.js --storm-worker`). */
function stormWorker(): void {
  interface C extends StormClient {
    conn: MiniMqtt | null;
    dropped: boolean;
    connackAt: number;
    got: number;
  }
  let clients: C[] = [];
  let closing = false;
  const st = { drops: 0, reconnected: 0, resubscribed: 0, sessionPresent: 0, attempts: 0, failures: {} as Record<string, number>, firstDropAt: 0, lastDropAt: 0 };
  const why = (err: Error): string => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) return code;
    const rc = /^CONNACK (\d+)/.exec(err.message);
    if (rc) return `CONNACK return code ${rc[1]}`;
    if (err.message.includes('closed while opening')) return 'closed before CONNACK';
    if (err.message.startsWith('timeout')) return 'no CONNACK in 10 s';
    return err.message;
  };
  const watch = (c: C, m: MiniMqtt): void => {
    c.conn = m;
    m.onPublish = () => void c.got++;
    m.sock.once('close', () => {
      if (closing || c.conn !== m) return;
      c.conn = null;
      const now = hrMs();
      st.drops++;
      if (st.firstDropAt === 0) st.firstDropAt = now;
      st.lastDropAt = now;
      c.dropped = true;
      c.connackAt = 0;
      reconnect(c);
    });
  };
  // A dropped client reconnects at once; a failed attempt is retried 100 ms later.
  const reconnect = (c: C): void => {
    if (closing) return;
    st.attempts++;
    MiniMqtt.connect({ port: c.port, clientId: c.id, clean: false, timeoutMs: 10_000 }).then(
      (m) => {
        if (closing) return m.destroy();
        c.connackAt = hrMs();
        st.reconnected++;
        if (m.sessionPresent) st.sessionPresent++;
        watch(c, m);
        if (!m.sessionPresent) {
          m.subscribe(c.topic, 1).then(
            () => void st.resubscribed++,
            () => {},
          );
        } else st.resubscribed++;
      },
      (err: Error) => {
        const k = why(err);
        st.failures[k] = (st.failures[k] ?? 0) + 1;
        setTimeout(() => reconnect(c), 100);
      },
    );
  };
  const open = async (req: Extract<StormReq, { op: 'open' }>): Promise<StormOpened> => {
    const t0 = hrMs();
    const list: C[] = req.clients.map((c) => ({ ...c, conn: null, dropped: false, connackAt: 0, got: 0 }));
    clients.push(...list);
    let next = 0;
    let failed = 0;
    let sp = 0;
    let firstError: string | null = null;
    const lane = async (): Promise<void> => {
      while (next < list.length) {
        const c = list[next++]!;
        try {
          const m = await MiniMqtt.connect({ port: c.port, clientId: c.id, clean: false, timeoutMs: 30_000 });
          if (m.sessionPresent) sp++;
          watch(c, m);
          await m.subscribe(c.topic, 1);
        } catch (err) {
          failed++;
          firstError ??= (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, list.length)) }, lane));
    return { opened: list.length - failed, failed, firstError, sessionPresent: sp, ms: hrMs() - t0 };
  };
  const status = (detail: boolean): StormStatus => ({
    clients: clients.length,
    up: clients.filter((c) => c.conn !== null).length,
    ...st,
    failures: { ...st.failures },
    connackAt: detail ? clients.filter((c) => c.dropped && c.connackAt > 0).map((c) => c.connackAt) : [],
  });
  const sample = (k: number): { dropped: string[]; kept: string[] } => {
    for (const c of clients) c.got = 0;
    const up = clients.filter((c) => c.conn !== null);
    return { dropped: up.filter((c) => c.dropped).slice(0, k).map((c) => c.id), kept: up.filter((c) => !c.dropped).slice(0, k).map((c) => c.id) };
  };
  process.on('message', (m: StormReq & { id: number }) => {
    const reply = (p: Promise<unknown>): void => {
      p.then(
        (result) => process.send?.({ id: m.id, ok: true, result }),
        (err: unknown) => process.send?.({ id: m.id, ok: false, error: (err as Error).message }),
      );
    };
    switch (m.op) {
      case 'open':
        return reply(open(m));
      case 'status':
        return reply(Promise.resolve(status(m.detail)));
      case 'sample':
        return reply(Promise.resolve(sample(m.k)));
      case 'count': {
        const want = new Set(m.ids);
        return reply(Promise.resolve(clients.filter((c) => want.has(c.id) && c.got > 0).length));
      }
      case 'close':
        closing = true;
        for (const c of clients) if (c.conn && !c.conn.sock.destroyed) c.conn.sock.resetAndDestroy();
        clients = [];
        return reply(Promise.resolve(null));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** The bench's handle on one storm worker process. */
class StormProc {
  private n = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private gone: string | null = null;
  readonly child: ChildProcess;

  constructor(index: number, cores: string | null) {
    const pin = cores !== null && TASKSET_PATH !== null ? { execPath: TASKSET_PATH, execArgv: ['-c', cores, process.execPath] } : {};
    this.child = fork(HERE, [STORM_FLAG, String(index)], { ...pin, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(this.child);
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.result);
      else p?.reject(new Error(m.error ?? 'storm worker error'));
    });
    this.child.on('exit', (code, sig) => {
      this.gone = `storm worker ${index} exited (${sig ?? code})`;
      for (const p of this.pending.values()) p.reject(new Error(this.gone));
      this.pending.clear();
    });
  }

  request<T>(req: StormReq): Promise<T> {
    if (this.gone) return Promise.reject(new Error(this.gone));
    const id = ++this.n;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

interface StormFig {
  clients: number;
  opened: number;
  openS: number;
  openFailed: string | null;
  /** Sessions present at the first connect (should be 0: fresh ids). */
  firstSessionPresent: number;
  /** Current sessions per node before the kill, per HAProxy `show stat` (all instances). */
  perNode: number[];
  killed: string;
  drops: number;
  reconnected: number;
  resubscribed: number;
  sessionPresent: number;
  attempts: number;
  failures: Record<string, number>;
  /** Kill to the last CONNACK, s (NaN: not all reconnected). */
  seconds: number;
  p50: number;
  p99: number;
  complete: boolean;
  probe: { dropped: [number, number]; kept: [number, number] } | null;
  lbCount: number;
  workers: number;
  notes: string[];
}

async function storm(e: Env, n: number, quick: boolean): Promise<StormFig> {
  const sys = e.sb;
  const L = sys.lbs.length;
  const W = Math.max(GEN_CORE_COUNT, Math.ceil(n / 5000));
  const workers = Array.from({ length: W }, (_, i) => new StormProc(i + 1, e.layout.genCores));
  const notes: string[] = [];
  try {
    const per: StormClient[][] = workers.map(() => []);
    for (let i = 0; i < n; i++) per[i % W]!.push({ id: `storm-${process.pid % 10000}-${i}`, topic: `storm/${i}`, port: sys.lbs[i % L]! });
    const t0 = performance.now();
    const opened = await Promise.all(workers.map((w, i) => w.request<StormOpened>({ op: 'open', clients: per[i]!, concurrency: Math.ceil(200 / W) })));
    const openS = (performance.now() - t0) / 1000;
    const ok = opened.reduce((a, r) => a + r.opened, 0);
    const failed = opened.reduce((a, r) => a + r.failed, 0);
    say(`    storm: ${fmt(ok)} persistent sessions through ${L} HAProxy process${L > 1 ? 'es' : ''} in ${openS.toFixed(1)} s${failed ? `, ${failed} failed: ${opened.find((r) => r.firstError)?.firstError ?? ''}` : ''}`);
    await sleep(1000);
    const perNode = [0, 0, 0];
    for (const sock of e.lbSocks) {
      const m = await haproxySessions(sock);
      for (let k = 0; k < 3; k++) perNode[k]! += m.get(`n${k + 1}`) ?? 0;
    }
    const before = await Promise.all(workers.map((w) => w.request<StormStatus>({ op: 'status', detail: false })));
    const dropsBefore = before.reduce((a, s) => a + s.drops, 0);
    if (dropsBefore > 0) notes.push(`${dropsBefore} connections closed by the cluster before the kill (reconnected)`);
    // Kill the node holding the most clients (n3 when even).
    let victim = 2;
    for (let k = 0; k < 3; k++) if (perNode[k]! > perNode[victim]!) victim = k;
    const node = e.sbNodes[victim]!;
    const killAt = hrMs();
    node.kill();
    say(`    storm: SIGKILL n${victim + 1} (pid ${node.pid}, ${fmt(perNode[victim]!)} clients per HAProxy)`);
    const expect = perNode[victim]!;
    const limitMs = quick ? 30_000 : 60_000;
    let st: StormStatus[] = [];
    let stableSince = 0;
    let lastDrops = -1;
    let complete = false;
    for (;;) {
      await sleep(50);
      st = await Promise.all(workers.map((w) => w.request<StormStatus>({ op: 'status', detail: false })));
      const drops = st.reduce((a, s) => a + s.drops, 0) - dropsBefore;
      const rec = st.reduce((a, s) => a + s.reconnected, 0) - (before.reduce((a, s) => a + s.reconnected, 0));
      const up = st.reduce((a, s) => a + s.up, 0);
      if (drops !== lastDrops) {
        lastDrops = drops;
        stableSince = performance.now();
      }
      // Done: at least the clients HAProxy counted on the killed node were dropped, all of them
      // are back, and no new drop came for a second.
      if (drops >= expect && rec >= drops && up === ok && performance.now() - stableSince > 1000) {
        complete = true;
        break;
      }
      if (hrMs() - killAt > limitMs) break;
    }
    st = await Promise.all(workers.map((w) => w.request<StormStatus>({ op: 'status', detail: true })));
    const times = st
      .flatMap((s) => s.connackAt)
      .map((at) => at - killAt)
      .filter((v) => v > 0)
      .sort((a, b) => a - b);
    const pct = (p: number): number => (times.length ? times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]! / 1000 : NaN);
    const failures: Record<string, number> = {};
    for (const s of st) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    const sum = (f: (s: StormStatus) => number): number => st.reduce((a, s) => a + f(s), 0) - before.reduce((a, s) => a + f(s), 0);
    const drops = sum((s) => s.drops);
    const reconnected = sum((s) => s.reconnected);
    // After the storm: one message to a sample of moved clients and of clients that stayed, from a surviving node.
    let probe: StormFig['probe'] = null;
    const survivor = sys.nodes[victim === 0 ? 1 : 0]!;
    try {
      await sleep(500);
      const samples = await Promise.all(workers.map((w) => w.request<{ dropped: string[]; kept: string[] }>({ op: 'sample', k: Math.ceil(100 / W) })));
      const dropped = samples.flatMap((s) => s.dropped);
      const kept = samples.flatMap((s) => s.kept);
      const pub = await MiniMqtt.connect({ port: survivor, clientId: `storm-probe-${process.pid}`, clean: true });
      for (const id of [...dropped, ...kept]) pub.sock.write(publish(`storm/${id.slice(id.lastIndexOf('-') + 1)}`, 16, 0, false).buf);
      await sleep(2000);
      pub.destroy();
      const got = async (ids: string[]): Promise<number> => (await Promise.all(workers.map((w) => w.request<number>({ op: 'count', ids })))).reduce((a, v) => a + v, 0);
      probe = { dropped: [await got(dropped), dropped.length], kept: [await got(kept), kept.length] };
    } catch (err) {
      notes.push(`the delivery check after the storm failed: ${(err as Error).message}`);
    }
    return {
      clients: n,
      opened: ok,
      openS,
      openFailed: failed > 0 ? `${failed} failed: ${opened.find((r) => r.firstError)?.firstError ?? ''}` : null,
      firstSessionPresent: opened.reduce((a, r) => a + r.sessionPresent, 0),
      perNode,
      killed: `n${victim + 1}`,
      drops,
      reconnected,
      resubscribed: sum((s) => s.resubscribed),
      sessionPresent: sum((s) => s.sessionPresent),
      attempts: sum((s) => s.attempts),
      failures,
      seconds: complete && times.length ? times[times.length - 1]! / 1000 : NaN,
      p50: pct(50),
      p99: pct(99),
      complete,
      probe,
      lbCount: L,
      workers: W,
      notes,
    };
  } finally {
    await Promise.all(workers.map((w) => w.request({ op: 'close' }).catch(() => {})));
    for (const w of workers) w.kill();
  }
}

// ---- the run ----------------------------------------------------------------------------------

interface Row {
  sys: System;
  viaLb: boolean;
  placement: string;
  fig: Fig;
}

interface ScenarioDef {
  id: string;
  title: string;
  unit: string;
  latency: boolean;
  load: (nodes: number) => XLoad;
  systems: Array<{ sys: 'sb' | 'nats' | 'single'; viaLb: boolean; placement: string }>;
}

const SCENARIOS: ScenarioDef[] = [
  {
    id: 'pairs',
    title: '1. cross-node pairs: 20 publisher/subscriber pairs, QoS 0, 64 B',
    unit: 'deliveries/s',
    latency: false,
    load: (nodes) => ({ groups: crossPairs(20, nodes), rate: 0, size: 64 }),
    systems: [
      { sys: 'sb', viaLb: false, placement: 'pair i: pub on node i%3, sub on node (i+1)%3' },
      { sys: 'nats', viaLb: false, placement: 'pair i: pub on node i%3, sub on node (i+1)%3' },
      { sys: 'single', viaLb: false, placement: 'all on one node (no hop)' },
    ],
  },
  {
    id: 'pairs-lb',
    title: '1b. the same 20 pairs through HAProxy (roundrobin places every connection)',
    unit: 'deliveries/s',
    latency: false,
    load: (nodes) => ({ groups: crossPairs(20, nodes), rate: 0, size: 64 }),
    systems: [
      { sys: 'sb', viaLb: true, placement: 'HAProxy roundrobin' },
      { sys: 'nats', viaLb: true, placement: 'HAProxy roundrobin' },
    ],
  },
  {
    id: 'fanout',
    title: '2. cross-node fan-out: 1 publisher on node 1 -> 20 subscribers on nodes 2 and 3, QoS 0, 64 B',
    unit: 'deliveries/s',
    latency: false,
    load: (nodes) => ({ groups: crossFanout(20, nodes), rate: 0, size: 64 }),
    systems: [
      { sys: 'sb', viaLb: false, placement: 'pub on n1, 10 subs on n2, 10 on n3' },
      { sys: 'nats', viaLb: false, placement: 'pub on n1, 10 subs on n2, 10 on n3' },
      { sys: 'single', viaLb: false, placement: 'all on one node (no hop)' },
    ],
  },
  {
    id: 'latency',
    title: '3. cross-node latency: 1 publisher on node 1 at 10,000 msg/s -> 1 subscriber on node 2: p50 / p99 / p99.9 / max ms',
    unit: 'ms',
    latency: true,
    load: (nodes) => ({ groups: crossLatency(nodes), rate: 10_000, size: 64 }),
    systems: [
      { sys: 'sb', viaLb: false, placement: 'pub on n1, sub on n2' },
      { sys: 'nats', viaLb: false, placement: 'pub on n1, sub on n2' },
      { sys: 'single', viaLb: false, placement: 'pub and sub on the one node' },
    ],
  },
];


/** The median run (by value), with the spread of the others in its notes. */
function median(runs: Fig[], latency: boolean): Fig {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return runs[0]!;
  const sorted = [...ok].sort((a, b) => a.value - b.value);
  const f = { ...sorted[Math.floor((sorted.length - 1) / 2)]! };
  if (sorted.length > 1) {
    const t = (v: number): string => (latency ? v.toFixed(2) : fmt(v));
    f.notes = [`median of ${sorted.length}: ${t(sorted[0]!.value)}..${t(sorted[sorted.length - 1]!.value)}${latency ? ' (p99)' : ''}`, ...f.notes];
    const worst = Math.max(...ok.map((r) => r.lost));
    if (worst > f.lost) f.notes.push(`a run lost ${fmt(worst)}`);
  }
  return f;
}

interface LayoutResult {
  layout: Layout;
  rows: Map<string, Row[]>;
  storm: StormFig | null;
  stormError: string | null;
  minutes: number;
  load: number;
  lbCount: number;
  lbCapacity: number;
  /** The first load on each fresh system (1 s, no warm-up; not measured). */
  warmup: string[];
}

async function runLayout(L: Layout, o: { t: Timing; repeat: number; gens: number; clients: number; quick: boolean; only: Set<string> | null; systems: Set<string> | null }): Promise<LayoutResult> {
  const started = performance.now();
  setAffinity(process.pid, L.genCores);
  const nofile = readNofile(process.pid).soft;
  const lbCapacity = Math.max(1000, Math.floor((nofile - 500) / 2));
  const lbCount = Math.max(1, Math.ceil(o.clients / lbCapacity));
  const load = loadavg()[0] ?? 0;
  say(`\n== ${L.title}; load average ${load.toFixed(2)}`);
  // One more try on fresh ports if the systems do not come up (the error says what was seen).
  const e = await startEnv(L, lbCapacity, lbCount).catch(async (err: unknown) => {
    say(`  the systems did not come up, trying once more: ${(err as Error).message}`);
    return startEnv(L, lbCapacity, lbCount);
  });
  const res: LayoutResult = { layout: L, rows: new Map(), storm: null, stormError: null, minutes: 0, load, lbCount, lbCapacity, warmup: [] };
  try {
    say(`  started: redis, 3 Switchboard nodes, ${lbCount} HAProxy for them, 3 NATS servers + HAProxy, 1 single Switchboard; cross-node paths checked`);
    // A fresh process runs cold (V8 compiles its hot paths during the first load): one short pairs
    // and fan-out load on each system first, not measured (its figures are shown as they are).
    const warmT: Timing = { warmMs: 0, windowMs: 1000, latWarmMs: 0, latWindowMs: 1000, quietMs: 2000, maxDrainMs: 30_000 };
    for (const id of ['sb', 'nats', 'single'] as const) {
      if (o.systems && !o.systems.has(id)) continue;
      const sys = e[id];
      for (const [name, load] of [
        ['pairs', { groups: crossPairs(20, sys.nodes.length), rate: 0, size: 64 }],
        ['fanout', { groups: crossFanout(20, sys.nodes.length), rate: 0, size: 64 }],
      ] as const) {
        try {
          const f = await runX(e, sys, load, warmT, o.gens, false);
          res.warmup.push(`${sys.label} ${name}: ${f.text} deliveries/s${f.lost ? `, lost ${fmt(f.lost)}` : ''}${f.notes.length ? ` (${f.notes.join('; ')})` : ''}`);
        } catch (err) {
          res.warmup.push(`${sys.label} ${name}: error ${(err as Error).message.split('\n')[0]!}`);
          e.pool.stop();
        }
        say(`  warm-up  ${res.warmup[res.warmup.length - 1]!}`);
      }
    }
    for (const s of SCENARIOS) {
      if (o.only && !o.only.has(s.id)) continue;
      const runs = new Map<number, Fig[]>(s.systems.map((_, i) => [i, []]));
      for (let r = 0; r < o.repeat; r++) {
        for (const [i, d] of s.systems.entries()) {
          if (o.systems && !o.systems.has(d.sys)) continue;
          const sys = e[d.sys];
          let f: Fig;
          const began = performance.now();
          try {
            f = await runX(e, sys, s.load(sys.nodes.length), o.t, o.gens, d.viaLb);
          } catch (err) {
            f = { value: 0, text: '', lost: 0, notes: [], sysPct: NaN, otherPct: NaN, genPct: NaN, redis: null, split: '', error: (err as Error).message.split('\n')[0]! };
            e.pool.stop();
          }
          runs.get(i)!.push(f);
          const redis = f.redis ? `  SPUBLISH/msg ${small(f.redis.perMsg)}, ${f.redis.bytesPerMsg.toFixed(0)} B/msg into Redis` : '';
          say(
            `  ${s.id.padEnd(8)} ${(d.sys + (d.viaLb ? '+lb' : '')).padEnd(9)} [${((performance.now() - began) / 1000).toFixed(1)} s] ${f.error ? `ERROR ${f.error}` : `${f.text} ${s.unit}${f.lost ? `  LOST ${fmt(f.lost)}` : ''}  system ${pctText(f.sysPct)}${f.split ? ` (${f.split})` : ''} others ${pctText(f.otherPct)} gen ${pctText(f.genPct)}${redis}${f.notes.length ? `  ${f.notes.join('; ')}` : ''}`}`,
          );
          for (const sv of e.svcs) if (sv.exited) throw new Error(`${sv.exited}\n${sv.tail()}`);
        }
      }
      res.rows.set(
        s.id,
        s.systems.flatMap((d, i) => (runs.get(i)!.length > 0 ? [{ sys: e[d.sys], viaLb: d.viaLb, placement: d.placement, fig: median(runs.get(i)!, s.latency) }] : [])),
      );
    }
    // Through HAProxy nobody chooses where a pair lands: Redis' bytes per message against the
    // direct pairs (every message crossing) tell which share crossed.
    const direct = res.rows.get('pairs')?.find((r) => r.sys.id === 'sb')?.fig.redis;
    const lbRow = res.rows.get('pairs-lb')?.find((r) => r.sys.id === 'sb')?.fig;
    if (direct && lbRow?.redis && direct.bytesPerMsg > 0) {
      const share = Math.min(100, (lbRow.redis.bytesPerMsg / direct.bytesPerMsg) * 100);
      lbRow.notes.push(`about ${share.toFixed(0)}% of the messages crossed nodes (bytes into Redis per message vs the direct pairs, where all cross)${share < 90 ? '; pairs HAProxy put on one node run at single-node speed, and the fastest pairs carry the most messages' : ''}`);
    }
    if (!o.only || o.only.has('storm')) {
      try {
        res.storm = await storm(e, o.clients, o.quick);
        const s = res.storm;
        say(`  storm    sb+lb     ${s.complete ? `${s.seconds.toFixed(2)} s` : 'INCOMPLETE'}: ${fmt(s.reconnected)}/${fmt(s.drops)} dropped clients back (p50 ${s.p50.toFixed(2)} s, p99 ${s.p99.toFixed(2)} s), session present ${s.sessionPresent}, attempts ${fmt(s.attempts)}, failures ${JSON.stringify(s.failures)}`);
      } catch (err) {
        res.stormError = (err as Error).message.split('\n')[0]!;
        say(`  storm    ERROR ${res.stormError}`);
      }
    }
  } finally {
    if (process.env.SB_BENCH_DEBUG) {
      for (const sv of e.svcs) say(`--- ${sv.name}\n${sv.tail()}`);
      if (e.sb.redisPort !== null) say(spawnSync('redis-cli', ['-p', String(e.sb.redisPort), 'info', 'all'], { encoding: 'utf8' }).stdout);
    }
    await stopEnv(e);
  }
  res.minutes = (performance.now() - started) / 60000;
  return res;
}

// ---- the report -------------------------------------------------------------------------------

const rowName = (r: Row): string => `${r.sys.label}${r.viaLb ? ' via HAProxy' : ''}`;

function scenarioTable(s: ScenarioDef, rows: Row[]): string[] {
  const lines = [`### ${s.title}`, ''];
  lines.push(`| system | placement | ${s.unit} | lost | Switchboard cluster vs this | SPUBLISH / published msg | SPUBLISH / delivery | bytes into Redis / published msg | system CPU % | other systems CPU % | gen CPU % | notes |`);
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const sbOf = (r: Row): Row | undefined => rows.find((x) => x.sys.id === 'sb' && x.viaLb === r.viaLb);
  for (const r of rows) {
    const f = r.fig;
    const sb = sbOf(r);
    let vs = '';
    if (r.sys.id !== 'sb' && sb && !sb.fig.error && !f.error && sb.fig.value > 0 && f.value > 0) {
      vs = ratioText(s.latency ? f.value / sb.fig.value : sb.fig.value / f.value);
    }
    const redis = f.redis;
    lines.push(
      `| ${rowName(r)} | ${r.placement} | ${f.error ? `error: ${f.error}` : f.text} | ${f.error ? '' : fmt(f.lost)} | ${vs} | ${redis ? small(redis.perMsg) : ''} | ${redis ? small(redis.perDelivery) : ''} | ${redis ? redis.bytesPerMsg.toFixed(0) : ''} | ${pctText(f.sysPct)}${f.split ? ` (${f.split})` : ''} | ${pctText(f.otherPct)} | ${pctText(f.genPct)} | ${[...f.notes, ...(redis ? [`${fmt(redis.spublish)} SPUBLISH, ${fmt(redis.all)} Redis commands in the window`] : [])].join('; ')} |`,
    );
  }
  lines.push('');
  return lines;
}

function targets(r: LayoutResult, quick: boolean, clientsWanted: number): string[] {
  const get = (id: string, sys: 'sb' | 'nats' | 'single'): Fig | undefined => r.rows.get(id)?.find((x) => x.sys.id === sys && !x.viaLb)?.fig;
  const lines = ['| target | Switchboard cluster | reference | ratio | result |', '|---|---|---|---|---|'];
  const loss = (f: Fig | undefined): string => (f && f.lost > 0 ? ` (lost ${fmt(f.lost)})` : '');
  const verdict = (ok: boolean, f: Fig | undefined): string => (ok ? (f && f.lost > 0 ? '**FAIL** (messages lost)' : 'PASS') : '**FAIL**');
  for (const [id, name] of [
    ['pairs', 'cross-node pairs >= 1x NATS cluster'],
    ['fanout', 'cross-node fan-out >= 1x NATS cluster'],
  ] as const) {
    const sb = get(id, 'sb');
    const nats = get(id, 'nats');
    if (!sb || !nats) continue;
    if (sb.error || nats.error) {
      lines.push(`| ${name} | ${sb.error ? `error: ${sb.error}` : `${sb.text} deliveries/s`} | ${nats.error ? `error: ${nats.error}` : `NATS ${nats.text}`} | - | **no result** |`);
      continue;
    }
    const ratio = sb.value / nats.value;
    lines.push(`| ${name} | ${sb.text} deliveries/s${loss(sb)} | NATS ${nats.text}${loss(nats)} | ${ratioText(ratio)} | ${verdict(ratio >= 1, sb)} |`);
  }
  const lat = get('latency', 'sb');
  const single = get('latency', 'single');
  if (lat && single) {
    if (lat.error || single.error) lines.push(`| cross-node p99 <= 2x single-node p99 | ${lat.error ?? lat.text} | ${single.error ?? single.text} | - | **no result** |`);
    else {
      const ratio = lat.value / single.value;
      lines.push(`| cross-node p99 <= 2x single-node p99 (10k msg/s) | p99 ${lat.value.toFixed(2)} ms${loss(lat)} | single node p99 ${single.value.toFixed(2)} ms | ${ratioText(ratio)} | ${verdict(ratio <= 2, lat)} |`);
    }
  }
  const s = r.storm;
  if (s) {
    const full = s.clients >= 10_000;
    const ok = s.complete && s.seconds < 10 && s.opened === s.clients;
    lines.push(
      `| reconnect storm of 10,000 clients < 10 s | ${s.complete ? `${s.seconds.toFixed(2)} s` : 'not all back'} for ${fmt(s.reconnected)} of ${fmt(s.drops)} dropped (${fmt(s.clients)} clients) | 10 s | ${s.complete ? ratioText(s.seconds / 10) : '-'} | ${full ? (ok ? 'PASS' : '**FAIL**') : `${ok ? 'under 10 s' : 'over 10 s or incomplete'}, but only ${fmt(s.clients)} clients (${quick ? '--quick' : '--clients'}): not the target`} |`,
    );
  } else if (r.stormError) lines.push(`| reconnect storm of ${fmt(clientsWanted)} clients < 10 s | error: ${r.stormError} | | | **no result** |`);
  lines.push('');
  return lines;
}

function stormSection(s: StormFig): string[] {
  const sumNodes = s.perNode.reduce((a, v) => a + v, 0);
  const fails = Object.entries(s.failures)
    .map(([k, v]) => `${k}: ${fmt(v)}`)
    .join(', ');
  return [
    `### 4. reconnect storm: ${fmt(s.clients)} persistent sessions (clean session 0, one QoS 1 subscription each) through HAProxy, one node SIGKILLed`,
    '',
    '| measure | value |',
    '|---|---|',
    `| clients connected + subscribed before the kill | ${fmt(s.opened)} of ${fmt(s.clients)} in ${s.openS.toFixed(1)} s${s.openFailed ? ` (${s.openFailed})` : ''}; session present at that first connect: ${fmt(s.firstSessionPresent)} |`,
    `| HAProxy current sessions per node before the kill | n1 ${fmt(s.perNode[0]!)}, n2 ${fmt(s.perNode[1]!)}, n3 ${fmt(s.perNode[2]!)} (sum ${fmt(sumNodes)}; ${s.lbCount} HAProxy process${s.lbCount > 1 ? 'es' : ''}) |`,
    `| node killed (SIGKILL) | ${s.killed} |`,
    `| connections HAProxy closed after the kill (clients dropped) | ${fmt(s.drops)} |`,
    `| dropped clients with a CONNACK again (through HAProxy, from a surviving node) | ${fmt(s.reconnected)} |`,
    `| **kill -> last CONNACK** | **${s.complete ? `${s.seconds.toFixed(2)} s` : `not all back within the limit`}** (per client, kill -> CONNACK: p50 ${s.p50.toFixed(2)} s, p99 ${s.p99.toFixed(2)} s) |`,
    `| session present in those CONNACKs | ${fmt(s.sessionPresent)} of ${fmt(s.reconnected)} |`,
    `| subscribed again (SUBACK; where the session was not present) | ${fmt(s.resubscribed)} |`,
    `| connect attempts (first one at once, then every 100 ms) | ${fmt(s.attempts)}${fails ? `; failed: ${fails}` : ''} |`,
    `| after the storm: one message from a surviving node to moved / stayed clients | ${s.probe ? `${s.probe.dropped[0]} of ${s.probe.dropped[1]} moved, ${s.probe.kept[0]} of ${s.probe.kept[1]} stayed received it` : '-'} |`,
    ...s.notes.map((n) => `| note | ${n} |`),
    '',
  ];
}

function layoutSection(r: LayoutResult, cmd: string, quick: boolean, clients: number, o: { t: Timing; repeat: number }): string[] {
  const key = r.layout.pinned ? 'pinned' : 'unpinned';
  const lines = [
    `<!-- layout:${key}:start -->`,
    `<!-- \`${cmd}\` -->`,
    '',
    `## ${r.layout.title}`,
    '',
    `${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC; load average at start ${r.load.toFixed(2)}; ${r.minutes.toFixed(1)} min; warm-up ${o.t.warmMs / 1000} s, window ${o.t.windowMs / 1000} s (latency ${o.t.latWindowMs / 1000} s)${o.repeat > 1 ? `, each figure the median of ${o.repeat} runs taken in turns` : ''}. HAProxy: ${r.lbCount} process${r.lbCount > 1 ? 'es' : ''} for the Switchboard nodes (at most ${fmt(r.lbCapacity)} proxied connections each at RLIMIT_NOFILE ${fmt(readNofile(process.pid).soft)}), 1 for the NATS servers.`,
    '',
    '### Targets',
    '',
    ...targets(r, quick, clients),
  ];
  for (const s of SCENARIOS) {
    const rows = r.rows.get(s.id);
    if (rows) lines.push(...scenarioTable(s, rows));
  }
  if (r.storm) lines.push(...stormSection(r.storm));
  if (r.warmup.length > 0) lines.push('First load on each freshly started system (1 s window, no warm-up; discarded before the measurements above):', '', ...r.warmup.map((w) => `- ${w}`), '');
  else if (r.stormError) lines.push('### 4. reconnect storm', '', `error: ${r.stormError}`, '');
  lines.push(`<!-- layout:${key}:end -->`);
  return lines;
}

function header(cmd: string, versions: string[]): string[] {
  return [
    `<!-- \`${cmd}\` (build: \`npx tsc -p tsconfig.json --outDir .dist-bench\`) -->`,
    '',
    '# Switchboard Redis cluster benchmark',
    '',
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${CORES} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}.`,
    '',
    `Systems: ${versions.join('; ')}.`,
    '',
    'What runs, each on its own free loopback ports, for the whole layout (the scenarios take turns on the systems, so drifts of this shared machine hit them alike; "other systems CPU" is what the idle ones used meanwhile):',
    '- **Switchboard cluster**: `redis-server --save \'\' --appendonly no`, three nodes `main.js --listen mqtt://… --redis redis://… --node-id nI --set store.type=' + CLUSTER_STORE + ' --set sys.interval=0 --log-level warn` (NODE_ENV=production), HAProxy in front (TCP, roundrobin, no stickiness, `check inter 200ms fall 1`, `option redispatch 1`, `retries 3`). Its CPU = the three nodes + Redis (+ HAProxy in the runs through it).',
    '- **NATS cluster**: three `nats-server`s with routes to each other, JetStream (each its own store_dir; MQTT needs it) and an MQTT listener each; a HAProxy of its own in front.',
    '- **Switchboard single node**: the same build without Redis: the reference for latency (and for what the cross-node hop costs).',
    '',
    'Reading the tables:',
    '- Placement: a client connects to its node\'s own port; "via HAProxy" rows let HAProxy place every connection.',
    '- "Switchboard cluster vs this": > 1x = the Switchboard cluster is better (throughput: cluster / this; latency: this p99 / cluster p99). Against the single node it is what the cross-node hop costs.',
    '- CPU columns: % of one core during the window, each process of the system in brackets (pinned: they all share one core, so about 100% in total means the core is saturated).',
    '- Load generator as in `npm run bench` (gen/: raw sockets, pre-encoded MQTT 3.1.1, clean sessions, QoS 0, 64 B payloads; at most 64 KB unflushed per publisher and 1 MB per subscriber published but not yet delivered); "lost" = due deliveries that never arrived (after the drain).',
    '- SPUBLISH / published msg: `cmdstat_spublish` calls (redis-cli INFO commandstats) between the start and the end of the window / messages published in it (deliveries / subscribers per message); heartbeats (one per node per second) included. The nodes batch every frame for a peer of one event-loop turn into one SPUBLISH.',
    '- Latency: a fixed 10,000 msg/s, send time in the payload, receive time at the first bytes of the read (same monotonic clock); p50 / p99 / p99.9 / max over the window.',
    '- Reconnect storm: the clients are spread over worker processes (this file forked with --storm-worker, bench/mqtt-client.ts) and over several HAProxy processes when one cannot hold them (RLIMIT_NOFILE, see the section). A client HAProxy closes reconnects at once, then every 100 ms while it fails; it subscribes again when the CONNACK says its session is not present. Sessions are not kept in Redis: a node that dies takes its sessions with it.',
    '',
  ];
}

function writeReport(file: string, cmd: string, versions: string[], sections: Map<'pinned' | 'unpinned', string[]>): void {
  // A single-layout run keeps the other layout's section of the file.
  writeFileSync(file, [...header(cmd, versions), ...layoutSections(file, sections).flatMap((p) => [p, ''])].join('\n'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      unpinned: { type: 'boolean' },
      both: { type: 'boolean' },
      repeat: { type: 'string' },
      window: { type: 'string' },
      clients: { type: 'string' },
      gens: { type: 'string' },
      only: { type: 'string' },
      systems: { type: 'string' },
      out: { type: 'string' },
    },
  });
  installCleanup();
  const need = prerequisites();
  if (need.length > 0) throw new Error(`cannot run:\n${need.map((n) => `- ${n}`).join('\n')}`);
  ensureHaproxy();
  const quick = values.quick === true;
  const windowS = values.window ? Number(values.window) : null;
  const t: Timing = quick
    ? { warmMs: 300, windowMs: (windowS ?? 1) * 1000, latWarmMs: 300, latWindowMs: (windowS ?? 1) * 1000, quietMs: 2000, maxDrainMs: 30_000 }
    : { warmMs: 1000, windowMs: (windowS ?? 5) * 1000, latWarmMs: 1000, latWindowMs: (windowS ?? 5) * 1000, quietMs: 2000, maxDrainMs: 30_000 };
  const repeat = Math.max(1, Number(values.repeat ?? 1));
  const clients = Number(values.clients ?? (quick ? 2000 : 10_000));
  const gens = values.gens ? Number(values.gens) : GEN_CORE_COUNT;
  const systems = values.systems ? new Set(values.systems.split(',').map((s) => s.trim())) : null;
  for (const id of systems ?? []) if (!['sb', 'nats', 'single'].includes(id)) throw new Error(`unknown system ${id} (known: sb, nats, single)`);
  const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : null;
  const known = new Set([...SCENARIOS.map((s) => s.id), 'storm']);
  for (const id of only ?? []) if (!known.has(id)) throw new Error(`unknown scenario ${id} (known: ${[...known].join(', ')})`);
  const nofile = raiseNofile();
  const layouts = values.both ? [layout(true), layout(false)] : [layout(values.unpinned !== true)];
  const cmd = ['node', relative(ROOT, HERE), ...process.argv.slice(2)].join(' ');
  say(`Switchboard Redis cluster bench${quick ? ' (quick)' : ''}: ${layouts.map((l) => (l.pinned ? 'pinned' : 'unpinned')).join(' + ')}; RLIMIT_NOFILE ${nofile.soft}${nofile.raised ? '' : ' (not raised: no CAP_SYS_RESOURCE)'}; load average ${(loadavg()[0] ?? 0).toFixed(2)}`);
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
  const versions = [
    `${version('switchboard').replace(/ as switchboard-cluster.*/, '')}${dirty ? ' with uncommitted changes under src/' : ''} (${relative(ROOT, SB_MAIN)})`,
    firstLine('redis-server', ['--version']).replace(/ sha=.*/, ''),
    missing('nats') === null ? version('nats') : 'nats-server missing',
    firstLine(ensureHaproxy(), ['-v']).replace(/ - https.*/, ''),
  ];
  const sections = new Map<'pinned' | 'unpinned', string[]>();
  for (const L of layouts) {
    const r = await runLayout(L, { t, repeat, gens, clients, quick, only, systems });
    const sec = layoutSection(r, cmd, quick, clients, { t, repeat });
    sections.set(L.pinned ? 'pinned' : 'unpinned', sec);
    say('\n' + sec.filter((l) => !l.startsWith('<!--')).join('\n'));
  }
  let out = values.out;
  if (out === undefined) {
    if (quick || only || systems) {
      mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true });
      out = join(ROOT, '.bench-tmp/RESULTS-redis-cluster-quick.md');
    } else out = join(ROOT, 'bench/RESULTS-redis-cluster.md');
  }
  writeReport(out, cmd, versions, sections);
  say(`written to ${out}`);
}

if (process.argv[2] === STORM_FLAG) stormWorker();
else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
