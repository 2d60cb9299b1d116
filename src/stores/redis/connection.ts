/**
 * The stores' own Redis connection (one URL, Redis Cluster seeds or Sentinel, as `cluster.redis`
 * says; the settings have the shape of cluster/redis.ts's, declared here because stores/ imports
 * nothing above it).
 *
 * Commands fail fast while Redis is unreachable (no offline queue, and the commands in flight
 * when the connection drops are failed at once rather than resent): a write that cannot be made
 * sets the store's writeError instead of waiting in memory for an outage to end. ioredis keeps
 * reconnecting in the background; the next write that succeeds clears writeError.
 *
 * On a Redis Cluster one session's writes go to one shard in the order they were made, except
 * while slots move (MOVED is followed at once, in order; ASK and TRYAGAIN are retried by ioredis
 * after a delay, so a write then may land after later ones).
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

export type Client = Redis | Cluster;

/** A command not answered within this time fails (a Redis that hangs, a half-open connection). */
const COMMAND_TIMEOUT_MS = 10_000;

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export function createClient(r: RedisSettings): Client {
  const auth: RedisOptions = { ...(r.username !== undefined ? { username: r.username } : {}), ...(r.password !== undefined ? { password: r.password } : {}) };
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // 0: the commands in flight when the connection drops are failed at once (not resent later).
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (n: number) => Math.min(50 * n, 1000),
  };
  if (r.nodes !== undefined) {
    const opts: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      // A command that meets a node connection not ready (or CLUSTERDOWN) fails at once: retried
      // later, it would run after the writes made after it (ioredis resends those from a delay
      // queue), and one session's writes must apply in order. A failure is reported (writeError).
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      redisOptions: { ...auth, maxRetriesPerRequest: 0, commandTimeout: COMMAND_TIMEOUT_MS },
      clusterRetryStrategy: (n: number) => Math.min(50 * n, 1000),
    };
    return new Cluster(r.nodes.map(hostPort), opts);
  }
  if (r.sentinels !== undefined) return new Redis({ ...common, ...auth, sentinels: r.sentinels.map(hostPort), name: r.sentinelName });
  return new Redis(r.url ?? 'redis://127.0.0.1:6379', common);
}

/** Where the stores are, for messages (a URL's password masked). */
export function describe(r: RedisSettings): string {
  if (r.nodes !== undefined) return `Redis Cluster ${r.nodes.join(',')}`;
  if (r.sentinels !== undefined) return `Redis Sentinel ${r.sentinels.join(',')} (${r.sentinelName})`;
  return (r.url ?? 'redis://127.0.0.1:6379').replace(/\/\/[^@/]*@/, '//***@');
}

/** Connect; resolves once Redis (on a Cluster: every master) answers. Retries until `ms`, then rejects with the last error seen. */
export async function connect(client: Client, ms: number, where: string): Promise<void> {
  let last: Error | null = null;
  const onError = (err: Error): void => {
    last = err;
  };
  client.on('error', onError);
  try {
    const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
    client.connect().catch((err: unknown) => (last = toError(err)));
    await withTimeout(ready, ms, '').catch(() => {
      throw new Error(`cannot reach ${where} within ${ms} ms${last !== null ? ` (${last.message})` : ''}`);
    });
    // A Cluster connects to each master when it first sends there; connecting now keeps the
    // first writes from meeting a connection that is not ready.
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    await withTimeout(Promise.all(nodes.map((n) => n.ping())), ms, `${where} does not answer PING within ${ms} ms`);
  } finally {
    client.off('error', onError);
  }
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

/** A read failed: the error names cluster.redis and where. */
export class RedisStoreError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'RedisStoreError';
  }
}
