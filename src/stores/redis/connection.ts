/**
 * The stores' own Redis connection (one URL, Redis Cluster seeds or Sentinel, as `cluster.redis`
 * says; the client options are shared/redis.ts's, with the bus).
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
import { Cluster } from 'ioredis';
import { describeRedis, redisClient, toError, withTimeout } from '../../shared/redis.js';
import type { RedisClient, RedisSettings } from '../../shared/redis.js';

export type { RedisSettings } from '../../shared/redis.js';
export { toError, withTimeout } from '../../shared/redis.js';
export type Client = RedisClient;

/** A command not answered within this time fails (a Redis that hangs, a half-open connection). */
const COMMAND_TIMEOUT_MS = 10_000;

/** The stores' client: writes fail fast (see above). */
export function createClient(r: RedisSettings): Client {
  return redisClient(r, { failFast: true, commandTimeoutMs: COMMAND_TIMEOUT_MS });
}

/** Where the stores are, for messages (a URL's password masked). */
export const describe = describeRedis;

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

/** A read failed: the error names cluster.redis and where. */
export class RedisStoreError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'RedisStoreError';
  }
}
