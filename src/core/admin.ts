/**
 * The admin facade: one read model and one set of actions over an application
 * (`ApplicationAdmin`) and over the broker's applications (`BrokerAdmin`). createBroker's
 * server-side actions are thin wrappers over it; the HTTP API and the web console are meant to
 * be too. It works through core objects only (the router, sessions through their methods, the
 * client port's rules for a message entering the broker), never through protocol code.
 *
 * Privileged: no permission rule and no embedding hook is consulted, the caller is the operator
 * or the embedding backend (whoever exposes this over a network authenticates its own callers).
 * What still applies is what protects the broker and its clients:
 *
 *   publish      a valid topic name under the application's topic rules and no control
 *                character in it (nor in the response topic or `from`), never a broker-owned
 *                topic ($SYS, $monitor, $presence, $members, $dlq: what even an ADMIN client may
 *                not write), and admission: the broker's memory budget and the retained-message
 *                limits. A refusal is counted (`overload`) like a client's, and answered. Header
 *                values pass the protocols' output filters, as every message's do.
 *   subscribe    a valid filter, the wildcard setting, limits.maxSubscriptionsPerClient; only an
 *                existing session (online, or a parked persistent one) can be given one.
 *   deleting a retained message, kicking, replaying dead letters: always through the router.
 *
 * Reads return plain data (copies, never live sessions). Listings are paged: `{ items, next,
 * total }`, at most 1,000 items per page, walking the live collections without copying them;
 * `next` is an opaque cursor (the position and the key of the last item seen, re-checked on
 * the next call, so a collection that changed in between resumes after that item, not at a
 * shifted offset; if that item itself is gone, at its old position). Order: the collection's own (clients in the order their sessions were
 * created; dead letters newest first). A malformed cursor, limit or filter in a listing throws
 * an AdminError ('invalid'); actions answer with `{ ok: true, ... }` or an AdminFailure.
 */
import { isUtf8 } from 'node:buffer';
import type { Application } from './application.js';
import type { DeadLetter, DeadLetters } from './dead-letters.js';
import { isPortableString } from './headers.js';
import { createMessage, senderIdOf } from './message.js';
import type { Message, MessageMeta, QoS, Sender } from './message.js';
import type { Principal, Profile } from './permissions.js';
import type { PresenceState } from './presence.js';
import type { RouterStats } from './router.js';
import type { DropReason, Session } from './session.js';
import type { SharedGroup, Subscription } from './topic-trie.js';
import { filterMatches, hasWildcard, isValidTopicFilter, isValidTopicName, parseFilter } from './topic.js';

// ---- results ---------------------------------------------------------------------------------

/**
 * Why an action was not done. 'unknown-client': no session has that client id (it never
 * connected, or its session ended); 'not-connected': it has a session but no connection;
 * 'not-found': no such item; 'invalid': a malformed topic, filter or option; 'forbidden': a
 * broker-owned topic; 'quota': a limit or the memory budget; 'unsupported': not possible for
 * this client or with this configuration.
 */
export type AdminFailureReason = 'unknown-client' | 'not-connected' | 'not-found' | 'invalid' | 'forbidden' | 'quota' | 'unsupported';

export interface AdminFailure {
  ok: false;
  reason: AdminFailureReason;
  detail: string;
}

export type AdminResult<T extends object = Record<never, never>> = ({ ok: true } & T) | AdminFailure;

/** The HTTP status for each failure (for the HTTP API). */
export const ADMIN_FAILURE_STATUS: Readonly<Record<AdminFailureReason, number>> = {
  'unknown-client': 404,
  'not-connected': 409,
  'not-found': 404,
  invalid: 400,
  forbidden: 403,
  quota: 429,
  unsupported: 422,
};

/** Thrown by listings for a malformed query, and by createBroker's wrappers for a refused publish. */
export class AdminError extends Error {
  readonly reason: AdminFailureReason;
  constructor(failure: Pick<AdminFailure, 'reason' | 'detail'>) {
    super(failure.detail);
    this.name = 'AdminError';
    this.reason = failure.reason;
  }
}

function fail(reason: AdminFailureReason, detail: string): AdminFailure {
  return { ok: false, reason, detail };
}

// ---- paging ----------------------------------------------------------------------------------

export interface PageRequest {
  /** At most this many items (default 100, at most 1,000). */
  limit?: number;
  /** The `next` of the previous page; absent or null: from the start. */
  cursor?: string | null;
}

export interface Page<T> {
  items: T[];
  /** The cursor of the following page; null when there is none. */
  next: string | null;
  /**
   * Entries in the whole collection, before any filter (counting the matching ones would take a
   * full scan); null when even that is unknown without one (topics).
   */
  total: number | null;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new AdminError({ reason: 'invalid', detail: 'limit must be a positive integer' });
  return Math.min(limit, MAX_PAGE);
}

interface Cursor {
  /** Items of the collection consumed so far. */
  pos: number;
  /** The key of the last one. */
  key: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.pos, c.key])).toString('base64url');
}

function decodeCursor(s: string | null | undefined): Cursor | null {
  if (s === undefined || s === null || s === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    v = null;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || (v[0] as number) < 1 || typeof v[1] !== 'string') {
    throw new AdminError({ reason: 'invalid', detail: 'invalid cursor' });
  }
  return { pos: v[0] as number, key: v[1] };
}

/**
 * One page of a live collection. `view` maps an entry to its item, or null when the filter
 * rejects it. Cost: the entries up to the cursor are stepped over (no copies), then those of the
 * page; when the entry before the cursor is no longer where it was, it is looked up by key.
 */
function scan<T, R>(source: () => Iterator<T>, keyOf: (t: T) => string, view: (t: T) => R | null, req: PageRequest, total: number | null): Page<R> {
  const limit = pageLimit(req.limit);
  const cursor = decodeCursor(req.cursor);
  let it = source();
  let pos = 0;
  if (cursor !== null) {
    let at: { v: T } | null = null;
    while (pos < cursor.pos) {
      const r = it.next();
      if (r.done === true) break;
      pos++;
      if (pos === cursor.pos) at = { v: r.value };
    }
    if (at === null || keyOf(at.v) !== cursor.key) {
      // The collection changed before the cursor: resume after the same entry if it is still there.
      const again = source();
      let p = 0;
      for (let r = again.next(); r.done !== true; r = again.next()) {
        p++;
        if (keyOf(r.value) === cursor.key) {
          it = again;
          pos = p;
          break;
        }
      }
    }
  }
  const items: R[] = [];
  let lastKey = '';
  while (items.length < limit) {
    const r = it.next();
    if (r.done === true) return { items, next: null, total };
    pos++;
    lastKey = keyOf(r.value);
    const v = view(r.value);
    if (v !== null) items.push(v);
  }
  return { items, next: it.next().done === true ? null : encodeCursor({ pos, key: lastKey }), total };
}

// ---- read model: clients -----------------------------------------------------------------------

/** One shape for a client in every listing. Times are ms since the epoch. */
export interface ClientSummary {
  clientId: string;
  app: string;
  online: boolean;
  profile: Profile;
  /** The login it connected with; null for a session whose client has not connected since it was restored. */
  login: string | null;
  protocol: 'mqtt' | 'stomp' | 'mqttsn';
  /** 'tcp', 'tls', 'ws', 'wss' (of its last connection), or null when unknown. */
  transport: string | null;
  remoteAddress: string | null;
  /** When its last connection was made. */
  connectedAt: number | null;
  /** When its last connection ended; null while connected. */
  disconnectedAt: number | null;
  /** When it went online or offline (connectedAt or disconnectedAt). */
  since: number | null;
  /** The session outlives its connection (expiry > 0). */
  persistent: boolean;
  /** How many subscriptions it holds (the list: getClient). */
  subscriptions: number;
  /** Deliveries waiting in its session queue. */
  queued: number;
  /** Deliveries sent and not yet acknowledged. */
  inflight: number;
  /** Deliveries dropped because its queue was full. */
  dropped: number;
}

export interface ClientFilter {
  online?: boolean;
  /** Sessions that outlive their connection (expiry > 0), or those that do not. */
  persistent?: boolean;
  profile?: Profile;
  protocol?: 'mqtt' | 'stomp' | 'mqttsn';
  transport?: string;
  /** Client ids starting with this. */
  prefix?: string;
  login?: string;
  remoteAddress?: string;
}

export interface ClientQuery extends ClientFilter, PageRequest {}

export interface SubscriptionInfo {
  /** As subscribed, with any "$share/GROUP/" prefix (the subscription's key). */
  filter: string;
  /** The filter topics are matched with. */
  topicFilter: string;
  /** Shared group or queue name, or null. */
  group: string | null;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier; 0 = none. */
  subscriptionId: number;
}

export interface WillInfo {
  topic: string;
  qos: QoS;
  retain: boolean;
  /** Seconds it waits after the connection ends. */
  delay: number;
  bytes: number;
}

export interface SessionDetails {
  /** Seconds the session outlives its connection; 0 = ends with it; 4294967295 = never expires. */
  expiryInterval: number;
  /** When a parked session ends (ms); null while connected, or when it never expires. */
  expiresAt: number | null;
  subscriptions: SubscriptionInfo[];
  queued: number;
  queuedBytes: number;
  inflight: number;
  /** MQTT QoS 2 messages received and not yet released. */
  inbound: number;
  will: WillInfo | null;
}

export interface ClientDetails extends ClientSummary {
  session: SessionDetails;
  /** When the credentials it logged in with expire (JWT `exp`, ms); null when they do not. */
  credentialsExpireAt: number | null;
  /** Someone monitors it ($monitor). */
  monitored: boolean;
}

// ---- read model: subscriptions, topics, retained, queues, dead letters, stats ------------------

export interface SubscriptionEntry extends SubscriptionInfo {
  clientId: string;
  online: boolean;
}

export interface SubscriptionQuery extends PageRequest {
  /** Only this client's subscriptions. */
  clientId?: string;
  /** Only subscriptions as subscribed exactly so (with any $share prefix). */
  filter?: string;
  /** Only subscriptions that would receive a message on this topic. */
  topic?: string;
}

/** A filter in the subscription trie and how many sessions hold it. */
export interface TopicEntry {
  topicFilter: string;
  group: string | null;
  subscribers: number;
}

export interface TopicQuery extends PageRequest {
  /** Only filters starting with this. */
  prefix?: string;
}

export interface RetainedSummary {
  topic: string;
  bytes: number;
  qos: QoS;
  /** The publishing client, or null for the broker / a server-side publish without `from`. */
  from: string | null;
  contentType: string | null;
  /** When it expires (ms), or null. */
  expiresAt: number | null;
}

export interface RetainedMessage extends RetainedSummary {
  payload: Buffer;
  meta: MessageMeta | null;
}

export interface RetainedQuery extends PageRequest {
  /** Topic filter (default '#': every topic not starting with '$'; '$SYS/#' and the like name those). */
  filter?: string;
}

export interface QueueInfo {
  /** The group name (a STOMP queue's name). */
  name: string;
  /** The filter its members share ($queue/<name> for a queue). */
  topicFilter: string;
  /** 'queue': durable, exists without consumers and holds messages for them; 'shared': an MQTT shared subscription. */
  kind: 'queue' | 'shared';
  consumers: number;
  /** Consumers connected now. */
  online: number;
  /** Messages waiting for a consumer. */
  depth: number;
  depthBytes: number;
}

export interface QueueMember {
  clientId: string;
  online: boolean;
  qos: QoS;
}

export interface QueueDetails extends QueueInfo {
  members: QueueMember[];
}

export interface QueueQuery extends PageRequest {
  kind?: 'queue' | 'shared';
  /** Only groups whose name starts with this. */
  prefix?: string;
}

export interface DeadLetterFilter {
  reason?: DropReason;
  /** Topic filter on the original topic. */
  topic?: string;
  /** The intended receiver. */
  to?: string;
  /** The publisher ('' = the broker). */
  from?: string;
}

export interface DeadLetterQuery extends DeadLetterFilter, PageRequest {}

export interface DeadLetterSummary {
  /** Increasing in the order letters arrived (the application's dead-letter count when it arrived). */
  id: number;
  reason: string;
  /** The original topic. */
  topic: string;
  from: string | null;
  to: string | null;
  /** When it was dead-lettered (ms). */
  time: number;
  qos: QoS;
  bytes: number;
}

export interface DeadLetterDetails extends DeadLetterSummary {
  payload: Buffer;
  meta: MessageMeta | null;
}

/** Which dead letters an action takes: every one matching the filter (and, with `ids`, only those). */
export interface DeadLetterSelection extends DeadLetterFilter {
  ids?: readonly number[];
}

export interface ReplayOptions extends DeadLetterSelection {
  /** Publish to this topic instead of each letter's original topic. */
  targetTopic?: string;
  /** Keep the replayed letters in the list (default: a replayed letter is removed). */
  keep?: boolean;
}

export interface ReplayFailure {
  id: number;
  reason: AdminFailureReason;
  detail: string;
}

export interface AppStats {
  app: string;
  clients: { sessions: number; online: number; persistent: number };
  /** Subscriptions in the trie ($monitor and $presence ones are kept apart and not counted). */
  subscriptions: number;
  retained: number;
  /** Bytes it holds for clients: queues, backlogs, retained, wills, subscriptions (limits.maxStoredBytesPerApp). */
  storedBytes: number;
  messages: RouterStats;
  deadLetters: { total: number; kept: number };
}

export interface BudgetStats {
  /** Bytes of queued, backlogged and retained message data, broker-wide (limits.memoryBudget). */
  used: number;
  limit: number;
  exceeded: boolean;
}

export interface BrokerStats {
  applications: AppStats[];
  budget: BudgetStats;
  /** Open network connections (every protocol, including those not logged in yet); null when not known. */
  connections: number | null;
}

// ---- actions ---------------------------------------------------------------------------------

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
  /** 1: the payload is UTF-8 text (checked). */
  payloadFormatIndicator?: 0 | 1;
  /** Seconds until it expires (while queued); absent or 0: never. */
  expiryInterval?: number;
  /** Shown to receivers as the sender ('from'), as a SERVICE of this application; default '' (the broker). */
  from?: string;
}

export type PublishResult = AdminResult<{ deliveries: number }>;

export type DirectOptions = Omit<PublishOptions, 'retain'> & {
  /** Levels below the inbox: `$inbox/<to>/<subtopic>`. */
  subtopic?: string;
};

/** 'delivered': to its connection; 'queued': in its parked session; 'dead-lettered': nobody received it. */
export type DirectResult = AdminResult<{ deliveries: number; outcome: 'delivered' | 'queued' | 'dead-lettered' }>;

export interface SubscribeOptions {
  /** Default 1. */
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  /** 0 (default): the matching retained messages are delivered; 1: only for a new subscription; 2: never. */
  retainHandling?: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier (1..268435455); 0 or absent: none. */
  subscriptionId?: number;
}

/** `existed`: it replaced a subscription to the same filter; `retained`: retained messages delivered for it. */
export type SubscribeResult = AdminResult<{ existed: boolean; retained: number }>;

export interface KickOptions {
  /** Also end its session (subscriptions, queue) instead of leaving a persistent one parked. */
  discardSession?: boolean;
  /** Publish its will as for any connection the broker closes (default true). */
  publishWill?: boolean;
}

export type KickResult = AdminResult<{ disconnected: boolean; sessionEnded: boolean }>;

export interface ReloadResult {
  /** Applications whose permissions, grants, keys and presence topics were replaced. */
  updated: string[];
  /** Applications of the new configuration not running here: they need a restart. */
  ignored: string[];
  /** Running applications the new configuration no longer has: kept until a restart. */
  kept: string[];
}

/** The configuration of one application (as the Application holds it). */
type AppConfig = NonNullable<Application['config']>;

/** The principal server-side publishes are checked as: ADMIN, which may write anything but broker-owned topics. */
const OPERATOR: Principal = { clientId: '', login: '', profile: 'ADMIN' };

const MAX_SUBSCRIPTION_ID = 268_435_455;

// ---- one application ---------------------------------------------------------------------------

export class ApplicationAdmin {
  constructor(readonly application: Application) {}

  get id(): string {
    return this.application.id;
  }

  // ---- clients -------------------------------------------------------------------------------

  listClients(q: ClientQuery = {}): Page<ClientSummary> {
    const sessions = this.application.router.sessions;
    return scan(() => sessions.values(), (s) => s.clientId, (s) => (clientMatches(s, q) ? this.summary(s) : null), q, sessions.size);
  }

  /** Every matching client, lazily (exports; createBroker's listClients). */
  *clients(filter: ClientFilter = {}): Generator<ClientSummary> {
    for (const s of this.application.router.sessions.values()) if (clientMatches(s, filter)) yield this.summary(s);
  }

  getClient(clientId: string): ClientDetails | null {
    const s = this.application.router.sessions.get(clientId);
    if (s === undefined) return null;
    const will = s.will;
    const expiry = s.expiryInterval;
    return {
      ...this.summary(s),
      session: {
        expiryInterval: expiry,
        expiresAt: s.link === null && expiry > 0 && expiry < 0xffffffff && s.disconnectedAt > 0 ? s.disconnectedAt + expiry * 1000 : null,
        subscriptions: [...s.subscriptions.values()].map(subscriptionInfo),
        queued: s.queued,
        queuedBytes: s.queuedBytes,
        inflight: s.inflightCount,
        inbound: s.inboundCount,
        will: will === null ? null : { topic: will.msg.topic, qos: will.msg.qos, retain: will.msg.retain, delay: will.delay, bytes: will.msg.payload.length },
      },
      credentialsExpireAt: s.identity?.expiresAt ?? null,
      monitored: s.monitored,
    };
  }

  private summary(s: Session): ClientSummary {
    return clientSummary(this.application.id, s);
  }


  // ---- subscriptions and topics --------------------------------------------------------------

  listSubscriptions(q: SubscriptionQuery = {}): Page<SubscriptionEntry> {
    const router = this.application.router;
    if (q.topic !== undefined && !isValidTopicName(q.topic)) throw new AdminError({ reason: 'invalid', detail: `invalid topic "${q.topic}"` });
    const only = q.clientId === undefined ? null : router.sessions.get(q.clientId);
    if (only === undefined) return { items: [], next: null, total: 0 };
    const source = function* (): Generator<Subscription<Session>> {
      if (only !== null) yield* only.subscriptions.values();
      else for (const s of router.sessions.values()) yield* s.subscriptions.values();
    };
    const view = (sub: Subscription<Session>): SubscriptionEntry | null => {
      if (q.filter !== undefined && sub.raw !== q.filter) return null;
      if (q.topic !== undefined && !filterMatches(sub.filter, q.topic)) return null;
      return { clientId: sub.subscriber.clientId, online: sub.subscriber.link !== null, ...subscriptionInfo(sub) };
    };
    const total = only !== null ? only.subscriptions.size : null;
    return scan(source, (sub) => `${sub.subscriber.clientId}\u0000${sub.raw}`, view, q, total);
  }

  /** The filters of the subscription trie with their subscriber counts ($monitor and $presence are kept apart and not listed). */
  listTopics(q: TopicQuery = {}): Page<TopicEntry> {
    const trie = this.application.router.trie;
    const prefix = q.prefix;
    const entries = function* (): Generator<TopicEntry> {
      // The trie yields a node's subscriptions together, and a group's members together.
      let cur: TopicEntry | null = null;
      for (const sub of trie.all()) {
        if (cur !== null && cur.topicFilter === sub.filter && cur.group === sub.group) {
          cur.subscribers++;
          continue;
        }
        if (cur !== null) yield cur;
        cur = { topicFilter: sub.filter, group: sub.group, subscribers: 1 };
      }
      if (cur !== null) yield cur;
    };
    const view = (e: TopicEntry): TopicEntry | null => (prefix === undefined || e.topicFilter.startsWith(prefix) ? e : null);
    return scan(entries, (e) => `${e.group ?? ''}\u0000${e.topicFilter}`, view, q, null);
  }

  // ---- retained ------------------------------------------------------------------------------

  /**
   * Retained messages matching a filter, as a new subscriber would get them (expired ones left
   * out). The retained index answers a filter with the list of its matches (references, not
   * copies); the page is cut from it.
   */
  listRetained(q: RetainedQuery = {}): Page<RetainedSummary> {
    const filter = q.filter ?? '#';
    if (!isValidTopicFilter(filter) || parseFilter(filter)?.group !== null) throw new AdminError({ reason: 'invalid', detail: `invalid topic filter "${filter}"` });
    const router = this.application.router;
    const now = router.now();
    const source = (): Iterator<Message> => router.retained.match(filter)[Symbol.iterator]();
    return scan(source, (m) => m.topic, (m) => (isExpired(m, now) ? null : retainedSummary(m)), q, router.retained.size);
  }

  getRetained(topic: string): RetainedMessage | null {
    const router = this.application.router;
    const m = router.retained.get(topic);
    if (m === undefined || isExpired(m, router.now())) return null;
    return { ...retainedSummary(m), payload: m.payload, meta: m.meta };
  }

  /**
   * Clear the retained message of `topic`. As when a client clears one, an empty retained
   * message is routed: subscribers of the topic receive it, and cluster workers clear theirs.
   */
  deleteRetained(topic: string): AdminResult<{ existed: boolean }> {
    if (!isValidTopicName(topic) || !isPortableString(topic)) return fail('invalid', `invalid topic "${topic}"`);
    const router = this.application.router;
    const existed = router.retained.get(topic) !== undefined;
    if (existed) router.publish(createMessage(topic, Buffer.alloc(0), 0, true, null, 0, null), false);
    return { ok: true, existed };
  }

  // ---- queues and shared groups -------------------------------------------------------------

  listQueues(q: QueueQuery = {}): Page<QueueInfo> {
    const trie = this.application.router.trie;
    const view = (g: SharedGroup<Session>): QueueInfo | null => {
      if (q.kind !== undefined && (q.kind === 'queue') !== g.durable) return null;
      if (q.prefix !== undefined && !g.name.startsWith(q.prefix)) return null;
      return queueInfo(g);
    };
    return scan(() => trie.groups(), (g) => `${g.name}\u0000${g.filter}`, view, q, null);
  }

  /** A queue (`topicFilter` default `$queue/<name>`) or shared group, with its members. */
  getQueue(name: string, topicFilter = `$queue/${name}`): QueueDetails | null {
    const g = this.application.router.trie.group(topicFilter, name);
    if (g === undefined) return null;
    return { ...queueInfo(g), members: g.members.map((m) => ({ clientId: m.subscriber.clientId, online: m.subscriber.link !== null, qos: m.qos })) };
  }

  // ---- dead letters --------------------------------------------------------------------------

  /** The dead letters kept in memory (the last 1,000), newest first. */
  listDeadLetters(q: DeadLetterQuery = {}): Page<DeadLetterSummary> {
    const limit = pageLimit(q.limit);
    let before = Number.MAX_SAFE_INTEGER;
    if (q.cursor !== undefined && q.cursor !== null && q.cursor !== '') {
      before = Number(q.cursor);
      if (!Number.isSafeInteger(before) || before < 1) throw new AdminError({ reason: 'invalid', detail: 'invalid cursor' });
    }
    const match = this.letterFilter(q);
    const all = numbered(this.application.deadLetters);
    const items: DeadLetterSummary[] = [];
    let i = all.length - 1;
    for (; i >= 0 && items.length < limit; i--) {
      const [id, l] = all[i]!;
      if (id < before && match(l)) items.push(letterSummary(id, l));
    }
    const last = items[items.length - 1];
    return { items, next: i >= 0 && last !== undefined && items.length === limit ? String(last.id) : null, total: all.length };
  }

  getDeadLetter(id: number): DeadLetterDetails | null {
    const hit = numbered(this.application.deadLetters).find(([n]) => n === id);
    if (hit === undefined) return null;
    const l = hit[1];
    return { ...letterSummary(id, l), payload: l.msg.payload, meta: l.msg.meta };
  }

  /**
   * Publish the selected dead letters again, oldest first, each to its original topic (a direct
   * message goes to the inbox again: delivered, queued, or dead-lettered anew) or to
   * `targetTopic`, as a server-side publish: QoS, payload, headers and the original sender are
   * kept; the retain flag and the expiry are not. Replayed letters leave the list unless `keep`;
   * one refused (budget) stays and is reported in `failed`.
   */
  replayDeadLetters(opts: ReplayOptions = {}): AdminResult<{ replayed: number; deliveries: number; failed: ReplayFailure[] }> {
    const target = opts.targetTopic;
    if (target !== undefined) {
      const problem = this.topicProblem(target);
      if (problem !== null) return problem;
    }
    const { picked, failed } = this.select(opts);
    const done = new Set<DeadLetter>();
    let deliveries = 0;
    for (const [id, l] of picked) {
      const m = l.msg;
      const msg = createMessage(target ?? m.topic, m.payload, m.qos, false, m.meta, 0, m.sender);
      const r = target === undefined ? this.admit(msg, this.topicProblem(msg.topic)) : this.admit(msg, null);
      if (!r.ok) {
        failed.push({ id, reason: r.reason, detail: r.detail });
        continue;
      }
      deliveries += r.deliveries;
      done.add(l);
    }
    if (opts.keep !== true) this.remove(done);
    return { ok: true, replayed: done.size, deliveries, failed };
  }

  /** Remove the selected dead letters from the list; returns how many. */
  purgeDeadLetters(sel: DeadLetterSelection = {}): number {
    const { picked } = this.select(sel);
    this.remove(new Set(picked.map(([, l]) => l)));
    return picked.length;
  }

  private letterFilter(f: DeadLetterFilter): (l: DeadLetter) => boolean {
    if (f.topic !== undefined && !isValidTopicFilter(f.topic)) throw new AdminError({ reason: 'invalid', detail: `invalid topic filter "${f.topic}"` });
    return (l) =>
      (f.reason === undefined || l.reason === f.reason) &&
      (f.to === undefined || l.to === f.to) &&
      (f.from === undefined || l.from === f.from) &&
      (f.topic === undefined || filterMatches(f.topic, l.msg.topic));
  }

  /** The letters a selection takes, oldest first; requested ids that are not kept are reported. */
  private select(sel: DeadLetterSelection): { picked: Array<[number, DeadLetter]>; failed: ReplayFailure[] } {
    const match = this.letterFilter(sel);
    const ids = sel.ids === undefined ? null : new Set(sel.ids);
    const picked = numbered(this.application.deadLetters).filter(([id, l]) => (ids === null || ids.has(id)) && match(l));
    const failed: ReplayFailure[] = [];
    if (ids !== null) {
      const found = new Set(picked.map(([id]) => id));
      for (const id of ids) if (!found.has(id)) failed.push({ id, reason: 'not-found', detail: `no dead letter ${id} matching the selection` });
    }
    return { picked, failed };
  }

  private remove(letters: ReadonlySet<DeadLetter>): void {
    if (letters.size === 0) return;
    const recent = this.application.deadLetters.recent;
    for (const l of recent.clear()) if (!letters.has(l)) recent.push(l);
  }

  // ---- publish and direct messages -----------------------------------------------------------

  /** Publish as the broker, or as `opts.from` (see the module comment for what is checked). */
  publish(topic: string, payload: Buffer | string, opts: PublishOptions = {}): PublishResult {
    const built = this.build(topic, payload, opts);
    if (!('topic' in built)) return built;
    return this.admit(built, this.topicProblem(topic));
  }

  /** A direct message to `$inbox/<to>` (the client's inbox), as the broker or `opts.from`. */
  sendDirect(to: string, payload: Buffer | string, opts: DirectOptions = {}): DirectResult {
    if (to === '' || /[/+#]/.test(to) || !isPortableString(to)) return fail('invalid', `invalid client id "${to}"`);
    const topic = opts.subtopic === undefined || opts.subtopic === '' ? `$inbox/${to}` : `$inbox/${to}/${opts.subtopic}`;
    const r = this.publish(topic, payload, { ...opts, retain: false });
    if (!r.ok) return r;
    const s = this.application.router.sessions.get(to);
    const outcome = r.deliveries === 0 ? 'dead-lettered' : s !== undefined && s.link === null ? 'queued' : 'delivered';
    return { ok: true, deliveries: r.deliveries, outcome };
  }

  /** Why a server-side publish may not use `topic`, or null. */
  private topicProblem(topic: string): AdminFailure | null {
    const app = this.application;
    if (!isValidTopicName(topic, app.topics) || !isPortableString(topic)) return fail('invalid', `invalid topic "${topic}"`);
    if (!app.canPublish(OPERATOR, topic)) return fail('forbidden', `"${topic}" is a broker-owned topic`);
    return null;
  }

  private build(topic: string, payload: Buffer | string, o: PublishOptions): Message | AdminFailure {
    const qos = o.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) return fail('invalid', `invalid QoS ${String(qos)}`);
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    let meta: MessageMeta | null = null;
    // Header values are not refused here: like every message's, they pass the protocols' output
    // filters (look-alikes of `from` and unsafe user properties dropped, STOMP lines escaped or left out).
    if (o.contentType !== undefined) (meta ??= {}).contentType = o.contentType;
    if (o.responseTopic !== undefined) {
      if (!isValidTopicName(o.responseTopic, this.application.topics) || !isPortableString(o.responseTopic)) return fail('invalid', `invalid responseTopic "${o.responseTopic}"`);
      (meta ??= {}).responseTopic = o.responseTopic;
    }
    if (o.correlationData !== undefined) (meta ??= {}).correlationData = o.correlationData;
    if (o.userProperties !== undefined) (meta ??= {}).userProperties = o.userProperties;
    if (o.payloadFormatIndicator !== undefined) {
      if (o.payloadFormatIndicator === 1 && !isUtf8(body)) return fail('invalid', 'payloadFormatIndicator 1 but the payload is not UTF-8');
      (meta ??= {}).payloadFormatIndicator = o.payloadFormatIndicator;
    }
    let expiresAt = 0;
    if (o.expiryInterval !== undefined && o.expiryInterval !== 0) {
      if (!Number.isInteger(o.expiryInterval) || o.expiryInterval < 0) return fail('invalid', 'expiryInterval must be a whole number of seconds');
      expiresAt = this.application.router.now() + o.expiryInterval * 1000;
    }
    let sender: Sender | null = null;
    if (o.from !== undefined && o.from !== '') {
      if (!isPortableString(o.from)) return fail('invalid', '`from` contains a control character');
      sender = { clientId: o.from, app: this.application.id, profile: 'SERVICE' };
    }
    return createMessage(topic, body, qos, o.retain ?? false, meta, expiresAt, sender);
  }

  /** The client port's admission for a server-side publish: the topic, the budget and retained limits, then the router. */
  private admit(msg: Message, topicProblem: AdminFailure | null): PublishResult {
    if (topicProblem !== null) return topicProblem;
    const app = this.application;
    const refusal = app.admitPublish(msg);
    if (refusal !== null) {
      app.router.reportDrop(null, msg, 'overload');
      return fail('quota', refusal.detail);
    }
    // A message to a queue creates it, as a client's does.
    if (msg.topic.startsWith('$queue/')) app.router.declareQueue(msg.topic.slice(7));
    return { ok: true, deliveries: app.router.publish(msg) };
  }

  // ---- subscribe, unsubscribe, kick ----------------------------------------------------------

  /**
   * Give a client a subscription as if it had subscribed (retained messages per
   * `retainHandling`). Only an existing session can hold one: a client that has not connected
   * yet (or whose clean session ended) has none, and the answer is 'unknown-client'. A STOMP
   * client receives only on subscriptions it made itself (a MESSAGE names its SUBSCRIBE id):
   * 'unsupported'.
   */
  subscribe(clientId: string, filter: string, opts: SubscribeOptions = {}): SubscribeResult {
    const app = this.application;
    const router = app.router;
    const parsed = parseFilter(filter);
    if (parsed === null || !isValidTopicFilter(parsed.filter, app.topics) || !isPortableString(filter)) return fail('invalid', `invalid topic filter "${filter}"`);
    if (!app.topics.wildcardSubscriptions && hasWildcard(parsed.filter)) return fail('unsupported', 'wildcard subscriptions are turned off');
    const qos = opts.qos ?? 1;
    const retainHandling = opts.retainHandling ?? 0;
    const subscriptionId = opts.subscriptionId ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) return fail('invalid', `invalid QoS ${String(qos)}`);
    if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) return fail('invalid', `invalid retainHandling ${String(retainHandling)}`);
    if (!Number.isInteger(subscriptionId) || subscriptionId < 0 || subscriptionId > MAX_SUBSCRIPTION_ID) return fail('invalid', 'invalid subscriptionId');
    const session = router.sessions.get(clientId);
    if (session === undefined) return fail('unknown-client', `no session for client "${clientId}": it has not connected, or its session ended`);
    if (protocolOf(session) === 'stomp') return fail('unsupported', 'a STOMP client receives only on subscriptions it made itself');
    if (!app.canAddSubscription(session, filter)) return fail('quota', `at most ${app.maxSubscriptionsPerClient} subscriptions per client (limits.maxSubscriptionsPerClient)`);
    if (parsed.group !== null && parsed.filter === `$queue/${parsed.group}`) router.declareQueue(parsed.group);
    const sub: Subscription<Session> = {
      subscriber: session,
      raw: filter,
      filter: parsed.filter,
      group: parsed.group,
      qos,
      noLocal: opts.noLocal ?? false,
      retainAsPublished: opts.retainAsPublished ?? false,
      retainHandling,
      subscriptionId,
    };
    const { existed } = router.subscribe(session, sub);
    let retained = 0;
    if (parsed.group === null && (retainHandling === 0 || (retainHandling === 1 && !existed))) {
      const ids = subscriptionId > 0 ? [subscriptionId] : null;
      for (const m of router.retainedFor(parsed.filter)) {
        session.deliver(m, m.qos < qos ? m.qos : qos, true, ids, null);
        retained++;
      }
    }
    return { ok: true, existed, retained };
  }

  /** Remove a client's subscription (`filter` as subscribed, with any $share prefix). */
  unsubscribe(clientId: string, filter: string): AdminResult<{ existed: boolean }> {
    const router = this.application.router;
    const session = router.sessions.get(clientId);
    if (session === undefined) return fail('unknown-client', `no session for client "${clientId}"`);
    return { ok: true, existed: router.unsubscribe(session, filter) };
  }

  /**
   * Disconnect a client with reason 'kicked' (MQTT 5 DISCONNECT 0x98, STOMP ERROR; presence
   * reason `kicked`). A persistent session stays parked unless `discardSession`; a parked session
   * (no connection) can only be discarded ('not-connected' otherwise).
   */
  kick(clientId: string, opts: KickOptions = {}): KickResult {
    const router = this.application.router;
    const session = router.sessions.get(clientId);
    if (session === undefined) return fail('unknown-client', `no session for client "${clientId}"`);
    const link = session.link;
    if (link === null && opts.discardSession !== true) return fail('not-connected', `client "${clientId}" is not connected`);
    if (opts.publishWill === false) session.setWill(null);
    if (link === null) {
      router.destroy(session, true); // a will waiting for its delay goes now, as at any session end [MQTT-3.1.3-9]
      return { ok: true, disconnected: false, sessionEnded: true };
    }
    // With no expiry left, the session ends when the connection detaches (its will goes now).
    if (opts.discardSession === true) router.setExpiry(session, 0);
    link.close('kicked');
    return { ok: true, disconnected: true, sessionEnded: router.sessions.get(clientId) !== session };
  }

  // ---- presence --------------------------------------------------------------------------------

  /**
   * Presence as `$presence` shows it to an ADMIN: every client online, and those recently gone
   * with why (cluster-wide in cluster mode), online ones first.
   */
  presence(): PresenceState[] {
    return this.application.presence.all().sort((a, b) => Number(b.online) - Number(a.online));
  }

  // ---- stats ---------------------------------------------------------------------------------

  stats(): AppStats {
    const app = this.application;
    const r = app.router;
    let online = 0;
    for (const s of r.sessions.values()) if (s.link !== null) online++;
    return {
      app: app.id,
      clients: { sessions: r.sessions.size, online, persistent: r.persistentSessions },
      subscriptions: r.trie.size,
      retained: r.retained.size,
      storedBytes: r.storedBytes,
      messages: {
        ...r.stats,
        messagesInByQos: [...r.stats.messagesInByQos],
        messagesOutByQos: [...r.stats.messagesOutByQos],
        bytesOutByQos: [...r.stats.bytesOutByQos],
        droppedByReason: { ...r.stats.droppedByReason },
      },
      deadLetters: { total: app.deadLetters.count, kept: app.deadLetters.recent.length },
    };
  }
}

// ---- the broker's applications ---------------------------------------------------------------

export interface AdminOptions {
  /** Open network connections, for stats. */
  connections?: () => number;
  /** After a reload changed the applications (the broker rebuilds its logins and logs here). */
  onReload?: (result: ReloadResult) => void;
}

export class BrokerAdmin {
  private readonly facades = new Map<string, ApplicationAdmin>();

  constructor(
    private readonly apps: ReadonlyMap<string, Application>,
    private readonly opts: AdminOptions = {},
  ) {}

  /** Application ids ('default' in development mode). */
  applications(): string[] {
    return [...this.apps.keys()];
  }

  /** The facade of one application, or undefined when there is no such application. */
  app(id: string): ApplicationAdmin | undefined {
    let f = this.facades.get(id);
    if (f === undefined) {
      const a = this.apps.get(id);
      if (a === undefined) return undefined;
      f = new ApplicationAdmin(a);
      this.facades.set(id, f);
    }
    return f;
  }

  stats(): BrokerStats {
    const apps = [...this.apps.keys()].map((id) => this.app(id)!.stats());
    const first = this.apps.values().next().value;
    const budget = first?.router.budget;
    return {
      applications: apps,
      budget: budget === undefined ? { used: 0, limit: 0, exceeded: false } : { used: budget.used, limit: budget.limit, exceeded: budget.exceeded },
      connections: this.opts.connections?.() ?? null,
    };
  }

  /**
   * Apply a new configuration's applications without a restart: permissions, grants, keys and
   * presence topics are replaced in place. New applications, and the development application,
   * need a restart.
   */
  reload(config: { applications: readonly AppConfig[] }): ReloadResult {
    const result: ReloadResult = { updated: [], ignored: [], kept: [] };
    const seen = new Set<string>();
    for (const c of config.applications) {
      seen.add(c.id);
      const a = this.apps.get(c.id);
      if (a === undefined || a.open) result.ignored.push(c.id);
      else {
        a.reconfigure(c);
        result.updated.push(c.id);
      }
    }
    for (const [id, a] of this.apps) if (!a.open && !seen.has(id)) result.kept.push(id);
    this.opts.onReload?.(result);
    return result;
  }
}

// ---- helpers -----------------------------------------------------------------------------------

/** One shape for a client in every listing (the admin API, `$request/clients`). */
export function clientSummary(app: string, s: Session): ClientSummary {
  const id = s.identity;
  const online = s.link !== null;
  const connectedAt = s.connectedAt > 0 ? s.connectedAt : null;
  const disconnectedAt = !online && s.disconnectedAt > 0 ? s.disconnectedAt : null;
  return {
    clientId: s.clientId,
    app,
    online,
    profile: s.profile,
    login: id?.login ?? null,
    protocol: protocolOf(s),
    transport: id?.transport ?? null,
    remoteAddress: id?.remoteAddress ?? null,
    connectedAt,
    disconnectedAt,
    since: online ? connectedAt : disconnectedAt,
    persistent: s.expiryInterval > 0,
    subscriptions: s.subscriptions.size,
    queued: s.queued,
    inflight: s.inflightCount,
    dropped: s.dropped,
  };
}

function protocolOf(s: Session): 'mqtt' | 'stomp' | 'mqttsn' {
  return s.identity?.protocol ?? (s.protocol === 'stomp' || s.protocol === 'mqttsn' ? s.protocol : 'mqtt');
}

function clientMatches(s: Session, f: ClientFilter): boolean {
  if (f.online !== undefined && (s.link !== null) !== f.online) return false;
  if (f.persistent !== undefined && s.expiryInterval > 0 !== f.persistent) return false;
  if (f.profile !== undefined && s.profile !== f.profile) return false;
  if (f.protocol !== undefined && protocolOf(s) !== f.protocol) return false;
  if (f.prefix !== undefined && !s.clientId.startsWith(f.prefix)) return false;
  const id = s.identity;
  if (f.transport !== undefined && id?.transport !== f.transport) return false;
  if (f.login !== undefined && id?.login !== f.login) return false;
  if (f.remoteAddress !== undefined && id?.remoteAddress !== f.remoteAddress) return false;
  return true;
}

function subscriptionInfo(sub: Subscription<Session>): SubscriptionInfo {
  return {
    filter: sub.raw,
    topicFilter: sub.filter,
    group: sub.group,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    subscriptionId: sub.subscriptionId,
  };
}

function isExpired(m: Message, now: number): boolean {
  return m.expiresAt !== 0 && m.expiresAt <= now;
}

function retainedSummary(m: Message): RetainedSummary {
  const from = senderIdOf(m);
  return {
    topic: m.topic,
    bytes: m.payload.length,
    qos: m.qos,
    from: from === '' ? null : from,
    contentType: m.meta?.contentType ?? null,
    expiresAt: m.expiresAt === 0 ? null : m.expiresAt,
  };
}

function queueInfo(g: SharedGroup<Session>): QueueInfo {
  let online = 0;
  for (const m of g.members) if (m.subscriber.link !== null) online++;
  let depthBytes = 0;
  for (const m of g.backlog) depthBytes += m.payload.length;
  return { name: g.name, topicFilter: g.filter, kind: g.durable ? 'queue' : 'shared', consumers: g.members.length, online, depth: g.backlog.length, depthBytes };
}

function letterSummary(id: number, l: DeadLetter): DeadLetterSummary {
  const time = Date.parse(l.time);
  return {
    id,
    reason: l.reason,
    topic: l.msg.topic,
    from: l.from === '' ? null : l.from,
    to: l.to,
    time: Number.isNaN(time) ? 0 : time,
    qos: l.msg.qos,
    bytes: l.msg.payload.length,
  };
}

/**
 * Ids of dead letters, given when the facade first sees them: the letters kept are the newest
 * `recent.length` of `count` ever recorded, and those seen before are a prefix of them (removal
 * keeps the order), so the unseen suffix gets the numbers up to `count`. Shared by every facade
 * of the application (a module-level WeakMap), so ids are stable across calls and facades.
 */
const letterIds = new WeakMap<DeadLetter, number>();
const lastLetterId = new WeakMap<DeadLetters, number>();

function numbered(dl: DeadLetters): Array<[number, DeadLetter]> {
  const all = [...dl.recent];
  let unseen = 0;
  for (let i = all.length - 1; i >= 0 && !letterIds.has(all[i]!); i--) unseen++;
  if (unseen > 0) {
    let id = Math.max(dl.count - unseen, lastLetterId.get(dl) ?? 0);
    for (let i = all.length - unseen; i < all.length; i++) letterIds.set(all[i]!, ++id);
    lastLetterId.set(dl, id);
  }
  return all.map((l) => [letterIds.get(l)!, l]);
}
