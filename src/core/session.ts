/**
 * Session state, with one owner: what survives a connection (subscriptions, queued and in-flight
 * deliveries, inbound exactly-once ids, the will) for as long as its expiry allows. Protocols
 * call its methods; they never touch its maps.
 *
 * Invariants:
 * - At most one live link (connection) per session; attaching a new one first closes the old
 *   one (takeover).
 * - In-flight deliveries (sent, not yet acknowledged) are keyed by a delivery id: a small integer
 *   (1..65535) unique among the session's in-flight deliveries, allocated here. MQTT uses it as
 *   the packet id; STOMP maps its `ack` ids onto it. The queue holds deliveries not yet sent
 *   (offline, or past the in-flight window). Both are bounded by the limits; overflow is dropped
 *   and reported, never silent.
 * - Inbound exactly-once ids (MQTT QoS 2: PUBREC sent, PUBREL not yet received) are remembered
 *   until released [MQTT-4.3.3-9].
 * - Every change of a persistent session goes to its journal (the session store), in order.
 */
import { messageSize } from './message.js';
import type { Message, QoS } from './message.js';
import type { SharedGroup, Subscriber, Subscription } from './topic-trie.js';
import { Deque } from './deque.js';
import { SmallMap } from './small-map.js';
import type { Profile } from './permissions.js';
import type { ClientInfo } from './hooks.js';
import type { DisconnectReason } from './presence.js';
import type { Deadline } from './clock.js';
import type { ErrorCode } from '../errors/catalogue.js';

export { Deque };

/**
 * Why a link is being closed by the broker. 'refused': another connection holds the client id
 * and keeps it (duplicate-login `reject`, or another profile), found after this one connected.
 * 'token-expired': the credentials the client logged in with (a JWT) expired.
 */
export type CloseReason = 'takeover' | 'shutdown' | 'kicked' | 'refused' | 'token-expired';

/** Each close reason once: the catalogue code a protocol sends, and what presence reports. */
export const CLOSE_REASONS: Record<CloseReason, { code: ErrorCode; presence: DisconnectReason }> = {
  takeover: { code: 'SB_ERR_TAKEN_OVER', presence: 'taken-over' }, // [MQTT-3.1.4-3]
  shutdown: { code: 'SB_ERR_SHUTTING_DOWN', presence: 'shutdown' },
  kicked: { code: 'SB_ERR_ADMIN_ACTION', presence: 'kicked' },
  refused: { code: 'SB_ERR_DUPLICATE_LOGIN', presence: 'refused' },
  'token-expired': { code: 'SB_ERR_TOKEN_EXPIRED', presence: 'token-expired' },
};

/** The protocol side of a session: an MQTT or STOMP connection. */
export interface SessionLink {
  /**
   * Send now, or queue in the session when the window is full. Never throws.
   * `group` is the shared group / queue the message came through (null for ordinary
   * subscriptions): a link that gives a message back (STOMP NACK) returns it there.
   */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void;
  /** Broker-initiated close; the link detaches itself from the session. */
  close(reason: CloseReason): void;
  /** Send what waits in the session queue, as far as the link's window allows. */
  pump(): void;
}

export interface Delivery {
  msg: Message;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 Subscription Identifiers of the matching subscriptions, or null. */
  subscriptionIds: readonly number[] | null;
  group: SharedGroup<Session> | null;
  /** The one subscription (its raw filter) a delivery is for, when the protocol keeps them apart (STOMP). */
  via?: string;
}

/**
 * An in-flight delivery. 'sent': waiting for the receiver's acknowledgement (MQTT PUBACK /
 * PUBREC, STOMP ACK); 'received': the receiver has it and completion is pending (MQTT QoS 2:
 * PUBREL sent, waiting for PUBCOMP).
 */
export interface Inflight extends Delivery {
  phase: 'sent' | 'received';
}

/**
 * Why a message could not be delivered (the dead-letter reasons). 'overload': refused at the
 * door because the broker's memory budget is spent (counted, never dead-lettered).
 */
export type DropReason = 'queue-full' | 'expired' | 'slow-consumer' | 'offline' | 'no-subscribers' | 'nack-limit' | 'overload';

export interface SessionLimits {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

export type DropListener = (session: Session | null, msg: Message, reason: DropReason) => void;
/** Called for every message delivered to a monitored session (see core/monitor.ts). */
export type TapListener = (session: Session, msg: Message, qos: QoS) => void;
/**
 * What a session needs from its owner (the router): the current tap, and the application's
 * account of queued bytes (one shared object, not a closure per session).
 */
export interface SessionOwner {
  readonly tap: TapListener | null;
  /** Deliveries and their payload bytes by the QoS they are delivered with (metrics), counted here. */
  readonly outByQos: [number, number, number];
  readonly outBytesByQos: [number, number, number];
  /** Reserve `bytes` of queue space; false when the application's queue budget is spent (`force`: reserve anyway). */
  charge(bytes: number, force?: boolean): boolean;
  /** Read the next page of `session`'s queue from the store; answer with `session.loaded(page)`. */
  loadQueue(session: Session): void;
  /** A queue's message was acknowledged (or refused, or sent at QoS 0): out of the queue's store. */
  queueDone(msg: Message): void;
  release(bytes: number): void;
}

/**
 * Where a persistent session's changes go, in order (stores/: the session store). Every method
 * is fire-and-forget for the session; durability is awaited by whoever acknowledges.
 */
export interface SessionJournal {
  enqueued(s: Session, d: Delivery): void;
  dequeued(s: Session): void;
  inflightSet(s: Session, id: number, e: Inflight): void;
  inflightDeleted(s: Session, id: number): void;
  inboundSet(s: Session, id: number, present: boolean): void;
  willSet(s: Session, w: WillMessage | null): void;
}

export interface WillMessage {
  msg: Message;
  /** Seconds to wait after the connection ends before publishing [MQTT-3.1.3-9]. */
  delay: number;
}

/**
 * A delivery of a queue's message (durable group): the queue's store keeps it until it is
 * acknowledged, so the session does not journal it (after a restart it returns to its queue).
 */
export function ownedByQueue(d: { group: SharedGroup<Session> | null }): boolean {
  return d.group !== null && d.group.durable;
}

/**
 * Queued deliveries a persistent session keeps in memory while offline; more wait in the store
 * only, and are read back this many at a time as they are sent (SessionOwner.loadQueue).
 */
export const QUEUE_PAGE = 500;

/** The largest delivery id, and so the most deliveries in flight per session. */
const MAX_DELIVERY_ID = 65535;

export class Session implements Subscriber {
  link: SessionLink | null = null;
  /** Subscriptions keyed by raw filter (including "$share/GROUP/"). Changed only through the router. */
  readonly subscriptions = new SmallMap<string, Subscription<Session>>();
  /** Seconds the session outlives its connection; 0 = ends with it; 0xFFFFFFFF = never expires. Set through the router. */
  expiryInterval = 0;
  // Delivery state is allocated on first use: most sessions of an idle fleet never need it.
  private inflightMap: Map<number, Inflight> | null = null;
  private queue: Deque<Delivery> | null = null;
  private inbound: Set<number> | null = null;
  queuedBytes = 0;
  private nextId = 1;
  /** Deadlines in the broker's sweep (core/clock.ts): ending the parked session, publishing a delayed will. Set by the router. */
  expiryTimer: Deadline | null = null;
  willTimer: Deadline | null = null;
  private _will: WillMessage | null = null;
  /** Protocol name for listings ('mqtt' | 'stomp' | 'mqttsn'). */
  protocol = 'mqtt';
  connectedAt = 0;
  disconnectedAt = 0;
  dropped = 0;
  /** Who is behind the session (set at CONNECT). */
  identity: ClientInfo | null = null;
  /** Someone monitors this session: deliveries and publishes are copied to the monitor. */
  monitored = false;
  /** Set while the session is persistent: its changes are written there. */
  journal: SessionJournal | null = null;
  /** Queued deliveries held only by the store, after those in memory (a restored session's queue). */
  backlog = 0;
  private loading = false;

  constructor(
    readonly clientId: string,
    private readonly limits: SessionLimits,
    private readonly onDrop: DropListener,
    private readonly owner: SessionOwner,
  ) {}

  get profile(): Profile {
    return this.identity?.profile ?? 'AGENT';
  }

  get online(): boolean {
    return this.link !== null;
  }

  /** Entry point for the router. */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void {
    const owner = this.owner;
    owner.outByQos[qos]++;
    owner.outBytesByQos[qos] += msg.payload.length;
    if (this.monitored) owner.tap?.(this, msg, qos);
    const link = this.link;
    if (link !== null) {
      link.deliver(msg, qos, retain, subscriptionIds, group);
      return;
    }
    if (qos === 0) {
      // QoS 0 is not queued for offline sessions (MQTT 5 section 3.1.2.4 permits either).
      this.onDrop(this, msg, 'offline');
      return;
    }
    this.enqueue({ msg, qos, retain, subscriptionIds, group });
  }

  // ---- queue -----------------------------------------------------------------------------

  /** Deliveries waiting: in memory, and those still only in the store (`backlog`). */
  get queued(): number {
    return (this.queue === null ? 0 : this.queue.length) + this.backlog;
  }

  /** Queue a delivery; false (and a drop report) when the bounds are reached. */
  enqueue(d: Delivery): boolean {
    const size = messageSize(d.msg);
    const owned = ownedByQueue(d);
    if (!owned && this.journal !== null && (this.backlog > 0 || (this.link === null && this.queue !== null && this.queue.length >= QUEUE_PAGE))) {
      // Older deliveries wait in the store (a restored queue), or an offline session already
      // holds a page in memory: this one waits in the store only (memory stays bounded).
      if (this.queued >= this.limits.maxQueuedMessages) return this.refuse(d);
      this.journal.enqueued(this, d);
      this.backlog++;
      return true;
    }
    const q = (this.queue ??= new Deque());
    if (q.length >= this.limits.maxQueuedMessages || this.queuedBytes + size > this.limits.maxQueuedBytes || !this.owner.charge(size)) return this.refuse(d);
    q.push(d);
    this.queuedBytes += size;
    if (!owned) this.journal?.enqueued(this, d);
    return true;
  }

  private refuse(d: Delivery): false {
    this.dropped++;
    this.onDrop(this, d.msg, 'queue-full');
    return false;
  }

  /**
   * Next queued delivery that has not expired (expired ones are reported and skipped). When
   * memory is empty but the store holds more (`backlog`), the next page is asked for and
   * undefined returned: the link is pumped again once it is in.
   */
  dequeue(now: number): Delivery | undefined {
    const q = this.queue;
    for (;;) {
      const d = q === null ? undefined : q.shift();
      if (!d) {
        if (this.backlog > 0 && !this.loading) {
          this.loading = true;
          this.owner.loadQueue(this);
        }
        return undefined;
      }
      const size = messageSize(d.msg);
      this.queuedBytes -= size;
      this.owner.release(size);
      if (!ownedByQueue(d)) this.journal?.dequeued(this);
      if (d.msg.expiresAt !== 0 && d.msg.expiresAt <= now) {
        this.onDrop(this, d.msg, 'expired');
        continue;
      }
      return d;
    }
  }

  /** Queued deliveries held in memory, oldest first (listings, persistence). */
  *queuedDeliveries(): Generator<Delivery> {
    if (this.queue !== null) yield* this.queue;
  }

  /**
   * The next page of the store's backlog is in (oldest first): into memory, charged like any
   * queued delivery (over the limits if need be: they were accepted before), then the link sends.
   */
  loaded(page: readonly Delivery[]): void {
    this.loading = false;
    const q = (this.queue ??= new Deque());
    for (const d of page) {
      const size = messageSize(d.msg);
      q.push(d);
      this.queuedBytes += size;
      this.owner.charge(size, true);
    }
    this.backlog = Math.max(0, this.backlog - page.length);
    if (page.length === 0) this.backlog = 0; // the store holds no more than that
    this.link?.pump();
  }

  // ---- in flight -------------------------------------------------------------------------

  get inflightCount(): number {
    return this.inflightMap === null ? 0 : this.inflightMap.size;
  }

  /** Record a delivery as sent; its delivery id, or 0 when every id is in use (then it is not recorded). */
  begin(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): number {
    const m = (this.inflightMap ??= new Map());
    if (m.size >= MAX_DELIVERY_ID) return 0;
    let id: number;
    do {
      id = this.nextId;
      this.nextId = id === MAX_DELIVERY_ID ? 1 : id + 1;
    } while (m.has(id));
    const e: Inflight = { msg, qos, retain, subscriptionIds, group, phase: 'sent' };
    m.set(id, e);
    if (!ownedByQueue(e)) this.journal?.inflightSet(this, id, e);
    return id;
  }

  inflight(id: number): Inflight | undefined {
    return this.inflightMap?.get(id);
  }

  /** The receiver has the message; completion pending (MQTT QoS 2 after PUBREC). */
  markReceived(id: number): void {
    const e = this.inflightMap?.get(id);
    if (e === undefined || e.phase === 'received') return;
    e.phase = 'received';
    if (!ownedByQueue(e)) this.journal?.inflightSet(this, id, e);
  }

  /**
   * The delivery is finished (acknowledged, completed, refused, or too large to send): forget
   * it. A queue's message leaves the queue's store only now, so a crash before the ack
   * delivers it again.
   */
  settle(id: number): Inflight | undefined {
    const e = this.withdraw(id);
    if (e !== undefined && ownedByQueue(e)) this.owner.queueDone(e.msg);
    return e;
  }

  /** Take delivery `id` back without finishing it (NACK, unsubscribe): the caller hands it on. */
  withdraw(id: number): Inflight | undefined {
    const m = this.inflightMap;
    const e = m?.get(id);
    if (e === undefined) return undefined;
    m!.delete(id);
    if (!ownedByQueue(e)) this.journal?.inflightDeleted(this, id);
    return e;
  }

  /** In-flight deliveries in the order they were sent (resend on resume). */
  inflightEntries(): IterableIterator<[number, Inflight]> {
    return (this.inflightMap ?? EMPTY_INFLIGHT).entries();
  }

  // ---- inbound exactly-once --------------------------------------------------------------

  get inboundCount(): number {
    return this.inbound === null ? 0 : this.inbound.size;
  }

  hasInbound(id: number): boolean {
    return this.inbound !== null && this.inbound.has(id);
  }

  /** Remember that the message `id` was received and must not be routed again [MQTT-4.3.3-9]. */
  addInbound(id: number): void {
    (this.inbound ??= new Set()).add(id);
    this.journal?.inboundSet(this, id, true);
  }

  releaseInbound(id: number): void {
    if (this.inbound?.delete(id)) this.journal?.inboundSet(this, id, false);
  }

  /** Inbound ids (persistence). */
  inboundIds(): IterableIterator<number> {
    return (this.inbound ?? EMPTY_IDS).values();
  }

  // ---- will ------------------------------------------------------------------------------

  get will(): WillMessage | null {
    return this._will;
  }

  /** Set or clear the will; a will is memory held for the client, charged like a queued message. */
  setWill(w: WillMessage | null): void {
    if (this._will === w) return;
    if (this._will !== null) this.owner.release(messageSize(this._will.msg));
    if (w !== null) this.owner.charge(messageSize(w.msg), true);
    this._will = w;
    this.journal?.willSet(this, w);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Put back state read from a store at start (not journaled again: it came from there).
   * Queued bytes are charged without the limits: they were accepted before.
   */
  restore(inflight: ReadonlyArray<[number, Inflight]>, inbound: readonly number[], backlog: number, will: WillMessage | null): void {
    if (inflight.length > 0) {
      this.inflightMap = new Map(inflight);
      this.nextId = (Math.max(...inflight.map(([id]) => id)) % MAX_DELIVERY_ID) + 1;
    }
    if (inbound.length > 0) this.inbound = new Set(inbound);
    // The queue stays in the store until the client is back: read in pages as it is sent.
    this.backlog = backlog;
    if (will !== null) this.owner.charge(messageSize(will.msg), true);
    this._will = will;
  }

  /** Take every unfinished delivery (in flight, then queued) and forget all delivery state (session end). */
  drain(): Delivery[] {
    const out: Delivery[] = [];
    if (this.inflightMap !== null) for (const e of this.inflightMap.values()) out.push(e);
    if (this.queue !== null) out.push(...this.queue.clear());
    this.owner.release(this.queuedBytes);
    this.inflightMap = null;
    this.queue = null;
    this.inbound = null;
    this.queuedBytes = 0;
    this.backlog = 0; // what only the store held goes with the session's record
    this.nextId = 1;
    return out;
  }

  clearTimers(): void {
    this.expiryTimer?.cancel();
    this.willTimer?.cancel();
    this.expiryTimer = null;
    this.willTimer = null;
  }
}

const EMPTY_INFLIGHT: ReadonlyMap<number, Inflight> = new Map();
const EMPTY_IDS: ReadonlySet<number> = new Set();
