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
import { Session } from './session.js';
import type { CloseReason, DropListener, DropReason, SessionLimits, SessionLink, SessionOwner, TapListener, WillMessage } from './session.js';
import type { Profile } from './permissions.js';
import type { MaybePromise } from './hooks.js';
import { MemoryBudget } from './budget.js';
import { TopicTrie } from './topic-trie.js';
import type { MatchResult, SharedGroup, Subscription } from './topic-trie.js';
import type { RetainedStore } from '../stores/types.js';
import { MemoryRetainedStore } from '../stores/memory/retained.js';

export interface RouterLimits extends SessionLimits {
  maxRetained: number;
  maxRetainedPerClient: number;
  maxQueuedBytesPerApp: number;
}

export interface RouterOptions {
  limits: RouterLimits;
  /** The broker-wide budget this router's queues and retained messages are charged to. */
  budget?: MemoryBudget;
  /** Deliveries of one message to a queue before it goes to the dead letters. */
  maxRedeliveries?: number;
  retained?: RetainedStore;
  /** Injected clock (ms since epoch). */
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
  messagesOut: number;
  bytesIn: number;
  dropped: number;
  droppedByReason: Record<DropReason, number>;
}

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
  readonly sessions = new Map<string, Session>();
  readonly trie = new TopicTrie<Session>();
  readonly retained: RetainedStore;
  readonly now: () => number;
  readonly stats: RouterStats = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    dropped: 0,
    droppedByReason: { 'queue-full': 0, expired: 0, 'slow-consumer': 0, offline: 0, 'no-subscribers': 0, 'nack-limit': 0, overload: 0 },
  };
  readonly budget: MemoryBudget;
  /** Bytes queued in this application's sessions and queue backlogs. */
  queuedBytes = 0;
  /** Sessions that outlive their connection (expiry > 0), online or not. */
  persistentSessions = 0;
  /** Retained messages per publisher client id (limits.maxRetainedPerClient). */
  private readonly retainedBy = new Map<string, number>();
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
   * Cluster mode: every publish made here (not one that came from a peer) is handed to the
   * other workers, which route it to their own sessions. Null in a single process.
   */
  forward: ((msg: Message, intercept: boolean) => void) | null = null;
  /**
   * Cluster mode: who holds `clientId` online on another worker (admission applies the same
   * profile and duplicate-login rules to it as to a local holder). Null in a single process.
   */
  remoteHolder: ((clientId: string) => { profile: Profile } | undefined) | null = null;
  /**
   * Lifecycle events (never per message): 'subscribe' (session, sub, replaced: boolean), 'unsubscribe' (session, sub),
   * 'session-end' (session), 'online' (session: a connection attached, identity set), 'offline'
   * (session: its connection is gone). Presence, hooks, the cluster mesh and tests listen here.
   */
  readonly events = new EventEmitter();

  constructor(private readonly opts: RouterOptions) {
    this.retained = opts.retained ?? new MemoryRetainedStore();
    this.budget = opts.budget ?? new MemoryBudget(Number.MAX_SAFE_INTEGER);
    this.now = opts.now ?? (() => Date.now()); // looked up per call, so tests can mock Date
    const external = opts.onDrop;
    this.dropListener = (session, msg, reason) => {
      this.stats.dropped++;
      this.stats.droppedByReason[reason]++;
      external?.(session, msg, reason);
    };
  }

  /** SessionOwner: reserve queue space against the application's and the broker's budget. */
  charge(bytes: number): boolean {
    if (this.queuedBytes + bytes > this.opts.limits.maxQueuedBytesPerApp) return false;
    this.queuedBytes += bytes;
    this.budget.add(bytes);
    return true;
  }

  release(bytes: number): void {
    this.queuedBytes -= bytes;
    this.budget.sub(bytes);
  }

  /** Set how long a session outlives its connection (keeps the persistent-session count). */
  setExpiry(session: Session, seconds: number): void {
    const was = session.expiryInterval > 0;
    if (was !== seconds > 0) this.persistentSessions += seconds > 0 ? 1 : -1;
    session.expiryInterval = seconds;
  }

  /**
   * May `msg` be stored as retained? Replacing or clearing is always allowed; a new topic
   * needs room under limits.maxRetained, and a publisher may hold limits.maxRetainedPerClient.
   */
  canRetain(msg: Message): boolean {
    if (!msg.retain || msg.payload.length === 0) return true;
    const prev = this.retained.get(msg.topic);
    if (prev === undefined && this.retained.size >= this.opts.limits.maxRetained) return false;
    const sender = senderIdOf(msg);
    if (sender !== '' && (prev === undefined || senderIdOf(prev) !== sender) && (this.retainedBy.get(sender) ?? 0) >= this.opts.limits.maxRetainedPerClient) return false;
    return true;
  }

  /** Store (or clear) a retained message, keeping the counts and the budget. */
  private storeRetained(msg: Message): void {
    // Client publishes are refused before routing when over the limits (Application.admitPublish);
    // what still arrives here past them (a will, a server-side publish) is routed but not stored.
    if (!this.canRetain(msg)) return;
    const prev = this.retained.get(msg.topic);
    if (prev !== undefined) {
      this.budget.sub(prev.payload.length);
      this.countRetained(senderIdOf(prev), -1);
    }
    this.retained.set(msg);
    if (msg.payload.length > 0) {
      this.budget.add(msg.payload.length);
      this.countRetained(senderIdOf(msg), 1);
    }
  }

  private countRetained(sender: string, d: number): void {
    if (sender === '') return;
    const n = (this.retainedBy.get(sender) ?? 0) + d;
    if (n <= 0) this.retainedBy.delete(sender);
    else this.retainedBy.set(sender, n);
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
    const old = session.link;
    if (old) {
      session.link = null;
      old.close(reason);
      this.events.emit('offline', session);
    }
    this.destroy(session, false);
  }

  /**
   * The link is gone. The session lives on for `session.expiryInterval` seconds
   * [MQTT-3.1.2-23], then its subscriptions and state are removed.
   */
  detach(session: Session, link: SessionLink): void {
    if (session.link !== link) return; // already taken over
    session.link = null;
    session.disconnectedAt = this.now();
    this.events.emit('offline', session);
    const expiry = session.expiryInterval;
    if (expiry === 0) {
      this.destroy(session, true);
      return;
    }
    if (expiry >= 0xffffffff) return; // never expires
    session.expiryTimer = setTimeout(() => {
      session.expiryTimer = null;
      if (session.link === null && this.sessions.get(session.clientId) === session) this.destroy(session, true);
    }, expiry * 1000);
    session.expiryTimer.unref?.();
  }

  /** End a session: drop its subscriptions and state; publish a pending will now [MQTT-3.1.3-9]. */
  destroy(session: Session, publishPendingWill: boolean): void {
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
      this.events.emit('unsubscribe', session, sub);
    }
    // Unfinished deliveries: queue messages go back to their queue, the rest are dead letters.
    for (const d of session.drain()) {
      if (d.group !== null && this.trie.group(d.group.filter, d.group.name) === d.group) this.redeliver(d.group, d.msg, session, false);
      else this.dropListener(session, d.msg, 'offline');
    }
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.events.emit('session-end', session);
  }

  /** Add or replace a subscription. */
  subscribe(session: Session, sub: Subscription<Session>): SubscribeResult {
    const sys = this.systemTopicFor(sub.filter);
    if (sys) {
      const existed = session.subscriptions.has(sub.raw);
      session.subscriptions.set(sub.raw, sub);
      sys.subscribe(session, sub);
      this.events.emit('subscribe', session, sub, existed);
      return { existed };
    }
    const prev = this.trie.add(sub);
    session.subscriptions.set(sub.raw, sub);
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
    const sys = this.systemTopicFor(sub.filter);
    if (sys) sys.unsubscribe(session, sub);
    else this.trie.remove(session, sub.filter, sub.group);
    this.events.emit('unsubscribe', session, sub);
    return true;
  }

  /**
   * Route a message to every matching subscription; store it if retained.
   * Returns the number of sessions it was delivered or queued to. `intercept` = false skips
   * the $-topic intercepts (used by the intercepts themselves). `fromPeer`: routed here by
   * another cluster worker (not forwarded again).
   */
  publish(msg: Message, intercept = true, fromPeer = false): number {
    if (this.forward !== null && !fromPeer) this.forward(msg, intercept);
    this.stats.messagesIn++;
    this.stats.bytesIn += msg.payload.length;
    if (intercept && this.systemPublish !== null && msg.topic.charCodeAt(0) === 0x24) {
      const n = this.systemPublish(msg);
      if (n !== null) return n;
    }
    return this.route(msg);
  }

  /**
   * Deliver `msg` to the local subscribers (and keep it if retained): no counting, no `$`
   * intercepts, no forwarding. The intercepts route what they accept through here.
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
    for (let i = 0; i < groups.length; i++) {
      if (this.deliverShared(groups[i]!, msg)) n++;
    }
    this.stats.messagesOut += n;
    return n;
  }

  /**
   * One member of a shared group gets the message: round robin, online members first
   * [MQTT-4.8.2-3]. A queue (durable group) with no online member holds it in its backlog.
   * `exclude` skips the member that just gave the message back (NACK), if another exists.
   */
  deliverShared(g: SharedGroup<Session>, msg: Message, exclude: Session | null = null): boolean {
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
    if (!pick) {
      if (g.durable) return this.hold(g, msg);
      if (n === 0) return false;
      // Only offline members: queue in one of their sessions.
      pick = members[g.cursor % n]!;
      g.cursor = (g.cursor + 1) % n;
    }
    const qos: QoS = msg.qos < pick.qos ? msg.qos : pick.qos;
    pick.subscriber.deliver(msg, qos, pick.retainAsPublished ? msg.retain : false, pick.subscriptionId > 0 ? [pick.subscriptionId] : null, g);
    return true;
  }

  /** Keep a message in a queue's backlog until a consumer attaches; bounded like a session queue. */
  private hold(g: SharedGroup<Session>, msg: Message): boolean {
    if (g.backlog.length >= this.opts.limits.maxQueuedMessages || !this.charge(msg.payload.length)) {
      this.dropListener(null, msg, 'queue-full');
      return false;
    }
    g.backlog.push(msg);
    return true;
  }

  private drainBacklog(g: SharedGroup<Session>): void {
    const now = this.now();
    while (g.backlog.length > 0 && g.members.some((m) => m.subscriber.link !== null)) {
      const msg = g.backlog.shift()!;
      this.release(msg.payload.length);
      if (msg.expiresAt !== 0 && msg.expiresAt <= now) {
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
        this.attempts.delete(msg);
        this.dropListener(from, msg, 'nack-limit');
        return;
      }
      this.attempts.set(msg, attempts);
    }
    this.deliverShared(g, msg, from);
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
    session.willTimer = setTimeout(() => {
      session.willTimer = null;
      if (session.link === null && session.will === will) {
        session.setWill(null);
        this.publishWill(session, will);
      }
    }, delay * 1000);
    session.willTimer.unref?.();
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
