/**
 * Cluster mode, primary side (`--workers N`): fork N broker workers with the same
 * arguments. node:cluster shares the listening sockets (the primary accepts and hands each
 * connection to a worker in turn), so clients see one broker on the usual ports; the workers
 * link to each other through ClusterMesh, or through Redis with `cluster.redis`. The primary holds no client connections, so N
 * workers hold N times the connections one process may open (RLIMIT_NOFILE).
 *
 * Prints the `listening` lines once every worker is listening and linked; restarts a worker
 * that dies; SIGINT/SIGTERM stop the workers gracefully, then the primary exits.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface WorkerReady {
  type: 'switchboard-ready';
  urls: string[];
}

export const WORKER_ENV = { index: 'SWITCHBOARD_WORKER_INDEX', count: 'SWITCHBOARD_WORKER_COUNT', dir: 'SWITCHBOARD_CLUSTER_DIR' } as const;

export function runPrimary(workers: number, logger: Logger): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-'));
  const byIndex = new Map<number, Worker>();
  const ready = new Set<number>();
  let announced = false;
  let stopping = false;
  // Set once the promise below exists: stop every worker and exit with `code`.
  let stopAll: (why: string, code: number) => void = () => undefined;

  const fork = (index: number): void => {
    const w = cluster.fork({ [WORKER_ENV.index]: String(index), [WORKER_ENV.count]: String(workers), [WORKER_ENV.dir]: dir });
    byIndex.set(index, w);
    w.on('message', (m: WorkerReady) => {
      if (m?.type !== 'switchboard-ready') return;
      ready.add(index);
      if (!announced && ready.size === workers) {
        announced = true;
        for (const url of m.urls) process.stdout.write(`listening ${url}\n`);
        logger.info({ workers }, 'cluster ready');
      }
    });
    w.on('exit', (code, signal) => {
      ready.delete(index);
      if (stopping) return;
      if (!announced) {
        // It could not start (a port in use, a bad file): so would its replacement. Fail as a whole.
        logger.error({ worker: index, code, signal }, 'cluster: a worker failed to start; stopping');
        stopAll('start failed', 1);
        return;
      }
      logger.error({ worker: index, code, signal }, 'cluster: worker died; starting a new one');
      fork(index);
    });
  };
  for (let i = 0; i < workers; i++) fork(i);

  return new Promise<number>((resolve) => {
    const stop = (signal: string, status = 0): void => {
      if (stopping) process.exit(1);
      stopping = true;
      logger.info({ signal }, 'cluster: stopping workers');
      let left = byIndex.size;
      const done = (): void => {
        if (--left > 0) return;
        rmSync(dir, { recursive: true, force: true });
        resolve(status);
      };
      for (const w of byIndex.values()) {
        if (w.isDead()) done();
        else {
          w.once('exit', done);
          w.process.kill('SIGTERM');
        }
      }
    };
    stopAll = (why, code) => stop(why, code);
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => {
      for (const w of byIndex.values()) if (!w.isDead()) w.process.kill('SIGHUP');
    });
  });
}
