/**
 * The Redis backend: sessions, retained messages, queues and dead letters in the Redis that
 * `cluster.redis` names (one server, a Redis Cluster or Sentinel), shared by the nodes on it.
 * Key layout: keys.ts. Values: codec.ts. Scripts: scripts.ts.
 *
 * Writes are sent at once, fire and forget (ioredis pipelines what one event-loop turn sends);
 * flush() resolves once every write made before it was acknowledged by Redis, `dirty` is true
 * while some are not, and `writeError` is the last failure until a later write succeeds (see
 * writes.ts). While Redis is unreachable, writes fail at once: nothing waits in memory.
 *
 * Sessions are shared (`shared`: acquire with a fencing token, disown), and a parked session
 * expires in Redis by itself (sessions.ts). Queue entries are kept per node (queues.ts).
 *
 *   const stores = new RedisStores({ redis, node });
 *   await stores.open();   // rejects, naming cluster.redis, when Redis cannot be reached in time
 */
import type { SharedSessionStore, Stores } from '../types.js';
import { connect, createClient, describe, RedisStoreError, toError } from './connection.js';
import type { Client, RedisSettings } from './connection.js';
import { RedisDeadLetterStore } from './dead-letters.js';
import type { DeadLetterBounds } from './dead-letters.js';
import { Ids } from './ids.js';
import { Keys } from './keys.js';
import { RedisQueueStore } from './queues.js';
import { RedisRetainedStore } from './retained.js';
import { defineScripts } from './scripts.js';
import { RedisSessionStore } from './sessions.js';
import { Writes } from './writes.js';

export type { RedisSettings } from './connection.js';
export { RedisStoreError } from './connection.js';
export { StoreWriteError } from './writes.js';
export { Keys } from './keys.js';

export interface RedisStoresOptions {
  redis: RedisSettings;
  /** This node's name: its queue entries are kept under it. */
  node: string;
  /** Dead letters kept per application (default 10,000) and their age bound (default 7 days). */
  deadLetters?: Partial<DeadLetterBounds>;
  /** How long open() waits for Redis (ms, default 10,000). */
  connectTimeoutMs?: number;
  /** The clock of the dead-letter age bound (tests). */
  now?: () => number;
}

export class RedisStores implements Stores {
  /** Where the stores are (a URL's password masked), for messages. */
  readonly where: string;
  readonly sessions: RedisSessionStore;
  readonly retained: RedisRetainedStore;
  readonly queues: RedisQueueStore;
  readonly deadLetters: RedisDeadLetterStore;
  private readonly client: Client;
  private readonly writes: Writes;
  private opening: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private readonly marker: string;

  /** Nothing is connected until open(). */
  constructor(private readonly opts: RedisStoresOptions) {
    this.where = describe(opts.redis);
    this.client = createClient(opts.redis);
    // Errors are reported through the commands that fail (writeError, rejected reads); ioredis
    // also emits them here while it reconnects.
    this.client.on('error', () => undefined);
    // Back after an outage (every 'ready' after the first is a reconnection): one write clears
    // the store's writeError (a QoS 1/2 publish that needs no store must not wait for another
    // write to clear it), and the sessions held here are checked and written again if Redis
    // missed their writes or lost them (sessions.ts recover).
    let connectedBefore = false;
    this.client.on('ready', () => {
      if (connectedBefore && this.writes.state === 'open') {
        if (this.writes.error !== null) this.writes.track(() => this.client.ping());
        void this.recover();
      }
      connectedBefore = true;
    });
    const scripts = defineScripts(this.client);
    this.writes = new Writes(this.where);
    const keys = new Keys(opts.redis.prefix);
    this.marker = keys.marker();
    const ids = new Ids();
    const bounds: DeadLetterBounds = { maxCount: opts.deadLetters?.maxCount ?? 10_000, maxAgeMs: opts.deadLetters?.maxAgeMs ?? 7 * 24 * 3600 * 1000 };
    this.sessions = new RedisSessionStore(this.client, scripts, keys, this.writes, this.where);
    this.retained = new RedisRetainedStore(this.client, keys, this.writes, this.where);
    this.queues = new RedisQueueStore(this.client, scripts, keys, this.writes, ids, opts.node, this.where);
    this.deadLetters = new RedisDeadLetterStore(this.client, scripts, keys, this.writes, ids, bounds, opts.now ?? Date.now, this.where);
  }

  /** Back after an outage: did Redis keep its data (the marker), then the sessions held here (sessions.ts recover). */
  private async recover(): Promise<void> {
    let storeLost: boolean;
    try {
      storeLost = (await this.client.set(this.marker, '1', 'NX')) === 'OK';
    } catch {
      return; // unreachable again: the next reconnection starts over
    }
    await this.sessions.recover(storeLost);
  }

  /** Sessions are shared by the nodes on this Redis: acquire, disown, fencing (sessions.ts). */
  get shared(): SharedSessionStore {
    return this.sessions;
  }

  /** Connect; rejects (naming cluster.redis and where) when Redis cannot be reached within connectTimeoutMs. Writes are refused until it resolves. */
  open(): Promise<void> {
    if (this.closing !== null) return Promise.reject(new Error(`redis stores on ${this.where}: closed`));
    this.opening ??= this.connect();
    return this.opening;
  }

  private async connect(): Promise<void> {
    const limit = this.opts.connectTimeoutMs ?? 10_000;
    try {
      await connect(this.client, limit, this.where);
      // On a Redis Cluster the marker lives on one shard: a shard that restarted empty alone
      // shows through the fences of the sessions it held (sessions.ts recover), not here.
      await this.client.set(this.marker, '1');
    } catch (err) {
      this.client.disconnect();
      this.opening = null;
      throw new RedisStoreError(`cluster.redis: the Redis stores cannot open: ${toError(err).message}`, { cause: err });
    }
    this.writes.state = 'open';
  }

  get dirty(): boolean {
    return this.writes.dirty;
  }

  get writeError(): Error | null {
    return this.writes.error;
  }

  /** Writes skipped because a record could not be encoded (a bug), and the last such error. */
  get skipped(): { count: number; last: Error | null } {
    return { count: this.writes.skipped, last: this.writes.lastSkipped };
  }

  /** Is Redis reachable now? */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** Waits for the writes made so far, then disconnects. Rejects when one of them failed (it is lost). */
  close(): Promise<void> {
    this.closing ??= this.shut();
    return this.closing;
  }

  private async shut(): Promise<void> {
    await this.opening?.catch(() => undefined);
    let failure: unknown = null;
    await this.writes.flush().catch((err: unknown) => (failure = err));
    this.writes.state = 'closed';
    const c = this.client;
    if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
    else c.disconnect();
    if (failure !== null) throw toError(failure);
  }
}
