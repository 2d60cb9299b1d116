/**
 * Every process and temp dir the bench creates is registered here and removed on any exit:
 * normal end, error, Ctrl-C, SIGTERM. Brokers also get PR_SET_PDEATHSIG (setpriv) so they die
 * with the bench even if it is SIGKILLed.
 */
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function trackDir(dir: string): void {
  dirs.add(dir);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

function cleanup(): void {
  for (const c of children) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping brokers and generators\n`);
      cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    cleanup();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
    cleanup();
    process.exit(1);
  });
}

export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || null : null;
}

export const CORES = availableParallelism();
const TASKSET = which('taskset');
export const SETPRIV = which('setpriv');

/**
 * Core layout: the broker gets the last core, the generator the others (one core: no pinning).
 * SB_BENCH_BROKER_CORES overrides the broker's (e.g. "0-1" to let cluster workers use both).
 */
export const BROKER_CORE = process.env.SB_BENCH_BROKER_CORES ?? (CORES >= 2 && TASKSET ? String(CORES - 1) : null);
export const GEN_CORES = CORES >= 2 && TASKSET ? (CORES === 2 ? '0' : `0-${CORES - 2}`) : null;
export const GEN_CORE_COUNT = CORES >= 2 ? CORES - 1 : 1;
export const TASKSET_PATH = TASKSET;

/** Pin this process (all its threads) to the generator cores. */
export function pinSelf(): void {
  if (GEN_CORES && TASKSET) spawnSync(TASKSET, ['-a', '-cp', GEN_CORES, String(process.pid)], { stdio: 'ignore' });
}

/** RLIMIT_NOFILE: try to raise ours (inherited by brokers and generators); returns the soft limit. */
export function raiseNofile(want = 1_048_576): { soft: number; hard: number; raised: boolean } {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  const cur = readNofile(process.pid);
  return { ...cur, raised: r.status === 0 };
}

export function readNofile(pid: number): { soft: number; hard: number } {
  try {
    // /proc/PID/limits: prlimit(2) cannot read a process that changed its uid (mosquitto does).
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const n = (v: string | undefined): number => (v === 'unlimited' ? Infinity : Number(v ?? 0));
    return { soft: n(line?.[1]), hard: n(line?.[2]) };
  } catch {
    return { soft: 0, hard: 0 };
  }
}
