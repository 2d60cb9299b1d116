/**
 * The router: sessions by client id, the subscription trie, retained messages, wills.
 * Protocol-neutral: MQTT and STOMP connections call in with core types only.
 *
 * Hot path (publish): one cached trie lookup, then one `deliver` call per target; no
 * allocation per subscriber except what a link queues.
 */
import { EventEmitter } from 'node:events';
import type { Message, QoS } from './message.js';
import { senderIdOf, withRetain } from './message.js';
import { QUEUE_PAGE, Session } from './session.js';
import type { CloseReason, Delivery, DropListener, DropReason, Inflight, SessionLimits, SessionLink, SessionOwner, TapListener, WillMessage } from './session.js';
import type { MaybePromise } from './hooks.js';
import type { AppCluster } from './bus.js';
import { MemoryBudget } from './budget.js';
import { TopicTrie } from './topic-trie.js';
import type { MatchResult, Observer, SharedGroup, Subscription } from './topic-trie.js';
import { RetainedIndex } from './retained-index.js';
import { fromRecord, messageRecord, messageSize } from './message.js';
import { StoreJournal } from './journal.js';
import type { DeliveryRecord, QueuedRecord, SessionRecord, Stores } from '../stores/types.js';
import { PROFILES } from './permissions.js';
import { Sweep, systemClock } from './clock.js';
import type { Due } from './clock.js';

export interface RouterLimits extends SessionLimits {
  maxRetained: number;
  maxRetainedPerClient: number;
  maxRetainedBytesPerClient: number;
  maxStoredBytesPerApp: number;
}

export interface RouterOptions {
  limits: RouterLimits;
  /** The broker-wide budget this router's queues and retained messages are charged to. */
  budget?: MemoryBudget;
  /** Deliveries of one message to a queue before it goes to the dead letters. */
  maxRedeliveries?: number;
  /**
   * The broker's sweep (core/clock.ts): its clock gives `now`, its deadlines end parked sessions
   * and publish delayed wills. Default: a sweep of this router's own on the system clock (or on
   * `now`).
   */
  sweep?: Sweep;
  /** Injected time (ms since epoch) instead of the sweep's clock. */
  now?: () => number;
  onDrop?: DropListener;
}

/**
 * A broker-owned `$` namespace ($monitor/, $presence/) whose subscriptions are not trie
 * entries: the owner decides per subscriber what it may see.
 */
export interface SystemTopic {
  subscribe(session: Session, sub: Subscription<Session>): void;
  unsubscribe(session: Session, sub: Subscription<Session>): void;
}

/** Intercepts publishes to `$` topics ($inbox/, $request/); returns deliveries, or null to route normally. */
export type SystemPublish = (msg: Message) => number | null;

export interface RouterStats {
  messagesIn: number;
  /** messagesIn by the QoS it was published with (0, 1, 2). */
  messagesInByQos: [number, number, number];
  messagesOut: number;
  /** Deliveries to this node's sessions (queued ones included) and their payload bytes, by the QoS they are delivered with. */
  messagesOutByQos: [number, number, number];
  bytesOutByQos: [number, number, number];
  bytesIn: number;
  dropped: number;
  droppedByReason: Record<DropReason, number>;
}

/** One message in this many is timed from publish to delivery (a power of two). */
export const LATENCY_SAMPLE = 256;

export interface AttachResult {
  session: Session;
  /** True when an existing session was resumed [MQTT-3.2.2-2]. */
  present: boolean;
}

/** Whether a (re)subscription should get retained messages (MQTT 5 Retain Handling). */
export interface SubscribeResult {
  existed: boolean;
}

export class Router implements SessionOwner {
  /** SessionOwner: counted by Session.deliver (the stats' own arrays). */
  get outByQos(): [number, number, number] {
    return this.stats.messagesOutByQos;
  }

  get outBytesByQos(): [number, number, number] {
    return this.stats.bytesOutByQos;
  }

  readonly sessions = new Map<string, Session>();
  readonly trie = new TopicTrie<Session>();
  /** The retained messages, indexed for subscription lookups (persisted through the stores). */
  readonly retained = new RetainedIndex();
  /** Where what must outlive the process goes (null: nothing is stored). */
  private stores: Stores | null = null;
  private journal: StoreJournal | null = null;
  /** The application this router serves (store keys). */
  private app = '';
  /** Store ids of messages held in queue backlogs (a Message may sit in one backlog). */
  private readonly queueIds = new WeakMap<Message, number>();
  readonly now: () => number;
  /** Deadlines for session expiry and will delays (shared with the broker's protocols). */
  readonly sweep: Sweep;
  readonly stats: RouterStats = {
    messagesIn: 0,
    messagesInByQos: [0, 0, 0],
    messagesOut: 0,
    messagesOutByQos: [0, 0, 0],
    bytesOutByQos: [0, 0, 0],
    bytesIn: 0,
    dropped: 0,
    droppedByReason: { 'queue-full': 0, expired: 0, 'slow-consumer': 0, offline: 0, 'no-subscribers': 0, 'nack-limit': 0, overload: 0 },
  };
  readonly budget: MemoryBudget;
  /** Bytes this application holds for clients (see `charge`). */
  storedBytes = 0;
  /** Sessions that outlive their connection (expiry > 0), online or not. */
  persistentSessions = 0;
  /** Retained messages per publisher client id (limits.maxRetainedPerClient). */
  private readonly retainedBy = new Map<string, { count: number; bytes: number }>();
  /**
   * Decides whether a will may be published when it fires (permissions may have been reloaded
   * since CONNECT). Set by the application; null = always.
   */
  authorizeWill: ((session: Session, msg: Message) => MaybePromise<boolean>) | null = null;
  private readonly dropListener: DropListener;
  /** `$`-prefix -> owner (see SystemTopic). */
  readonly systemTopics = new Map<string, SystemTopic>();
  systemPublish: SystemPublish | null = null;
  /** Copies of messages to and from monitored sessions. */
  tap: TapListener | null = null;
  /**
   * Cluster mode: this application's side of the bus (core/bus.ts): copies for other nodes,
   * shared groups chosen cluster-wide, client ownership. Null in a single process, where the
   * publish path pays one null check for it.
   */
  cluster: AppCluster | null = null;
  /**
   * Lifecycle events (never per message): 'subscribe' (session, sub, replaced: boolean), 'unsubscribe' (session, sub),
   * 'session-end' (session), 'online' (session: a connection attached, identity set), 'offline'
   * (session: its connection is gone). Presence, hooks, the cluster mesh and tests listen here.
   */
  readonly events = new EventEmitter();

  constructor(private readonly opts: RouterOptions) {
    this.budget = opts.budget ?? new MemoryBudget(Number.MAX_SAFE_INTEGER);
    const now = opts.now;
    this.sweep = opts.sweep ?? new Sweep(now === undefined ? systemClock : { now, setTimer: systemClock.setTimer });
    const clock = this.sweep.clock;
    this.now = now ?? (() => clock.now()); // the system clock looks Date.now up per call, so tests can mock Date
    const external = opts.onDrop;
    this.dropListener = (session, msg, reason) => {
      this.stats.dropped++;
      this.stats.droppedByReason[reason]++;
      external?.(session, msg, reason);
    };
  }

  /**
   * SessionOwner: reserve `bytes` of what this application holds for clients (queued messages,
   * queue backlogs, retained messages, wills, subscriptions) against limits.maxStoredBytesPerApp
   * and the broker's budget. `force`: reserve anyway (restored or already accepted state).
   */
  charge(bytes: number, force = false): boolean {
    if (!force && this.storedBytes + bytes > this.opts.limits.maxStoredBytesPerApp) return false;
    this.storedBytes += bytes;
    this.budget.add(bytes);
    return true;
  }

  release(bytes: number): void {
    this.storedBytes -= bytes;
    this.budget.sub(bytes);
  }

  /** Persist into `stores` from now on (the application `app`). */
  useStores(app: string, stores: Stores): void {
    this.app = app;
    this.stores = stores;
    const journal = new StoreJournal(app, stores.sessions);
    this.journal = journal;
    // A shared store back from an outage: the sessions held here that it may have missed writes
    // of (or forgotten) are written again from memory.
    stores.shared?.onRecovered((recovered, storeLost) => {
      for (const r of recovered) {
        if (r.app !== app) continue;
        const s = this.sessions.get(r.clientId);
        if (s !== undefined && s.journal !== null) journal.rewrite(s, r.lost);
      }
      // Every node holds every retained message: each writes them again (the same values).
      if (storeLost) for (const m of this.retained.all()) if (!m.topic.startsWith('$SYS/')) stores.retained.putRetained(app, messageRecord(m));
    });
  }

  /**
   * Set how long a session outlives its connection: keeps the persistent-session count, and
   * gives a persistent session its journal (clean sessions never touch the store).
   */
  setExpiry(session: Session, seconds: number): void {
    const was = session.expiryInterval > 0;
    if (was !== seconds > 0) this.persistentSessions += seconds > 0 ? 1 : -1;
    session.expiryInterval = seconds;
    const j = this.journal;
    if (j === null) return;
    if (seconds > 0) {
      if (session.journal === null) {
        session.journal = j;
        j.snapshot(session);
      } else j.meta(session);
    } else if (session.journal !== null) {
      session.journal = null;
      j.ended(session);
    }
  }

  /**
   * May `msg` be stored as retained? Replacing or clearing is always allowed; a new topic
   * needs room under limits.maxRetained, and a publisher may hold limits.maxRetainedPerClient.
   */
  canRetain(msg: Message): boolean {
    if (!msg.retain || msg.payload.length === 0) return true;
    const limits = this.opts.limits;
    const prev = this.retained.get(msg.topic);
    if (prev === undefined && this.retained.size >= limits.maxRetained) return false;
    const size = messageSize(msg);
    const freed = prev === undefined ? 0 : messageSize(prev);
    if (this.storedBytes + size - freed > limits.maxStoredBytesPerApp) return false;
    const sender = senderIdOf(msg);
    if (sender === '') return true;
    const mine = this.retainedBy.get(sender);
    const replacesOwn = prev !== undefined && senderIdOf(prev) === sender;
    if (!replacesOwn && (mine?.count ?? 0) >= limits.maxRetainedPerClient) return false;
    return (mine?.bytes ?? 0) + size - (replacesOwn ? freed : 0) <= limits.maxRetainedBytesPerClient;
  }

  /** Store (or clear) a retained message, keeping the counts and the budget. */
  private storeRetained(msg: Message): void {
    // Client publishes are refused before routing when over the limits (Application.admitPublish);
    // what still arrives here past them (a will, a server-side publish) is routed but not stored.
    if (!this.canRetain(msg)) return;
    const prev = this.retained.get(msg.topic);
    if (prev !== undefined) {
      const size = messageSize(prev);
      this.release(size);
      this.countRetained(senderIdOf(prev), -1, size);
    }
    this.retained.set(msg);
    if (msg.payload.length > 0) {
      const size = messageSize(msg);
      this.charge(size, true);
      this.countRetained(senderIdOf(msg), 1, size);
    }
    // $SYS values are the broker's own, made again after a start: never written (no fsync per tick).
    if (this.stores !== null && !this.restoring && !msg.topic.startsWith('$SYS/')) this.stores.retained.putRetained(this.app, messageRecord(msg));
  }

  /** Set while state read from the stores is put back (nothing is written back). */
  private restoring = false;

  private countRetained(sender: string, d: number, bytes: number): void {
    if (sender === '') return;
    const e = this.retainedBy.get(sender);
    const count = (e?.count ?? 0) + d;
    if (count <= 0) this.retainedBy.delete(sender);
    else if (e === undefined) this.retainedBy.set(sender, { count, bytes });
    else {
      e.count = count;
      e.bytes += d * bytes;
    }
  }

  /** Report a drop decided outside a session (e.g. a link's slow-consumer policy). */
  reportDrop(session: Session | null, msg: Message, reason: DropReason): void {
    this.dropListener(session, msg, reason);
  }

  /**
   * Attach a link to the session for `clientId`. An existing live link is closed first
   * (takeover, [MQTT-3.1.4-3]). With `cleanStart` any previous session state is discarded
   * [MQTT-3.1.2-4]; otherwise it is resumed [MQTT-3.1.2-5].
   */
  attach(clientId: string, link: SessionLink, cleanStart: boolean): AttachResult {
    let session = this.sessions.get(clientId);
    if (session?.link) {
      const old = session.link;
      session.link = null;
      old.close('takeover');
    }
    let present = false;
    if (session && cleanStart) {
      this.destroy(session, false);
      session = undefined;
    }
    if (session) {
      present = true;
      session.clearTimers();
    } else {
      session = new Session(clientId, this.opts.limits, this.dropListener, this);
      this.sessions.set(clientId, session);
    }
    session.link = link;
    session.connectedAt = this.now();
    return { session, present };
  }

  /**
   * Cluster mode: another worker holds the client now (takeover), or holds it and keeps it
   * (`refused`: this connection was the duplicate). Close it here and end its session.
   */
  evict(clientId: string, reason: CloseReason): void {
    const session = this.sessions.get(clientId);
    if (!session) return;
    // A shared store keeps the session for the node that takes it: nothing is written from here on.
    const handOver = this.stores?.shared !== undefined && reason === 'takeover';
    if (handOver) session.journal = null;
    const old = session.link;
    if (old) {
      session.link = null;
      old.close(reason);
      this.events.emit('offline', session);
    }
    this.destroy(session, false, handOver);
  }

  /**
   * The link is gone. The session lives on for `session.expiryInterval` seconds
   * [MQTT-3.1.2-23], then its subscriptions and state are removed.
   */
  detach(session: Session, link: SessionLink): void {
    if (session.link !== link) return; // already taken over
    session.link = null;
    session.disconnectedAt = this.now();
    if (session.journal !== null) this.journal?.meta(session);
    this.events.emit('offline', session);
    const expiry = session.expiryInterval;
    if (expiry === 0) {
      this.destroy(session, true);
      return;
    }
    this.armExpiry(session, session.disconnectedAt + expiry * 1000);
  }

  /**
   * End the parked session `session` at `at` (ms since the epoch; 0xFFFFFFFF seconds: never). A
   * deadline in the sweep, not a setTimeout: any interval up to 0xFFFFFFFE seconds is kept.
   */
  private armExpiry(session: Session, at: number): void {
    session.expiryTimer?.cancel();
    session.expiryTimer = null;
    if (session.expiryInterval >= 0xffffffff) return; // never expires
    session.expiryTimer = this.sweep.at(at, this.expire, session);
  }

  /** A parked session's expiry is due [MQTT-3.1.2-23] (one object per router, not a closure per session). */
  private readonly expire: Due<Session> = {
    due: (session) => {
      session.expiryTimer = null;
      if (session.link === null && this.sessions.get(session.clientId) === session) this.destroy(session, true);
    },
  };

  /** A will's delay is over [MQTT-3.1.3-9]; a reconnect cancels the deadline (attach clears the session's timers). */
  private readonly willDue: Due<Session> = {
    due: (session) => {
      session.willTimer = null;
      const will = session.will;
      if (session.link === null && will !== null) {
        session.setWill(null);
        this.publishWill(session, will);
      }
    },
  };

  /**
   * End a session: drop its subscriptions and state; publish a pending will now [MQTT-3.1.3-9].
   * `handOver`: another node takes the session (shared store): its state stays in the store,
   * nothing of it is dead-lettered here.
   */
  destroy(session: Session, publishPendingWill: boolean, handOver = false): void {
    if (publishPendingWill && session.willTimer && session.will) {
      const w = session.will;
      session.setWill(null);
      this.publishWill(session, w);
    }
    session.clearTimers();
    this.setExpiry(session, 0);
    session.setWill(null);
    const subs = [...session.subscriptions.values()];
    session.subscriptions.clear();
    for (const sub of subs) {
      const sys = this.systemTopicFor(sub.filter);
      if (sys) sys.unsubscribe(session, sub);
      else this.trie.remove(session, sub.filter, sub.group);
      this.release(subscriptionSize(sub));
      this.events.emit('unsubscribe', session, sub);
    }
    // Unfinished deliveries: queue messages go back to their queue, the rest are dead letters.
    for (const d of session.drain()) {
      if (d.group !== null && this.trie.group(d.group.filter, d.group.name) === d.group) this.redeliver(d.group, d.msg, session, false);
      else if (!handOver) this.dropListener(session, d.msg, 'offline');
    }
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.events.emit('session-end', session);
  }

  /** Add or replace a subscription. */
  subscribe(session: Session, sub: Subscription<Session>): SubscribeResult {
    const sys = this.systemTopicFor(sub.filter);
    if (sys) {
      // Replacing: the owner forgets the previous one first (else each repeat would stay registered).
      const prev = session.subscriptions.get(sub.raw);
      if (prev !== undefined) sys.unsubscribe(session, prev);
      const existed = prev !== undefined;
      if (!existed) this.charge(subscriptionSize(sub), true);
      session.subscriptions.set(sub.raw, sub);
      sys.subscribe(session, sub);
      if (session.journal !== null) this.journal?.subscription(session, sub, true);
      this.events.emit('subscribe', session, sub, existed);
      return { existed };
    }
    const prev = this.trie.add(sub);
    if (prev === undefined) this.charge(subscriptionSize(sub), true);
    session.subscriptions.set(sub.raw, sub);
    if (session.journal !== null) this.journal?.subscription(session, sub, true);
    this.events.emit('subscribe', session, sub, prev !== undefined);
    if (sub.group !== null) {
      // A consumer attached to a queue: hand it what waited.
      const g = this.trie.group(sub.filter, sub.group);
      if (g && g.backlog.length > 0) this.drainBacklog(g);
    }
    return { existed: prev !== undefined };
  }

  unsubscribe(session: Session, raw: string): boolean {
    const sub = session.subscriptions.get(raw);
    if (!sub) return false;
    session.subscriptions.delete(raw);
    this.release(subscriptionSize(sub));
    if (session.journal !== null) this.journal?.subscription(session, sub, false);
    const sys = this.systemTopicFor(sub.filter);
    if (sys) sys.unsubscribe(session, sub);
    else this.trie.remove(session, sub.filter, sub.group);
    this.events.emit('unsubscribe', session, sub);
    return true;
  }

  /**
   * Route a message to every matching subscription; store it if retained.
   * Returns the number of sessions it was delivered or queued to (in cluster mode a node with
   * matching interest counts one). `intercept` = false skips the $-topic intercepts (used by
   * the intercepts themselves).
   */
  publish(msg: Message, intercept = true): number {
    const stats = this.stats;
    stats.messagesIn++;
    stats.messagesInByQos[msg.qos]++;
    stats.bytesIn += msg.payload.length;
    const t0 = this.onLatency !== null && (++this.latencyTick & (LATENCY_SAMPLE - 1)) === 0 ? performance.now() : 0;
    let n: number | null = null;
    if (intercept && this.systemPublish !== null && msg.topic.charCodeAt(0) === 0x24) n = this.systemPublish(msg);
    if (n === null) n = this.route(msg);
    if (t0 !== 0) this.sampleLatency(t0);
    return n;
  }

  /**
   * Publish-to-delivery latency, for one message in LATENCY_SAMPLE (metrics): from routing to
   * when its deliveries have been written to the subscribers' sockets. The connections flush
   * their coalesced writes in a setImmediate queued by the first write of this turn, so one
   * queued now runs after them. Null (the default): not even the sample counter moves.
   */
  onLatency: ((seconds: number) => void) | null = null;
  private latencyTick = 0;

  private sampleLatency(t0: number): void {
    const report = this.onLatency;
    setImmediate(() => report?.((performance.now() - t0) / 1000));
  }

  /**
   * Tell `o` of every message routed in the application on one of its filters, once it is
   * delivered (webhooks on message.published, http/webhooks.ts): clients' publishes, wills,
   * direct messages, server-side and the broker's own; not copies from other cluster nodes
   * (their node told its observers). Matched with the subscriptions and cached per topic.
   */
  observe(o: Observer): () => void {
    this.trie.observe(o);
    return () => this.trie.unobserve(o);
  }

  /** How many observers the router has (tests, stats). */
  get observers(): number {
    return this.trie.observing;
  }

  /**
   * Deliver `msg` to the subscribers (and keep it if retained): no counting, no `$` intercepts.
   * The intercepts route what they accept through here. In cluster mode the copies for other
   * nodes and the cluster-wide choice of shared-group receivers are made here too.
   */
  route(msg: Message): number {
    if (msg.retain) this.storeRetained(msg);
    const m: MatchResult<Session> = this.trie.match(msg.topic);
    const targets = m.targets;
    let n = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const s = t.subscriber;
      if (t.noLocal && msg.sender !== null && msg.sender.clientId === s.clientId) continue; // [MQTT-3.8.3-3]
      const qos: QoS = msg.qos < t.qos ? msg.qos : t.qos; // [MQTT-3.8.4-8]
      // Retain As Published = 0: the flag is cleared on normal deliveries [MQTT-3.3.1-12].
      s.deliver(msg, qos, t.retainAsPublished ? msg.retain : false, t.subscriptionIds, null);
      n++;
    }
    const groups = m.groups;
    if (this.cluster === null) {
      for (let i = 0; i < groups.length; i++) {
        if (this.deliverShared(groups[i]!, msg)) n++;
      }
      this.stats.messagesOut += n;
    } else {
      this.stats.messagesOut += n;
      n += this.cluster.route(msg, groups);
    }
    if (m.observers !== null) for (const o of m.observers) o.seen(msg, n);
    return n;
  }

  /**
   * Cluster mode: a copy published on another node. Kept if retained, delivered to the local
   * ordinary subscribers; never to shared groups (the publishing node chose their receivers)
   * and never given to the bus again.
   */
  routeFromBus(msg: Message): number {
    if (msg.retain) this.storeRetained(msg);
    const targets = this.trie.match(msg.topic).targets;
    let n = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const s = t.subscriber;
      if (t.noLocal && msg.sender !== null && msg.sender.clientId === s.clientId) continue; // [MQTT-3.8.3-3]
      const qos: QoS = msg.qos < t.qos ? msg.qos : t.qos; // [MQTT-3.8.4-8]
      s.deliver(msg, qos, t.retainAsPublished ? msg.retain : false, t.subscriptionIds, null);
      n++;
    }
    this.stats.messagesOut += n;
    return n;
  }

  /** Cluster mode: a retained message from another node's snapshot (kept, not delivered). */
  syncRetained(msg: Message): void {
    this.storeRetained(msg);
  }

  /**
   * One member of a shared group gets the message: round robin, online members first
   * [MQTT-4.8.2-3]. A queue (durable group) with no online member holds it in its backlog.
   * `exclude` skips the member that just gave the message back (NACK), if another exists.
   * Cluster mode: with no member online here, a node with members gets it, unless `local`
   * (the message was handed to this node by the bus: it stays here).
   */
  deliverShared(g: SharedGroup<Session>, msg: Message, exclude: Session | null = null, local = false): boolean {
    const members = g.members;
    const n = members.length;
    let pick: Subscription<Session> | undefined;
    let fallback: Subscription<Session> | undefined;
    for (let k = 0; k < n; k++) {
      const sub = members[(g.cursor + k) % n]!;
      if (sub.subscriber.link !== null) {
        if (sub.subscriber === exclude) {
          fallback ??= sub;
          continue;
        }
        pick = sub;
        g.cursor = (g.cursor + k + 1) % n;
        break;
      }
    }
    pick ??= fallback;
    if (!pick && !local && this.cluster !== null && this.cluster.reroute(g, msg)) return true;
    // A queue's message is in its store from now until acknowledged (queueDone).
    if (g.durable && this.stores !== null && !this.restoring && !this.queueIds.has(msg)) this.queueIds.set(msg, this.stores.queues.append(this.app, g.filter, g.name, messageRecord(msg)));
    if (!pick) {
      if (g.durable) return this.hold(g, msg);
      if (n === 0) return false;
      // Only offline members: queue in one of their sessions.
      pick = members[g.cursor % n]!;
      g.cursor = (g.cursor + 1) % n;
    }
    const qos: QoS = msg.qos < pick.qos ? msg.qos : pick.qos;
    pick.subscriber.deliver(msg, qos, pick.retainAsPublished ? msg.retain : false, pick.subscriptionId > 0 ? [pick.subscriptionId] : null, g);
    if (qos === 0 && g.durable) this.queueDone(msg); // no acknowledgement will come
    return true;
  }

  /** Keep a message in a queue's backlog until a consumer attaches; bounded like a session queue. */
  private hold(g: SharedGroup<Session>, msg: Message): boolean {
    if (g.backlog.length >= this.opts.limits.maxQueuedMessages || !this.charge(messageSize(msg))) {
      this.queueDone(msg);
      this.dropListener(null, msg, 'queue-full');
      return false;
    }
    g.backlog.push(msg);
    return true;
  }

  /** Hand a queue's backlog to its consumers (here, or in cluster mode on another node). */
  drainBacklog(g: SharedGroup<Session>): void {
    const now = this.now();
    while (g.backlog.length > 0 && (g.members.some((m) => m.subscriber.link !== null) || (this.cluster !== null && this.cluster.hasConsumers(g)))) {
      const msg = g.backlog.shift()!;
      this.release(messageSize(msg));
      if (msg.expiresAt !== 0 && msg.expiresAt <= now) {
        this.queueDone(msg);
        this.dropListener(null, msg, 'expired');
        continue;
      }
      this.deliverShared(g, msg);
    }
  }

  /** Declare the queue `name` (STOMP /queue/name; MQTT `$share/name/$queue/name`). */
  declareQueue(name: string): SharedGroup<Session> {
    return this.trie.declareGroup(`$queue/${name}`, name);
  }

  /**
   * A consumer gave a queued message back (NACK, or closed with it unacknowledged).
   * Counts the attempt; past `maxRedeliveries` the message goes to the dead letters.
   */
  redeliver(g: SharedGroup<Session>, msg: Message, from: Session | null, countAttempt: boolean): void {
    if (countAttempt) {
      const attempts = (this.attempts.get(msg) ?? 0) + 1;
      if (attempts >= (this.opts.maxRedeliveries ?? 5)) {
        this.queueDone(msg);
        this.dropListener(from, msg, 'nack-limit');
        return;
      }
      this.attempts.set(msg, attempts);
      const id = this.queueIds.get(msg);
      if (id !== undefined) this.stores?.queues.attempted(this.app, id, attempts);
    }
    this.deliverShared(g, msg, from);
  }

  /** SessionOwner: a queue's message is finished (acknowledged, dead-lettered, expired): out of its store. */
  queueDone(msg: Message): void {
    this.attempts.delete(msg);
    const id = this.queueIds.get(msg);
    if (id === undefined) return;
    this.queueIds.delete(msg);
    this.stores?.queues.remove(this.app, id);
  }

  /** Delivery attempts per queued message (weak: forgotten with the message). */
  private readonly attempts = new WeakMap<Message, number>();

  /** Retained messages for a new subscription, retain flag set [MQTT-3.3.1-8]; expired ones skipped. */
  retainedFor(filter: string): Message[] {
    const now = this.now();
    const out: Message[] = [];
    for (const m of this.retained.match(filter)) {
      if (m.expiresAt !== 0 && m.expiresAt <= now) continue;
      out.push(withRetain(m, true));
    }
    return out;
  }

  /** Publish a will now, or after its delay (cancelled if the client reconnects) [MQTT-3.1.3-9]. */
  scheduleWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    const delay = Math.min(will.delay, session.expiryInterval);
    if (delay <= 0 || session.expiryInterval === 0) {
      session.setWill(null);
      this.publishWill(session, will);
      return;
    }
    this.armWill(session, this.now() + delay * 1000);
  }

  /** Publish the session's will at `at` (ms since the epoch, any distance ahead), unless it reconnects first. */
  private armWill(session: Session, at: number): void {
    session.willTimer?.cancel();
    session.willTimer = this.sweep.at(at, this.willDue, session);
  }

  // ---- restore from the stores (at start) ------------------------------------------------

  /** Put back what the stores hold for this application: retained messages, queues, sessions. */
  async restore(): Promise<void> {
    const stores = this.stores;
    if (stores === null) return;
    this.restoring = true;
    try {
      for await (const r of stores.retained.retained(this.app)) this.storeRetained(fromRecord(r));
      for await (const q of stores.queues.queues(this.app)) this.restoreQueue(q.filter, q.name, q.messages);
      // Shared sessions (Redis) are taken one by one, when their client connects (adopt).
      if (stores.shared !== undefined) return;
      const sessions: SessionRecord[] = [];
      for await (const r of stores.sessions.sessions(this.app)) sessions.push(r);
      for (const r of sessions) this.restoreSession(r);
    } finally {
      this.restoring = false;
    }
  }

  /**
   * A session another node held (a shared store): it comes back here as after a restart, for
   * the client that is connecting (its attach follows at once).
   */
  adopt(r: SessionRecord): void {
    this.restoring = true;
    try {
      this.restoreSession(r);
    } finally {
      this.restoring = false;
    }
  }

  /** A dead node's queue backlog, taken over (a shared store): it joins this queue's, and goes to its consumers. */
  adoptQueue(filter: string, name: string, messages: readonly QueuedRecord[]): void {
    this.restoreQueue(filter, name, messages);
    const g = this.trie.group(filter, name);
    if (g !== undefined && g.backlog.length > 0) this.drainBacklog(g);
  }

  private restoreQueue(filter: string, name: string, messages: readonly QueuedRecord[]): void {
    const g = this.trie.declareGroup(filter, name);
    for (const m of messages) {
      const msg = fromRecord(m.msg);
      g.backlog.push(msg);
      this.charge(messageSize(msg), true);
      this.queueIds.set(msg, m.id);
      if (m.attempts > 0) this.attempts.set(msg, m.attempts);
    }
  }

  /**
   * A stored persistent session: its subscriptions, queue, in-flight deliveries, inbound ids and
   * will come back; its expiry and will delay count from when its connection ended (from now
   * when it was connected at the crash). A will whose delay passed while the broker was down is
   * published now; a session whose expiry passed ends now.
   */
  private toDelivery(d: DeliveryRecord): Delivery {
    const out: Delivery = { msg: fromRecord(d.msg), qos: d.qos, retain: d.retain, subscriptionIds: d.subscriptionIds, group: d.group === null ? null : (this.trie.group(d.group.filter, d.group.name) ?? null) };
    if (d.via !== undefined) out.via = d.via;
    return out;
  }

  /** SessionOwner: the next page of a session's stored queue (the oldest the store holds). */
  loadQueue(session: Session): void {
    const stores = this.stores;
    if (stores === null) {
      session.loaded([]);
      return;
    }
    stores.sessions.queuePage(this.app, session.clientId, 0, QUEUE_PAGE).then(
      (page) => {
        if (this.sessions.get(session.clientId) === session) session.loaded(page.map((d) => this.toDelivery(d)));
      },
      () => {
        if (this.sessions.get(session.clientId) === session) session.loaded([]);
      },
    );
  }

  private restoreSession(r: SessionRecord): void {
    const session = new Session(r.clientId, this.opts.limits, this.dropListener, this);
    const profile = PROFILES.find((p) => p === r.profile) ?? 'AGENT';
    const protocol = r.protocol === 'stomp' || r.protocol === 'mqttsn' ? r.protocol : 'mqtt';
    session.identity = { clientId: r.clientId, login: r.login, profile, app: this.app, protocol, transport: 'restored', remoteAddress: '' };
    session.protocol = protocol;
    session.expiryInterval = r.expiry;
    this.persistentSessions++;
    this.sessions.set(r.clientId, session);
    for (const s of r.subscriptions) {
      const sub: Subscription<Session> = { subscriber: session, ...s };
      const sys = this.systemTopicFor(sub.filter);
      if (sys) sys.subscribe(session, sub);
      else this.trie.add(sub);
      this.charge(subscriptionSize(sub), true);
      session.subscriptions.set(sub.raw, sub);
      this.events.emit('subscribe', session, sub, false);
    }
    const inflight: Array<[number, Inflight]> = r.inflight.map((e) => [e.id, { ...this.toDelivery(e.delivery), phase: e.phase }]);
    const will = r.will === null ? null : { msg: fromRecord(r.will.msg), delay: r.will.delay };
    session.restore(inflight, r.inbound, r.queued, will);
    session.journal = this.journal;
    const now = this.now();
    session.disconnectedAt = r.disconnectedAt === 0 ? now : r.disconnectedAt;
    this.journal?.meta(session);
    const expiresAt = r.expiry >= 0xffffffff ? Infinity : session.disconnectedAt + r.expiry * 1000;
    if (will !== null) {
      const willAt = session.disconnectedAt + Math.min(will.delay, r.expiry) * 1000;
      if (willAt <= now || expiresAt <= now) {
        session.setWill(null);
        this.restoring = false; // a will published now is a publish like any other
        this.publishWill(session, will);
        this.restoring = true;
      } else this.armWill(session, willAt);
    }
    if (expiresAt <= now) this.destroy(session, false);
    else this.armExpiry(session, expiresAt);
  }

  /** A will fires: authorised again now, as a publish by its client (rules may have been reloaded). */
  private publishWill(session: Session, will: WillMessage): void {
    const ok = this.authorizeWill === null ? true : this.authorizeWill(session, will.msg);
    if (ok === true) this.publish(will.msg);
    else if (ok instanceof Promise) ok.then((yes) => (yes ? this.publish(will.msg) : undefined), () => undefined);
  }

  systemTopicFor(filter: string): SystemTopic | undefined {
    if (filter.charCodeAt(0) !== 0x24 || this.systemTopics.size === 0) return undefined;
    const slash = filter.indexOf('/');
    return this.systemTopics.get(slash < 0 ? filter : filter.slice(0, slash + 1));
  }
}


/** What a subscription costs the budget: its filter and the trie entry and objects behind it. */
export function subscriptionSize(sub: Subscription<Session>): number {
  return 160 + sub.raw.length + sub.filter.length;
}
