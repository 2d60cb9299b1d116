/** Sessions in memory: survive a broker restart inside one process (embedders, tests), not a crash. */
import type { DeliveryRecord, InflightRecord, MessageRecord, SessionMeta, SessionRecord, SessionStore, SubscriptionRecord } from '../types.js';

interface Stored {
  meta: SessionMeta;
  subscriptions: Map<string, SubscriptionRecord>;
  queue: DeliveryRecord[];
  /** Queue entries already removed from the front of `queue` (compacted in bulk). */
  head: number;
  inflight: Map<number, InflightRecord>;
  inbound: Set<number>;
  will: { msg: MessageRecord; delay: number } | null;
}

export class MemorySessionStore implements SessionStore {
  private readonly apps = new Map<string, Map<string, Stored>>();

  private get(app: string, clientId: string): Stored | undefined {
    return this.apps.get(app)?.get(clientId);
  }

  async *sessions(app: string): AsyncIterable<SessionRecord> {
    for (const [clientId, s] of this.apps.get(app) ?? []) {
      yield {
        app,
        clientId,
        ...s.meta,
        subscriptions: [...s.subscriptions.values()],
        will: s.will,
        inflight: [...s.inflight.values()],
        inbound: [...s.inbound],
        queued: s.queue.length - s.head,
      };
    }
  }

  async queuePage(app: string, clientId: string, offset: number, limit: number): Promise<DeliveryRecord[]> {
    const s = this.get(app, clientId);
    if (s === undefined) return [];
    const from = s.head + offset;
    return s.queue.slice(from, from + limit);
  }

  putSession(app: string, clientId: string, meta: SessionMeta): void {
    let sessions = this.apps.get(app);
    if (sessions === undefined) this.apps.set(app, (sessions = new Map()));
    const s = sessions.get(clientId);
    if (s !== undefined) s.meta = { ...meta };
    else sessions.set(clientId, { meta: { ...meta }, subscriptions: new Map(), queue: [], head: 0, inflight: new Map(), inbound: new Set(), will: null });
  }

  deleteSession(app: string, clientId: string): void {
    this.apps.get(app)?.delete(clientId);
  }

  putSubscription(app: string, clientId: string, sub: SubscriptionRecord): void {
    this.get(app, clientId)?.subscriptions.set(sub.raw, sub);
  }

  deleteSubscription(app: string, clientId: string, raw: string): void {
    this.get(app, clientId)?.subscriptions.delete(raw);
  }

  enqueue(app: string, clientId: string, d: DeliveryRecord): void {
    this.get(app, clientId)?.queue.push(d);
  }

  dequeue(app: string, clientId: string): void {
    const s = this.get(app, clientId);
    if (s === undefined || s.head >= s.queue.length) return;
    s.head++;
    if (s.head > 1024 && s.head * 2 > s.queue.length) {
      s.queue = s.queue.slice(s.head);
      s.head = 0;
    }
  }

  putInflight(app: string, clientId: string, r: InflightRecord): void {
    this.get(app, clientId)?.inflight.set(r.id, r);
  }

  deleteInflight(app: string, clientId: string, id: number): void {
    this.get(app, clientId)?.inflight.delete(id);
  }

  putInbound(app: string, clientId: string, id: number): void {
    this.get(app, clientId)?.inbound.add(id);
  }

  deleteInbound(app: string, clientId: string, id: number): void {
    this.get(app, clientId)?.inbound.delete(id);
  }

  putWill(app: string, clientId: string, will: { msg: MessageRecord; delay: number } | null): void {
    const s = this.get(app, clientId);
    if (s !== undefined) s.will = will;
  }
}
