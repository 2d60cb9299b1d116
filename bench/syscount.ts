/**
 * Counts a broker's fsync(2) and fdatasync(2) calls over a window (all its threads).
 *
 * `perf stat` on the syscall tracepoints (sys_enter_fsync, sys_enter_fdatasync): the kernel counts,
 * nothing stops the broker, so the measured throughput is not disturbed. The counter is attached
 * disabled and switched on and off through perf's control FIFO at the window's edges.
 * Without perf (or with SB_BENCH_FSYNC=strace): `strace -f -c -e trace=fsync,fdatasync -p PID`,
 * which ptrace-stops the broker on every system call while attached and so slows it down (the
 * figure says so). SB_BENCH_FSYNC=off: no count.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir, track, trackDir, which } from './procs.js';

export interface SyncCount {
  fsync: number;
  fdatasync: number;
  tool: 'perf' | 'strace';
}

export interface SyncCounter {
  readonly tool: 'perf' | 'strace';
  /** Start counting (resolves once the counter is on). */
  enable(): Promise<void>;
  /** Stop counting and return the counts (null: the tool failed; `error` says why). */
  finish(): Promise<SyncCount | null>;
  error: string | null;
  /** Kill the tool (on errors). */
  kill(): void;
}

const PERF_EVENTS = ['syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'];

let perfOk: boolean | null = null;
/** perf is installed and may read the syscall tracepoints here. */
function perfUsable(): boolean {
  if (perfOk !== null) return perfOk;
  if (!which('perf')) return (perfOk = false);
  const r = spawnSync('perf', ['stat', '-x,', '-e', PERF_EVENTS.join(','), '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
  perfOk = r.status === 0 && /sys_enter_fsync/.test(r.stderr) && !/not supported|<not counted>/.test(r.stderr.split('\n').find((l) => l.includes('sys_enter_fsync')) ?? '');
  return perfOk;
}

/** Which tool SB_BENCH_FSYNC and this machine allow; null: none (the reason in `why`). */
export function syncCounterTool(): { tool: 'perf' | 'strace' | null; why: string } {
  const want = process.env.SB_BENCH_FSYNC ?? 'auto';
  if (want === 'off') return { tool: null, why: 'SB_BENCH_FSYNC=off' };
  if (want !== 'strace' && perfUsable()) return { tool: 'perf', why: '' };
  if (want === 'perf') return { tool: null, why: 'perf cannot count syscall tracepoints here' };
  if (which('strace')) return { tool: 'strace', why: '' };
  return { tool: null, why: 'neither perf (syscall tracepoints) nor strace is available' };
}

/** A counter attached to `pid` (disabled until enable()). */
export async function syncCounter(pid: number): Promise<SyncCounter | null> {
  const { tool } = syncCounterTool();
  if (tool === 'perf') return perfCounter(pid);
  if (tool === 'strace') return straceCounter(pid);
  return null;
}

async function readAck(fh: FileHandle, timeoutMs: number): Promise<void> {
  const buf = Buffer.alloc(64);
  let got = '';
  const until = Date.now() + timeoutMs;
  while (!got.includes('ack')) {
    if (Date.now() > until) throw new Error('perf did not acknowledge');
    let timer: NodeJS.Timeout | null = null;
    const { bytesRead } = await Promise.race([
      fh.read(buf, 0, buf.length, null),
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('perf did not acknowledge')), timeoutMs))),
    ]).finally(() => timer !== null && clearTimeout(timer));
    got += buf.toString('latin1', 0, bytesRead);
  }
}

async function perfCounter(pid: number): Promise<SyncCounter> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-perf-'));
  trackDir(dir);
  const ctl = join(dir, 'ctl');
  const ack = join(dir, 'ack');
  const out = join(dir, 'out');
  spawnSync('mkfifo', [ctl, ack]);
  const proc: ChildProcess = spawn('perf', ['stat', '-x,', '-e', PERF_EVENTS.join(','), '-D', '-1', '--control', `fifo:${ctl},${ack}`, '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  track(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  // Read-write opens of a FIFO do not block (whether or not perf has opened its ends yet).
  const [ctlFh, ackFh] = await Promise.all([open(ctl, 'r+'), open(ack, 'r+')]);
  // A read of the ack FIFO still pending when perf is gone would hold a libuv thread: unblock it.
  const release = (): void => void ackFh.write('ack\n').catch(() => {});
  const c: SyncCounter = {
    tool: 'perf',
    error: null,
    async enable() {
      await ctlFh.write('enable\n');
      await readAck(ackFh, 5000).catch((err: Error) => {
        release();
        throw new Error(`${err.message}: ${stderr.trim().split('\n').pop() ?? ''}`);
      });
    },
    async finish() {
      try {
        await ctlFh.write('disable\n');
        await readAck(ackFh, 5000);
      } catch (err) {
        c.error = (err as Error).message;
        release();
      }
      proc.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      await ctlFh.close().catch(() => {});
      await ackFh.close().catch(() => {});
      let text = '';
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        /* no output */
      }
      removeDir(dir);
      const count = (ev: string): number | null => {
        const line = text.split('\n').find((l) => l.includes(`,${ev},`));
        if (!line) return null;
        const v = line.split(',')[0]!;
        return /^\d+$/.test(v) ? Number(v) : v.includes('not counted') ? 0 : null;
      };
      const fs = count(PERF_EVENTS[0]!);
      const fds = count(PERF_EVENTS[1]!);
      if (fs === null || fds === null) {
        c.error ??= `perf gave no counts: ${(text + stderr).trim().split('\n').slice(-2).join(' ')}`;
        return null;
      }
      return { fsync: fs, fdatasync: fds, tool: 'perf' };
    },
    kill() {
      proc.kill('SIGKILL');
      release();
      void ctlFh.close().catch(() => {});
      void ackFh.close().catch(() => {});
      removeDir(dir);
    },
  };
  return c;
}

async function straceCounter(pid: number): Promise<SyncCounter> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-strace-'));
  trackDir(dir);
  const out = join(dir, 'out');
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const c: SyncCounter = {
    tool: 'strace',
    error: null,
    async enable() {
      proc = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      track(proc);
      exited = new Promise<void>((res) => proc!.once('exit', () => res()));
      // strace says "attached" per thread on stderr once it holds them.
      await new Promise<void>((res) => {
        const t = setTimeout(res, 1000);
        proc!.stderr!.once('data', () => {
          clearTimeout(t);
          res();
        });
      });
    },
    async finish() {
      if (proc === null) return null;
      proc.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      let text = '';
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        /* no output */
      }
      removeDir(dir);
      const calls = (name: string): number => {
        const line = text.split('\n').find((l) => l.trim().split(/\s+/).pop() === name);
        if (!line) return 0;
        const f = line.trim().split(/\s+/);
        return Number(f[3] ?? 0) || 0;
      };
      return { fsync: calls('fsync'), fdatasync: calls('fdatasync'), tool: 'strace' };
    },
    kill() {
      proc?.kill('SIGKILL');
      removeDir(dir);
    },
  };
  return c;
}
