/**
 * Real services a test starts for itself on free loopback ports: Debian's redis-server (one, or a
 * Redis Cluster made with `redis-cli --cluster create`), haproxy, and Switchboard nodes as real
 * processes. Every process is killed when the test process exits, whatever happened.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAIN, testEnv } from './cli.js';

const run = promisify(execFile);
const children = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Is `cmd` on the PATH? (The tests that need a service say so and skip without it.) */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A skip reason when a command is missing (false when all are there). Under .ci/run
 * (SERVICES_REQUIRED=1), which installs them, a missing one throws instead: CI never skips them.
 */
export function missingServices(...cmds: string[]): string | false {
  const missing = cmds.filter((c) => !have(c));
  if (missing.length === 0) return false;
  const why = `not installed: ${missing.join(', ')} (.ci/run installs them)`;
  if (process.env.SERVICES_REQUIRED === '1') throw new Error(why);
  return why;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A child process whose output is kept and watched line by line. */
export interface Proc {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly lines: string[];
  readonly exit: Promise<number | null>;
  /** The first output line (from now on, or from line `from`) matching `re`. */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<string>;
}

export function spawnWatched(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const proc = spawn(cmd, args, { env });
  children.add(proc);
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  void exit.then(() => children.delete(proc));
  const lines: string[] = [];
  const watchers = new Set<(l: string) => void>();
  const feed = (): ((d: Buffer) => void) => {
    let partial = '';
    return (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        for (const w of [...watchers]) w(l);
      }
    };
  };
  proc.stdout.on('data', feed());
  proc.stderr.on('data', feed());
  return {
    proc,
    lines,
    exit,
    waitFor(re, ms = 20_000, from = lines.length) {
      const seen = lines.slice(from).find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`${cmd}: no output line matching ${re} within ${ms} ms; last lines:\n${lines.slice(-10).join('\n')}`));
        }, ms);
        const w = (l: string): void => {
          if (!re.test(l)) return;
          clearTimeout(t);
          watchers.delete(w);
          resolve(l);
        };
        watchers.add(w);
        void exit.then((code) => {
          if (!watchers.has(w)) return;
          clearTimeout(t);
          watchers.delete(w);
          reject(new Error(`${cmd} exited (${code}) before printing ${re}:\n${lines.slice(-10).join('\n')}`));
        });
      });
    },
  };
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stop it (SIGKILL: an outage); `start()` brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** redis-cli against it. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** One redis-server, nothing persisted. */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  let p: Proc | null = null;
  const start = async (): Promise<void> => {
    p = spawnWatched('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra]);
    await p.waitFor(/Ready to accept connections/);
  };
  await start();
  const kill = async (): Promise<void> => {
    const q = p;
    p = null;
    if (q === null) return;
    q.proc.kill('SIGKILL');
    await q.exit;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async cli(...args) {
      return (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
    },
    stop: kill,
  };
}

export interface RedisCluster {
  readonly seeds: string[];
  stop(): Promise<void>;
}

/** A Redis Cluster of `masters` masters (no replicas), made by `redis-cli --cluster create`. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-cluster-'));
  const servers: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--dir', dir]));
  }
  const seeds = servers.map((s) => `127.0.0.1:${s.port}`);
  await run('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes']);
  // Every node agrees the cluster is ok (all slots covered) before a client uses it.
  for (const s of servers) {
    const until = Date.now() + 15_000;
    while (!(await s.cli('cluster', 'info')).includes('cluster_state:ok')) {
      if (Date.now() > until) throw new Error('redis cluster not ok in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    seeds,
    async stop() {
      for (const s of servers) await s.stop();
    },
  };
}

export interface Haproxy {
  /** Frontend ports, in the order of the backends' lists. */
  readonly ports: number[];
  stop(): Promise<void>;
}

/**
 * haproxy in TCP mode in front of the nodes, no sticky sessions (round robin): one frontend per
 * list of backend ports (e.g. the nodes' MQTT ports, then their STOMP ports).
 */
export async function startHaproxy(backends: number[][]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-haproxy-'));
  const ports: number[] = [];
  let cfg = `global\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 1h\n  timeout server 1h\n`;
  for (let i = 0; i < backends.length; i++) {
    const port = await freePort();
    ports.push(port);
    cfg += `frontend f${i}\n  bind 127.0.0.1:${port}\n  default_backend b${i}\n`;
    cfg += `backend b${i}\n  balance roundrobin\n`;
    // A node that is down is skipped (health check: a TCP connect every 500 ms).
    backends[i]!.forEach((p, j) => (cfg += `  server n${j} 127.0.0.1:${p} check inter 500 fall 1 rise 1\n`));
  }
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const p = spawnWatched('haproxy', ['-f', file, '-db']);
  // Listening once a connection to every frontend succeeds.
  for (const port of ports) {
    const until = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) break;
      if (Date.now() > until) throw new Error(`haproxy not listening: ${p.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    ports,
    async stop() {
      p.proc.kill('SIGTERM');
      await p.exit;
    },
  };
}

export interface Node extends Proc {
  readonly name: string;
  readonly mqttPort: number;
  readonly stompPort: number;
  readonly mqtt: string;
  /** SIGTERM and wait: the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

/** A Switchboard process with an MQTT and a STOMP listener on free ports, and `args`. */
export async function startNode(name: string, args: string[]): Promise<Node> {
  const p = spawnWatched(process.execPath, [MAIN, '--listen', 'mqtt://127.0.0.1:0', '--listen', 'stomp://127.0.0.1:0', '--node-id', name, ...args], testEnv());
  const mqtt = await p.waitFor(/^listening mqtt:\/\//);
  const stomp = await p.waitFor(/^listening stomp:\/\//, 20_000, 0);
  const portOf = (l: string): number => Number(/:(\d+)\s*$/.exec(l)![1]);
  return {
    ...p,
    name,
    mqttPort: portOf(mqtt),
    stompPort: portOf(stomp),
    mqtt: mqtt.slice('listening '.length).trim(),
    async stop() {
      p.proc.kill('SIGTERM');
      return p.exit;
    },
    async kill() {
      p.proc.kill('SIGKILL');
      await p.exit;
    },
  };
}

/** Nodes started one after another (each finds the ones before it in Redis), with the same `args`. */
export async function startNodes(names: readonly string[], args: string[]): Promise<Node[]> {
  const out: Node[] = [];
  for (const name of names) out.push(await startNode(name, args));
  return out;
}
