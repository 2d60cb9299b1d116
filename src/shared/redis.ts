/**
 * Redis connections as `cluster.redis` describes them (one URL, Redis Cluster seeds or Sentinel),
 * for the bus (cluster/redis.ts) and the store (stores/redis/): one place for the client options,
 * the way a location is shown in messages, and a timeout helper.
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

export interface RedisSettings {
  url?: string | undefined;
  nodes?: string[] | undefined;
  sentinels?: string[] | undefined;
  sentinelName: string;
  username?: string | undefined;
  password?: string | undefined;
  prefix: string;
}

export type RedisClient = Redis | Cluster;

export interface ClientMode {
  /**
   * Commands fail at once while Redis is unreachable, and so do those in flight when the
   * connection drops (none is resent later, out of order): a store's writes, a bus's publishes.
   * false: commands wait for the connection (a subscriber's SSUBSCRIBE).
   */
  failFast: boolean;
  /** A command not answered within this time fails (a Redis that hangs, a half-open connection); 0: none. */
  commandTimeoutMs?: number;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** A client, not connected yet (`lazyConnect`): call connect(). ioredis reconnects by itself. */
export function redisClient(r: RedisSettings, mode: ClientMode): RedisClient {
  const auth: RedisOptions = { ...(r.username !== undefined ? { username: r.username } : {}), ...(r.password !== undefined ? { password: r.password } : {}) };
  const timeout = mode.commandTimeoutMs ? { commandTimeout: mode.commandTimeoutMs } : {};
  const fail: RedisOptions = mode.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 0 } : { maxRetriesPerRequest: null };
  if (r.nodes !== undefined) {
    const opts: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: !mode.failFast,
      redisOptions: { ...auth, ...fail, ...timeout },
      clusterRetryStrategy: (n: number) => Math.min(50 * n, 1000),
      // A subscriber uses sharded pub/sub (SSUBSCRIBE): one subscriber connection per master.
      shardedSubscribers: !mode.failFast,
      // Fail fast: a command that meets a node connection not ready (or CLUSTERDOWN) fails at
      // once; retried later it would run after the commands made after it.
      ...(mode.failFast ? { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 } : {}),
    };
    return new Cluster(r.nodes.map(hostPort), opts);
  }
  const common: RedisOptions = { lazyConnect: true, ...fail, ...timeout, retryStrategy: (n: number) => Math.min(50 * n, 1000) };
  if (r.sentinels !== undefined) return new Redis({ ...common, ...auth, sentinels: r.sentinels.map(hostPort), name: r.sentinelName });
  return new Redis(r.url ?? 'redis://127.0.0.1:6379', common);
}

/** Where Redis is, for messages (a URL's password masked). */
export function describeRedis(r: RedisSettings): string {
  if (r.nodes !== undefined) return `Redis Cluster ${r.nodes.join(',')}`;
  if (r.sentinels !== undefined) return `Redis Sentinel ${r.sentinels.join(',')} (${r.sentinelName})`;
  return (r.url ?? 'redis://127.0.0.1:6379').replace(/\/\/[^@/]*@/, '//***@');
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(what)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(toError(err));
      },
    );
  });
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
