/**
 * An application: one namespace with its own router (topics, sessions, retained), permissions,
 * monitoring, presence, dead letters and direct messages. Clients of one application never
 * see another's. With no application configured the broker runs one development application
 * that accepts any login.
 */
import type { ApplicationConfig, LimitsConfig } from '../config/types.js';
import type { Message } from './message.js';
import { Router } from './router.js';
import type { DropListener } from './session.js';
import { Permissions } from './permissions.js';
import { PROFILE_RANK } from './permissions.js';
import type { Principal, Profile } from './permissions.js';
import { Monitor } from './monitor.js';
import { Presence } from './presence.js';
import { DeadLetters } from './dead-letters.js';
import { Direct } from './direct.js';
import type { BrokerHooks, ClientInfo, MaybePromise } from './hooks.js';
import type { MemoryBudget } from './budget.js';
import type { Sweep } from './clock.js';
import type { Session, SessionLink, WillMessage } from './session.js';
import type { TopicLimits } from './topic.js';
import type { ErrorCode } from '../errors/catalogue.js';
import type { Durability, Stores } from '../stores/types.js';

export const DEV_APP_ID = 'default';

export interface ApplicationOptions {
  limits: LimitsConfig;
  maxRedeliveries: number;
  /** Extra drop observer (hooks, metrics). */
  onDrop?: DropListener;
  hooks?: BrokerHooks;
  /** The broker-wide memory budget (shared by every application). */
  budget?: MemoryBudget;
  /** Topic rules of the one topic space (length, levels, wildcard subscriptions). */
  topics?: TopicRules;
  /** Where sessions, retained messages, queues and dead letters are kept; absent = nowhere. */
  stores?: Stores;
  /** Whether an acknowledgement waits for the stores (default 'sync'). */
  durability?: Durability;
  /** The broker's clock and timers (core/clock.ts), shared by every application; default: the router's own. */
  sweep?: Sweep;
}

export interface TopicRules extends TopicLimits {
  wildcardSubscriptions: boolean;
}

const DEFAULT_TOPICS: TopicRules = { maxTopicLength: 4096, maxTopicLevels: 32, wildcardSubscriptions: true };

/** A refusal with its catalogue code and a detail for the log. */
export interface Refusal {
  code: ErrorCode;
  detail: string;
}

/** One acknowledgement in this many is timed for the store and bus latency metrics (a power of two). */
export const CONFIRM_SAMPLE = 64;

/** Times one awaited confirmation in CONFIRM_SAMPLE for `report`; with no report (the default), nothing is counted. */
export class ConfirmSampler {
  report: ((seconds: number) => void) | null = null;
  private tick = 0;

  time(confirmed: Promise<unknown>): void {
    const report = this.report;
    if (report === null || (++this.tick & (CONFIRM_SAMPLE - 1)) !== 0) return;
    const t0 = performance.now();
    confirmed.then(() => report((performance.now() - t0) / 1000), () => undefined);
  }
}

export class Application {
  readonly router: Router;
  readonly permissions: Permissions;
  readonly monitor: Monitor;
  readonly presence: Presence;
  readonly deadLetters: DeadLetters;
  readonly direct: Direct;
  readonly hooks: BrokerHooks;
  private readonly limits: LimitsConfig;
  readonly topics: TopicRules;
  stores: Stores | null;
  readonly durability: Durability;
  /** Bumped when permissions may have changed (reconfigure): clients' cached publish checks end. */
  policyVersion = 0;

  constructor(
    public config: ApplicationConfig | null,
    opts: ApplicationOptions,
  ) {
    let dl: DeadLetters | null = null;
    this.limits = opts.limits;
    this.topics = opts.topics ?? DEFAULT_TOPICS;
    this.stores = opts.stores ?? null;
    this.durability = opts.durability ?? 'sync';
    this.router = new Router({
      limits: opts.limits,
      ...(opts.budget ? { budget: opts.budget } : {}),
      ...(opts.sweep ? { sweep: opts.sweep } : {}),
      maxRedeliveries: opts.maxRedeliveries,
      onDrop: (s, m, r) => {
        dl?.onDrop(s, m, r);
        opts.onDrop?.(s, m, r);
      },
    });
    this.deadLetters = dl = new DeadLetters(this.router);
    this.permissions = new Permissions(config?.acl ?? [], config?.grants ?? {});
    this.monitor = new Monitor(this.router);
    this.presence = new Presence(this.router, config?.presenceTopics ?? []);
    this.direct = new Direct(this.router, (caller, reply) => (caller.identity ? this.authorizePublish(caller.identity, reply) : false));
    this.hooks = opts.hooks ?? {};
    // Wills are authorised again when they fire: permissions may have been reloaded since CONNECT.
    this.router.authorizeWill = (session, msg) => (session.identity ? this.authorizePublish(session.identity, msg) : false);
    if (this.stores !== null) this.useStores(this.stores);
  }

  /** Persist into `stores` from now on (at start, before `restore`). */
  useStores(stores: Stores): void {
    this.stores = stores;
    this.router.useStores(this.id, stores);
    this.deadLetters.store = { app: this.id, deadLetters: stores.deadLetters };
  }

  /** Put back what the stores hold (at start, before any client connects). */
  restore(): Promise<void> {
    return this.router.restore();
  }

  /**
   * Resolves when what was just written is durable, if an acknowledgement must wait for it
   * (durability 'sync' and writes pending); null when it need not wait (no promise, no delay).
   */
  durable(): Promise<void> | null {
    const s = this.stores;
    if (s === null || this.durability !== 'sync' || !s.dirty) return null;
    const p = s.flush();
    this.storeLatency.time(p);
    return p;
  }

  /**
   * How long acknowledgements wait (metrics): for the store to make a message durable
   * (durable()), for the nodes a message crossed to to confirm it (core/clients.ts).
   */
  readonly storeLatency = new ConfirmSampler();
  readonly busLatency = new ConfirmSampler();

  /**
   * May this client attach to the session of its client id now? A client id held by one profile
   * (online, or as a persistent session) is never taken over or resumed by another; a holder whose
   * profile says `reject` keeps its connection; a new persistent session needs room under
   * limits.maxPersistentSessions.
   */
  admit(info: ClientInfo, persistent: boolean): Refusal | null | 'replace' {
    const existing = this.router.sessions.get(info.clientId);
    // The holder: a local session (online or parked), else a claim of another cluster node
    // (online or parked there; core/bus.ts).
    const remote = existing === undefined ? this.router.cluster?.owner(info.clientId) : undefined;
    const holder = existing?.identity ?? remote;
    let replace = false;
    if (holder) {
      if (holder.profile !== info.profile) {
        // A higher profile takes its id back from a lower one (a squatter holding it to lock the
        // owner out or catch its messages): the lower one's session is discarded, never resumed;
        // a holder on another node is discarded there when this claim reaches it (core/bus.ts).
        if (PROFILE_RANK[info.profile] < PROFILE_RANK[holder.profile]) {
          return { code: 'SB_ERR_WRONG_PROFILE', detail: `client "${info.clientId}" is registered with another profile` };
        }
        replace = existing !== undefined;
      } else {
        const online = existing === undefined ? remote?.online !== false : existing.identity === null || existing.link !== null;
        if (online && this.duplicatePolicy(holder.profile) === 'reject') {
          return { code: 'SB_ERR_DUPLICATE_LOGIN', detail: `client "${info.clientId}" is already connected` };
        }
      }
    }
    const resumable = !replace && existing !== undefined && existing.expiryInterval > 0;
    // Backends (SERVICE, ADMIN) are not held back by sessions that AGENT keys parked.
    if (persistent && !resumable && PROFILE_RANK[info.profile] < PROFILE_RANK.SERVICE && this.router.persistentSessions >= this.limits.maxPersistentSessions) {
      return { code: 'SB_ERR_QUOTA', detail: `application "${this.id}" holds ${this.router.persistentSessions} persistent sessions (limits.maxPersistentSessions)` };
    }
    return replace ? 'replace' : null;
  }


  /**
   * Attach `link` to the session of `info.clientId` (after `admit`). A resumed session keeps
   * only the subscriptions the client may still hold: rules and grants may differ since.
   */
  attach(info: ClientInfo, link: SessionLink, cleanStart: boolean, expiry: number, will: WillMessage | null): { session: Session; present: boolean } {
    const r = this.router.attach(info.clientId, link, cleanStart);
    const session = r.session;
    session.identity = info;
    session.setWill(will);
    session.protocol = info.protocol;
    this.router.setExpiry(session, expiry);
    if (r.present) {
      for (const [raw, sub] of [...session.subscriptions.entries()]) {
        if (!this.canSubscribe(info, sub.filter, sub.group !== null)) this.router.unsubscribe(session, raw);
      }
    }
    this.router.events.emit('online', session);
    return r;
  }

  /**
   * Admission of an authorised publish: the broker's memory budget, and room for a new retained
   * message (limits.maxRetained, limits.maxRetainedPerClient). Null when it may be routed.
   */
  admitPublish(msg: Message): Refusal | null {
    // A store that cannot write (a full disk): nothing that may need storing is accepted, and
    // what does not (QoS 0) keeps flowing. It recovers by itself when a retried commit succeeds.
    if (msg.qos > 0 && this.stores !== null && this.stores.writeError !== null) {
      return { code: 'SB_ERR_QUOTA', detail: `the store cannot write: ${this.stores.writeError.message}` };
    }
    // Clearing a retained message frees memory: always let it through.
    if (this.router.budget.exceeded && !(msg.retain && msg.payload.length === 0)) return { code: 'SB_ERR_QUOTA', detail: 'the broker memory budget is spent (limits.memoryBudget)' };
    if (msg.retain && !this.router.canRetain(msg)) return { code: 'SB_ERR_QUOTA', detail: 'too many retained messages (limits.maxRetained / maxRetainedPerClient)' };
    return null;
  }

  get maxSubscriptionsPerClient(): number {
    return this.limits.maxSubscriptionsPerClient;
  }

  /** Room for one more subscription of `session` (limits.maxSubscriptionsPerClient); replacing one is always allowed. */
  canAddSubscription(session: Session, raw: string): boolean {
    return session.subscriptions.size < this.limits.maxSubscriptionsPerClient || session.subscriptions.has(raw);
  }

  /** The publish decision: the embedding hook if any, else the configured rules. */
  authorizePublish(client: ClientInfo, msg: Message): MaybePromise<boolean> {
    return this.canPublish(client, msg.topic) && this.publishHook(client, msg);
  }

  /** The embedder's say on a publish the rules allow (true without a hook); per message, never cached. */
  publishHook(client: ClientInfo, msg: Message): MaybePromise<boolean> {
    const hook = this.hooks.authorizePublish;
    return hook === undefined ? true : hook(client, msg);
  }

  authorizeSubscribe(client: ClientInfo, filter: string, shared: boolean): MaybePromise<boolean> {
    if (!this.canSubscribe(client, filter, shared)) return false;
    const hook = this.hooks.authorizeSubscribe;
    return hook === undefined ? true : hook(client, filter);
  }

  get id(): string {
    return this.config?.id ?? DEV_APP_ID;
  }

  /** Development mode: no keys, every login accepted, every action allowed. */
  get open(): boolean {
    return this.config === null;
  }

  /**
   * May `p` publish to `topic`? Broker-owned namespaces ($SYS, $monitor, $presence, $members,
   * $dlq) are never written by clients; $inbox and $request are open; the rest per rules.
   */
  canPublish(p: Principal, topic: string): boolean {
    if (topic.charCodeAt(0) === 0x24) {
      if (/^\$(SYS|monitor|presence|members|dlq)(\/|$)/.test(topic)) return false;
      if (topic === '$request/clients') return true;
    }
    return this.open || this.permissions.canPublish(p, topic);
  }

  /**
   * May `p` subscribe to `filter` (without $share/)? Monitoring needs SUPER_AGENT or more (who
   * may be watched is decided per copy, by rank); presence is open; `$members/<t>` follows `t`.
   */
  canSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    if (filter.charCodeAt(0) === 0x24) {
      if (filter.startsWith('$monitor/')) return !shared && (this.open || PROFILE_RANK[p.profile] >= PROFILE_RANK.SUPER_AGENT);
      if (filter.startsWith('$presence/')) return !shared;
      if (filter.startsWith('$members/')) return this.open || this.permissions.canSubscribe(p, filter.slice(9), false);
    }
    return this.open || this.permissions.canSubscribe(p, filter, shared);
  }

  duplicatePolicy(profile: Profile): 'takeover' | 'reject' {
    return this.config?.duplicateLogin[profile] ?? 'takeover';
  }

  /** Apply a reloaded configuration (SIGHUP): permissions and presence patterns change in place. */
  reconfigure(config: ApplicationConfig): void {
    this.policyVersion++;
    this.config = config;
    this.permissions.update(config.acl, config.grants);
    this.presence.setMemberPatterns(config.presenceTopics);
  }

  /** Publish on behalf of the broker or a backend (server-side action). */
  publish(msg: Message): number {
    return this.router.publish(msg);
  }
}
