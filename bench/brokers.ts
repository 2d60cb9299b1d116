/**
 * Start and measure the brokers under test, each on loopback with its own free ports, pinned
 * to the last core when there are two or more (the generator runs on core 0).
 * Nothing is installed here: a missing peer is reported with the command that installs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BrokerName = 'switchboard' | 'mosquitto' | 'aedes' | 'nats' | 'node-floor';
export const ALL_BROKERS: BrokerName[] = ['switchboard', 'mosquitto', 'aedes', 'nats'];

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CORES = availableParallelism();
const BROKER_CORE = String(CORES - 1);

export interface RunningBroker {
  name: BrokerName;
  port: number;
  /** WebSocket MQTT port, when the broker offers one. */
  wsPort: number | null;
  proc: ChildProcess;
  pid: number;
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

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why a broker cannot run here, with the command that fixes it; null when it can. */
export function missing(name: BrokerName): string | null {
  switch (name) {
    case 'switchboard':
      return existsSync(join(ROOT, 'dist/src/cli/main.js')) ? null : 'Switchboard is not built: run `npm run build`';
    case 'mosquitto':
      return existsSync('/usr/sbin/mosquitto') || which('mosquitto') ? null : 'Mosquitto is missing: run `apt-get install mosquitto`';
    case 'nats':
      return which('nats-server') ? null : 'NATS is missing: run `apt-get install nats-server`';
    case 'aedes':
      return existsSync(join(ROOT, 'node_modules/aedes')) ? null : 'Aedes is missing: run `npm ci`';
    case 'node-floor':
      return null;
  }
}

function pinned(cmd: string, args: string[]): [string, string[]] {
  if (CORES >= 2 && which('taskset')) return ['taskset', ['-c', BROKER_CORE, cmd, ...args]];
  return [cmd, args];
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startBroker(name: BrokerName): Promise<RunningBroker> {
  const port = await freePort();
  let wsPort: number | null = null;
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-${name}-`));
  let cmd: string;
  let args: string[];
  const env = { ...process.env, NODE_ENV: 'production' };
  switch (name) {
    case 'switchboard':
      wsPort = await freePort();
      cmd = process.execPath;
      // SB_BENCH_NODE_ARGS: extra Node flags for profiling, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      args = [...(process.env.SB_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(ROOT, 'dist/src/cli/main.js'), '--listen', `mqtt://127.0.0.1:${port}`, '--listen', `ws://127.0.0.1:${wsPort}/mqtt`, '--log-level', 'warn', '--set', 'sys.interval=0'];
      break;
    case 'mosquitto':
      writeFileSync(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 1000000', 'max_inflight_messages 0', 'set_tcp_nodelay true', 'persistence false', 'log_type error'].join('\n') + '\n');
      cmd = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
      args = ['-c', join(dir, 'mosquitto.conf')];
      break;
    case 'aedes':
      wsPort = await freePort();
      cmd = process.execPath;
      args = [join(ROOT, 'dist/bench/aedes-server.js'), String(port), String(wsPort)];
      break;
    case 'node-floor':
      cmd = process.execPath;
      args = [join(ROOT, 'dist/bench/node-floor-server.js'), String(port)];
      break;
    case 'nats': {
      const client = await freePort();
      writeFileSync(join(dir, 'nats.conf'), [`listen: 127.0.0.1:${client}`, 'server_name: bench', `jetstream { store_dir: "${dir}/js" }`, `mqtt { listen: 127.0.0.1:${port} }`].join('\n') + '\n');
      cmd = 'nats-server';
      args = ['-c', join(dir, 'nats.conf')];
      break;
    }
  }
  const [c, a] = pinned(cmd, args);
  const proc = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  try {
    await waitForPort(port);
    if (wsPort) await waitForPort(wsPort);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${name} did not start: ${(err as Error).message}\n${stderr}`);
  }
  // With taskset the child is taskset's exec'd image: same pid.
  const pid = proc.pid!;
  return {
    name,
    port,
    wsPort,
    proc,
    pid,
    stop: () =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        // SIGTERM first: Switchboard shuts down gracefully (and writes a --cpu-prof profile).
        proc.kill(name === 'switchboard' ? 'SIGTERM' : 'SIGKILL');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}

export interface Usage {
  cpuSeconds: number;
  rssKB: number;
  peakRssKB: number;
}

const TICK = 100; // USER_HZ on Linux

export function usage(pid: number): Usage {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: cpu, rssKB: rss, peakRssKB: hwm };
  } catch {
    return { cpuSeconds: 0, rssKB: 0, peakRssKB: 0 };
  }
}

/** Pin this process (the generator) to core 0. */
export function pinSelf(): void {
  if (CORES >= 2 && which('taskset')) spawnSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
}

export const cores = CORES;
