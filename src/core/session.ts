/**
 * A client session: what survives a connection (subscriptions, in-flight and queued
 * deliveries, received-but-unreleased QoS 2 ids) for as long as its expiry allows.
 *
 * Invariants:
 * - At most one live link (connection) per session; attaching a new one first closes the old
 *   one (takeover).
 * - `inflight` holds outbound QoS 1/2 messages sent and not yet fully acknowledged, keyed by
 *   packet id; `queue` holds deliveries not yet sent (offline, or past the in-flight window).
 *   Both are bounded by the limits; overflow is dropped and reported, never silent.
 */
import type { Message, QoS } from './message.js';
import type { SharedGroup, Subscriber, Subscription } from './topic-trie.js';
import { Deque } from './deque.js';
import { SmallMap } from './small-map.js';
import type { Profile } from './permissions.js';
import type { ClientInfo } from './hooks.js';
import type { DisconnectReason } from './presence.js';
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
   * subscriptions): a link that gives a message back (STOMP NACK, unacked on close) returns it there.
   */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void;
  /** Broker-initiated close; the link detaches itself from the session. */
  close(reason: CloseReason): void;
}

export interface Delivery {
  msg: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds: readonly number[] | null;
  group: SharedGroup<Session> | null;
}

export interface InflightEntry extends Delivery {
  /** 'ack': waiting PUBACK/PUBREC; 'comp': PUBREL sent, waiting PUBCOMP. */
  state: 'ack' | 'comp';
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
  /** Reserve `bytes` of queue space; false when the application's queue budget is spent. */
  charge(bytes: number): boolean;
  release(bytes: number): void;
}

export interface WillMessage {
  msg: Message;
  /** Seconds to wait after the connection ends before publishing [MQTT-3.1.3-9]. */
  delay: number;
}

export class Session implements Subscriber {
  link: SessionLink | null = null;
  /** Subscriptions keyed by raw filter (including "$share/GROUP/"). */
  readonly subscriptions = new SmallMap<string, Subscription<Session>>();
  /** Seconds the session outlives its connection; 0 = ends with it; 0xFFFFFFFF = never expires. */
  expiryInterval = 0;
  // Delivery state is allocated on first use: most sessions of an idle fleet never need it.
  private _inflight: Map<number, InflightEntry> | null = null;
  private _queue: Deque<Delivery> | null = null;
  private _inboundQos2: Set<number> | null = null;
  get inflight(): Map<number, InflightEntry> {
    return (this._inflight ??= new Map());
  }
  get queue(): Deque<Delivery> {
    return (this._queue ??= new Deque());
  }
  /** Inbound QoS 2 packet ids: PUBREC sent, PUBREL not yet received [MQTT-4.3.3-9]. */
  get inboundQos2(): Set<number> {
    return (this._inboundQos2 ??= new Set());
  }
  queuedBytes = 0;
  private nextId = 1;
  /** Timer ending the session after disconnect, or publishing a delayed will. */
  expiryTimer: NodeJS.Timeout | null = null;
  willTimer: NodeJS.Timeout | null = null;
  will: WillMessage | null = null;
  /** Protocol name for listings ('mqtt' | 'stomp'). */
  protocol = 'mqtt';
  connectedAt = 0;
  disconnectedAt = 0;
  dropped = 0;
  /** Who is behind the session (set at CONNECT). */
  identity: ClientInfo | null = null;
  /** Someone monitors this session: deliveries and publishes are copied to the monitor. */
  monitored = false;
  /** Why the last connection ended (presence). */
  endReason = '';

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
    if (this.monitored) this.owner.tap?.(this, msg, qos);
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

  /** Queue a delivery; false (and a drop report) when the bounds are reached. */
  enqueue(d: Delivery): boolean {
    const size = d.msg.payload.length;
    if (this.queue.length >= this.limits.maxQueuedMessages || this.queuedBytes + size > this.limits.maxQueuedBytes || !this.owner.charge(size)) {
      this.dropped++;
      this.onDrop(this, d.msg, 'queue-full');
      return false;
    }
    this.queue.push(d);
    this.queuedBytes += size;
    return true;
  }

  /** Next queued delivery that has not expired (expired ones are reported and skipped). */
  dequeue(now: number): Delivery | undefined {
    for (;;) {
      const d = this.queue.shift();
      if (!d) return undefined;
      this.queuedBytes -= d.msg.payload.length;
      this.owner.release(d.msg.payload.length);
      if (d.msg.expiresAt !== 0 && d.msg.expiresAt <= now) {
        this.onDrop(this, d.msg, 'expired');
        continue;
      }
      return d;
    }
  }

  /** Allocate an unused outbound packet id (1..65535) [MQTT-2.2.1-3]; 0 when all are in use. */
  allocatePacketId(): number {
    if (this.inflight.size >= 65535) return 0;
    for (;;) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** Forget all delivery state (clean start / session end). */
  reset(): void {
    this.owner.release(this.queuedBytes);
    this._inflight = null;
    this._queue = null;
    this._inboundQos2 = null;
    this.queuedBytes = 0;
    this.nextId = 1;
  }

  clearTimers(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.willTimer) clearTimeout(this.willTimer);
    this.expiryTimer = null;
    this.willTimer = null;
  }
}
