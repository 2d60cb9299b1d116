/**
 * The bridge from live session state to the session store: a persistent session's changes
 * become store records, in the order they happen (core/session.ts calls the SessionJournal
 * methods; the router calls the session-level ones). Clean sessions have no journal and never
 * touch a store; neither do QoS 0 messages (they are never queued for an offline session).
 */
import { messageRecord } from './message.js';
import { ownedByQueue } from './session.js';
import type { Delivery, Inflight, Session, SessionJournal, WillMessage } from './session.js';
import type { Subscription } from './topic-trie.js';
import type { DeliveryRecord, SessionStore, SubscriptionRecord } from '../stores/types.js';

export function deliveryRecord(d: Delivery): DeliveryRecord {
  const r: DeliveryRecord = {
    msg: messageRecord(d.msg),
    qos: d.qos,
    retain: d.retain,
    subscriptionIds: d.subscriptionIds === null ? null : [...d.subscriptionIds],
    group: d.group === null ? null : { filter: d.group.filter, name: d.group.name },
  };
  if (d.via !== undefined) r.via = d.via;
  return r;
}

export function subscriptionRecord(s: Subscription<Session>): SubscriptionRecord {
  return {
    raw: s.raw,
    filter: s.filter,
    group: s.group,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
    subscriptionId: s.subscriptionId,
  };
}

export class StoreJournal implements SessionJournal {
  constructor(
    private readonly app: string,
    private readonly store: SessionStore,
  ) {}

  // ---- session level (the router) --------------------------------------------------------

  /** Who the session belongs to, its expiry and when its connection ended. */
  meta(s: Session): void {
    const id = s.identity;
    this.store.putSession(this.app, s.clientId, {
      login: id?.login ?? s.clientId,
      profile: s.profile,
      protocol: s.protocol,
      expiry: s.expiryInterval,
      disconnectedAt: s.link === null ? s.disconnectedAt : 0,
    });
  }

  /** The session became persistent: write everything it holds. */
  snapshot(s: Session): void {
    this.meta(s);
    for (const sub of s.subscriptions.values()) this.subscription(s, sub, true);
    for (const d of s.queuedDeliveries()) if (!ownedByQueue(d)) this.enqueued(s, d);
    for (const [id, e] of s.inflightEntries()) if (!ownedByQueue(e)) this.inflightSet(s, id, e);
    for (const id of s.inboundIds()) this.inboundSet(s, id, true);
    if (s.will !== null) this.willSet(s, s.will);
  }

  /**
   * Write the session again from memory after the store missed some of its writes (an outage):
   * exactly (forget, then everything) when memory holds all of it or the store lost it anyway;
   * else everything but the queue, whose part only the store holds (`backlog`) must stay.
   */
  rewrite(s: Session, lost: boolean): void {
    if (lost || s.backlog === 0) {
      this.store.deleteSession(this.app, s.clientId);
      this.snapshot(s);
      return;
    }
    this.meta(s);
    for (const sub of s.subscriptions.values()) this.subscription(s, sub, true);
    for (const [id, e] of s.inflightEntries()) if (!ownedByQueue(e)) this.inflightSet(s, id, e);
    for (const id of s.inboundIds()) this.inboundSet(s, id, true);
    this.willSet(s, s.will);
  }

  subscription(s: Session, sub: Subscription<Session>, present: boolean): void {
    if (present) this.store.putSubscription(this.app, s.clientId, subscriptionRecord(sub));
    else this.store.deleteSubscription(this.app, s.clientId, sub.raw);
  }

  ended(s: Session): void {
    this.store.deleteSession(this.app, s.clientId);
  }

  // ---- SessionJournal (the session) ------------------------------------------------------

  enqueued(s: Session, d: Delivery): void {
    this.store.enqueue(this.app, s.clientId, deliveryRecord(d));
  }

  dequeued(s: Session): void {
    this.store.dequeue(this.app, s.clientId);
  }

  inflightSet(s: Session, id: number, e: Inflight): void {
    this.store.putInflight(this.app, s.clientId, { id, delivery: deliveryRecord(e), phase: e.phase });
  }

  inflightDeleted(s: Session, id: number): void {
    this.store.deleteInflight(this.app, s.clientId, id);
  }

  inboundSet(s: Session, id: number, present: boolean): void {
    if (present) this.store.putInbound(this.app, s.clientId, id);
    else this.store.deleteInbound(this.app, s.clientId, id);
  }

  willSet(s: Session, w: WillMessage | null): void {
    this.store.putWill(this.app, s.clientId, w === null ? null : { msg: messageRecord(w.msg), delay: w.delay });
  }
}
