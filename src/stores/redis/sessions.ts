/**
 * Sessions in Redis (key layout: keys.ts), shared by every node on the same Redis, with fencing
 * (SharedSessionStore):
 *
 * - acquire(app, clientId) raises the session's fencing token and reads the session in one
 *   script; this store remembers the token, and from then on every write it makes for that
 *   session is a script that applies only while the fence still holds that token. A node that
 *   lost the session to another (which acquired it after) has its writes refused: counted in
 *   `fenced`, not an error of the store. disown() forgets the token: later writes for the session
 *   from this store are dropped (and counted in `fenced`).
 * - Writes made while an acquire is under way wait for its token (they are sent, in order, once
 *   it is known). A session never acquired (a single node) is written unconditionally.
 * - A parked session (disconnectedAt > 0 and a finite expiry) has every key expire in Redis at
 *   disconnectedAt + expiry s (a time already past when written: a minute from then, see
 *   expiresAt); an online one never expires. So the sessions of a node that died go away by
 *   themselves. The index of an application's sessions (a sorted set scored by that
 *   expiry time) serves sessions(app); ids whose session is gone are skipped and removed, and the
 *   index drops expired ids now and then by score.
 */
import type { DeliveryRecord, InflightRecord, MessageRecord, RecoveredSession, SessionMeta, SessionRecord, SessionStore, SharedSessionStore, SubscriptionRecord } from '../types.js';
import {
  decodeDelivery,
  decodeInflight,
  decodeSessionMeta,
  decodeSubscription,
  decodeWill,
  encodeDelivery,
  encodeInflight,
  encodeSessionMeta,
  encodeSubscription,
  encodeWill,
} from './codec.js';
import { RedisStoreError, toError } from './connection.js';
import type { Client } from './connection.js';
import type { Keys, SessionKeys } from './keys.js';
import type { RawSession, Scripts } from './scripts.js';
import { FencedWrite } from './writes.js';
import type { Writes } from './writes.js';

/** How long a fence outlives its session, or lives without one (ms): nodes with older tokens stay refused that long. */
export const FENCE_TTL_MS = 24 * 3600 * 1000;
/** Client ids read per step of sessions(app). */
const SESSION_PAGE = 100;
/** The index drops ids whose session expired more than this long ago (ms; the nodes' clocks may differ from Redis's). */
const PRUNE_MARGIN_MS = 60_000;
const PRUNE_EVERY_MS = 60_000;

/** Script results. */
const APPLIED = 1;
const REFUSED = 0;

type Arg = string | Buffer | number;

/** This store's hold on a session it acquired. */
interface Holding {
  /** The token to write with; null: disowned (or an acquire failed), its writes are dropped. */
  token: string | null;
  /** Bumped by each acquire and disown: an acquire that answers late sees it was superseded. */
  epoch: number;
  /** Writes made while an acquire is under way, sent once its token is known. */
  waiting: Array<(token: string | null | Error) => void> | null;
}

/** How long Redis keeps a session whose expiry time had already passed when it was written (ms). */
export const PAST_EXPIRY_GRACE_MS = 60_000;

/**
 * When Redis expires a session with this meta (ms since epoch; 0 = never): disconnectedAt +
 * expiry s. A time already past when written is not applied as such (Redis would delete the
 * session at once, under the node writing it): the node that writes it is alive and ends the
 * session itself (the core ends an expired session when it restores it), so Redis only removes
 * it PAST_EXPIRY_GRACE_MS later, in case that node dies first. (A node whose clock is behind
 * Redis's sees its parked sessions expire that much early, at most.)
 */
export function expiresAt(m: SessionMeta, now = Date.now()): number {
  if (m.disconnectedAt <= 0 || m.expiry >= 0xffffffff) return 0;
  const at = m.disconnectedAt + m.expiry * 1000;
  return at > now ? at : now + PAST_EXPIRY_GRACE_MS;
}

function hashPairs(a: Buffer[]): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (let i = 0; i + 1 < a.length; i += 2) out.push([a[i]!.toString(), a[i + 1]!]);
  return out;
}

export function sessionOf(app: string, clientId: string, raw: RawSession): SessionRecord | null {
  const [metaHash, subs, inflight, inbound, queued] = raw;
  let meta: SessionMeta | null = null;
  let will: SessionRecord['will'] = null;
  for (const [f, v] of hashPairs(metaHash)) {
    if (f === 'm') meta = decodeSessionMeta(v);
    else if (f === 'w') will = decodeWill(v);
  }
  if (meta === null) return null;
  return {
    app,
    clientId,
    ...meta,
    subscriptions: hashPairs(subs).map(([raw, v]) => decodeSubscription(raw, v)),
    will,
    inflight: hashPairs(inflight)
      .map(([id, v]): InflightRecord => ({ id: Number(id), ...decodeInflight(v) }))
      .sort((a, b) => a.id - b.id),
    inbound: inbound.map((b) => Number(b.toString())).sort((a, b) => a - b),
    queued: Number(queued),
  };
}

export class RedisSessionStore implements SessionStore, SharedSessionStore {
  private readonly holdings = new Map<string, Holding>();
  /** Held sessions with a write that failed (Redis unreachable), by holding id, since last recovered. */
  private readonly damaged = new Set<string>();
  private readonly recoveryListeners: Array<(sessions: ReadonlyArray<RecoveredSession>, storeLost: boolean) => void> = [];
  private refused = 0;
  private readonly pruned = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly scripts: Scripts,
    private readonly keys: Keys,
    private readonly writes: Writes,
    private readonly where: string,
  ) {}

  // ---- SharedSessionStore ----------------------------------------------------------------------

  get fenced(): number {
    return this.refused;
  }

  onRecovered(listener: (sessions: ReadonlyArray<RecoveredSession>, storeLost: boolean) => void): void {
    this.recoveryListeners.push(listener);
  }

  /**
   * Redis is back after an outage: for every session held here, check its fence (sbreclaim). The
   * ones Redis forgot (it restarted empty) are held again with the same token, and with the ones
   * whose writes failed meanwhile they go to the listeners, which write them again from memory.
   * A session another node took meanwhile is not ours any more: its writes are dropped from now.
   */
  async recover(storeLost: boolean): Promise<void> {
    const out: RecoveredSession[] = [];
    const held: Array<[id: string, h: Holding, token: string]> = [];
    for (const [id, h] of this.holdings) if (h.token !== null && h.waiting === null) held.push([id, h, h.token]);
    // A hundred fences per round trip (one pipeline), not one round trip per session.
    for (let i = 0; i < held.length; i += 100) {
      const chunk = held.slice(i, i + 100);
      let results: number[];
      try {
        results = await Promise.all(chunk.map(([id, , token]) => this.scripts.sbreclaim(this.keys.session(...splitHoldingId(id))[0], token, FENCE_TTL_MS)));
      } catch {
        return; // unreachable again: the next recovery starts over
      }
      chunk.forEach(([id, h, token], k) => {
        const r = results[k]!;
        if (h.token !== token || h.waiting !== null) return; // acquired again or disowned meanwhile
        const [app, clientId] = splitHoldingId(id);
        if (r === 0) {
          h.epoch++;
          h.token = null;
          this.damaged.delete(id);
        } else if (r === 2 || this.damaged.has(id)) {
          this.damaged.delete(id);
          out.push({ app, clientId, lost: r === 2 });
        }
      });
    }
    if (out.length > 0 || storeLost) for (const l of this.recoveryListeners) l(out, storeLost);
  }

  /** A write for a held session failed without being fenced: Redis may miss it. */
  private damage(app: string, clientId: string, err: unknown): void {
    if (!(err instanceof FencedWrite)) this.damaged.add(holdingId(app, clientId));
  }

  async acquire(app: string, clientId: string): Promise<SessionRecord | null> {
    this.writes.assertOpen();
    const id = holdingId(app, clientId);
    let h = this.holdings.get(id);
    if (h === undefined) this.holdings.set(id, (h = { token: null, epoch: 0, waiting: null }));
    const epoch = ++h.epoch;
    h.waiting ??= [];
    let token: number;
    let raw: RawSession | null;
    try {
      [token, raw] = await this.scripts.sbacquireBuffer(...this.keys.session(app, clientId), FENCE_TTL_MS);
    } catch (err) {
      if (h.epoch === epoch) this.release(h, null, err);
      throw new RedisStoreError(`cluster.redis: cannot acquire session ${app}/${clientId} on ${this.where}: ${toError(err).message}`, { cause: err });
    }
    if (h.epoch === epoch) this.release(h, String(token));
    return raw === null ? null : sessionOf(app, clientId, raw);
  }

  disown(app: string, clientId: string): void {
    // Never acquired here (a clean session, which writes nothing): nothing to remember.
    const h = this.holdings.get(holdingId(app, clientId));
    if (h === undefined) return;
    h.epoch++;
    this.release(h, null);
  }

  /** Sessions this store holds or has given up (tests, stats): what it must remember to fence. */
  get remembered(): number {
    return this.holdings.size;
  }

  /** The acquire under way for `h` ended: its token (null: none), and the writes that waited for it go. */
  private release(h: Holding, token: string | null, err?: unknown): void {
    h.token = token;
    const waiting = h.waiting;
    h.waiting = null;
    for (const send of waiting ?? []) send(err !== undefined ? toError(err) : token);
  }

  // ---- reads -----------------------------------------------------------------------------------

  private readFailed(what: string, err: unknown): RedisStoreError {
    return new RedisStoreError(`cluster.redis: cannot read ${what} from ${this.where}: ${toError(err).message}`, { cause: err });
  }

  async *sessions(app: string): AsyncIterable<SessionRecord> {
    this.writes.assertOpen();
    const index = this.keys.sessionIndex(app);
    const seen = new Set<string>();
    let cursor = '0';
    do {
      let ids: string[];
      try {
        const [next, elements] = await this.client.zscan(index, cursor, 'COUNT', SESSION_PAGE);
        cursor = next;
        ids = [];
        for (let i = 0; i < elements.length; i += 2) {
          const id = elements[i]!;
          if (!seen.has(id)) {
            seen.add(id);
            ids.push(id);
          }
        }
      } catch (err) {
        throw this.readFailed(`the sessions of ${app}`, err);
      }
      // Read the page whole before yielding: the consumer may write in between.
      let page: Array<SessionRecord | null>;
      try {
        page = await Promise.all(
          ids.map(async (id) => {
            const raw = await this.scripts.sbreadBuffer(...this.keys.session(app, id));
            return raw === null ? null : sessionOf(app, id, raw);
          }),
        );
      } catch (err) {
        throw this.readFailed(`the sessions of ${app}`, err);
      }
      const gone = ids.filter((_, i) => page[i] === null);
      if (gone.length > 0) await this.unindex(app, gone).catch(() => undefined);
      for (const r of page) if (r !== null) yield r;
    } while (cursor !== '0');
  }

  /** Drop ids whose session is gone from the index; one re-created meanwhile goes back in. */
  private async unindex(app: string, ids: string[]): Promise<void> {
    const index = this.keys.sessionIndex(app);
    await this.client.zrem(index, ...ids);
    await Promise.all(
      ids.map(async (id) => {
        const x = await this.client.hget(this.keys.session(app, id)[1], 'x');
        if (x !== null) await this.client.zadd(index, x === '0' ? '+inf' : x, id);
      }),
    );
  }

  async queuePage(app: string, clientId: string, offset: number, limit: number): Promise<DeliveryRecord[]> {
    this.writes.assertOpen();
    if (limit <= 0) return [];
    const from = Math.max(0, offset);
    let items: Buffer[];
    try {
      items = await this.client.lrangeBuffer(this.keys.session(app, clientId)[3], from, from + limit - 1);
    } catch (err) {
      throw this.readFailed(`the queue of ${app}/${clientId}`, err);
    }
    return items.map(decodeDelivery);
  }

  // ---- writes ----------------------------------------------------------------------------------

  /**
   * Send one session write (sbwrite `op` with `args`), fenced by this store's hold on the session;
   * `after` runs once it applied (index updates, in the order of the session's writes).
   */
  private write(app: string, clientId: string, args: Arg[], after?: () => Promise<unknown>): void {
    const keys = this.keys.session(app, clientId);
    const h = this.holdings.get(holdingId(app, clientId));
    if (h === undefined) {
      this.writes.track(() => this.send(keys, '', args, after));
      return;
    }
    const waiting = h.waiting;
    if (waiting !== null) {
      this.writes.track(
        () => new Promise<void>((resolve, reject) => {
          waiting.push((token) => {
            if (token instanceof Error) reject(token);
            else if (token === null) {
              this.refused++;
              reject(new FencedWrite(`${app}/${clientId}: held by another node`));
            } else
              this.send(keys, token, args, after).then(resolve, (err: unknown) => {
                this.damage(app, clientId, err);
                reject(err);
              });
          });
        }),
      );
      return;
    }
    const token = h.token;
    if (token === null) {
      this.refused++;
      return;
    }
    this.writes.track(() =>
      this.send(keys, token, args, after).catch((err: unknown) => {
        this.damage(app, clientId, err);
        throw err;
      }),
    );
  }

  private async send(keys: SessionKeys, token: string, args: Arg[], after: (() => Promise<unknown>) | undefined): Promise<void> {
    const r = await this.scripts.sbwrite(...keys, token, ...args);
    if (r === REFUSED) {
      this.refused++;
      throw new FencedWrite(`${keys[0]}: held by another node`);
    }
    if (r === APPLIED && after !== undefined) await after();
  }

  putSession(app: string, clientId: string, meta: SessionMeta): void {
    this.writes.guard(() => {
      const x = expiresAt(meta);
      const index = this.keys.sessionIndex(app);
      this.write(app, clientId, ['put', encodeSessionMeta(meta), x], async () => {
        await this.client.zadd(index, x === 0 ? '+inf' : x, clientId);
        await this.prune(app, index);
      });
    });
  }

  /** Now and then, drop the ids of long-expired sessions from the index. */
  private async prune(app: string, index: string): Promise<void> {
    const now = Date.now();
    if ((this.pruned.get(app) ?? 0) > now - PRUNE_EVERY_MS) return;
    this.pruned.set(app, now);
    await this.client.zremrangebyscore(index, '-inf', `(${now - PRUNE_MARGIN_MS}`);
  }

  deleteSession(app: string, clientId: string): void {
    const index = this.keys.sessionIndex(app);
    const id = holdingId(app, clientId);
    const h = this.holdings.get(id);
    const epoch = h?.epoch;
    this.write(app, clientId, ['del', FENCE_TTL_MS], () => {
      // Deleted as its holder: the token is forgotten too (the next session of that id acquires
      // again), unless it was acquired or given up meanwhile. So the holdings do not grow with
      // every client id that ever had a session here.
      const now = this.holdings.get(id);
      if (now !== undefined && now === h && now.epoch === epoch && now.waiting === null && now.token !== null) {
        this.holdings.delete(id);
        this.damaged.delete(id);
      }
      return this.client.zrem(index, clientId);
    });
  }

  putSubscription(app: string, clientId: string, sub: SubscriptionRecord): void {
    this.writes.guard(() => this.write(app, clientId, ['sub', sub.raw, encodeSubscription(sub)]));
  }

  deleteSubscription(app: string, clientId: string, raw: string): void {
    this.write(app, clientId, ['unsub', raw]);
  }

  enqueue(app: string, clientId: string, d: DeliveryRecord): void {
    this.writes.guard(() => this.write(app, clientId, ['enq', encodeDelivery(d)]));
  }

  dequeue(app: string, clientId: string): void {
    this.write(app, clientId, ['deq']);
  }

  putInflight(app: string, clientId: string, r: InflightRecord): void {
    this.writes.guard(() => this.write(app, clientId, ['inf', r.id, encodeInflight(r.phase, r.delivery)]));
  }

  deleteInflight(app: string, clientId: string, id: number): void {
    this.write(app, clientId, ['uninf', id]);
  }

  putInbound(app: string, clientId: string, id: number): void {
    this.write(app, clientId, ['in', id]);
  }

  deleteInbound(app: string, clientId: string, id: number): void {
    this.write(app, clientId, ['unin', id]);
  }

  putWill(app: string, clientId: string, will: { msg: MessageRecord; delay: number } | null): void {
    this.writes.guard(() => this.write(app, clientId, ['will', will === null ? '' : encodeWill(will)]));
  }
}

function holdingId(app: string, clientId: string): string {
  return `${app}\u0000${clientId}`;
}

function splitHoldingId(id: string): [app: string, clientId: string] {
  const i = id.indexOf('\u0000');
  return [id.slice(0, i), id.slice(i + 1)];
}
