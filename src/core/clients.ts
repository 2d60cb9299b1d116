/**
 * The client port: the one way a protocol (MQTT, STOMP, the HTTP API) talks to the core. A
 * protocol translates its wire format into these calls and their answers back into its own
 * acknowledgements and errors; everything else happens here, once, for every protocol:
 *
 *   openClient   after login: identity rules, the will checked as a publish, admission (profile
 *                ownership of the client id, duplicate logins, session quota), session attach,
 *                monitor and presence
 *   publish      topic rules, authorisation (rules, then the embedding hook), admission (memory
 *                budget, retained limits), queue declaration, the $monitor tap, routing, and
 *                the store's durability before the protocol acknowledges
 *   subscribe    filter rules, subscription quota, authorisation, the subscription, and the
 *                retained messages the protocol sends after its acknowledgement
 *   unsubscribe  the hook, then the subscription
 *   settle/nack  acknowledgements of in-flight deliveries (delivery ids, see core/session.ts)
 *   detach       the connection is gone: will, presence, session detach, hooks
 *
 * The connection log lives here too, once for every protocol (see ConnectionLog).
 *
 * Answers are values; a Promise answer means an embedding hook is asynchronous, and the
 * protocol holds its input until it has acted on the answer, so order is kept. Refusals carry
 * a catalogue code (errors/catalogue.ts) that each protocol maps once.
 */
import type { Application, Refusal } from './application.js';
import type { ClientInfo, MaybePromise } from './hooks.js';
import type { Message, QoS } from './message.js';
import type { DisconnectReason } from './presence.js';
import type { Inflight, Session, SessionLink, WillMessage } from './session.js';
import type { Subscription } from './topic-trie.js';
import type { SessionRecord, SharedSessionStore } from '../stores/types.js';
import type { ErrorCode } from '../errors/catalogue.js';
import { hasWildcard, isValidTopicFilter, isValidTopicName, withinTopicLimits } from './topic.js';

export type { Refusal } from './application.js';

/** Deliveries made (>= 0), or why the publish was refused. */
export type PublishAnswer = number | Refusal;

/**
 * A publish routed now whose acknowledgement waits until it is stored (store.durability sync):
 * `done` gives the final answer (a refusal when the commit failed). The connection goes on
 * reading meanwhile; only its acknowledgements wait, in order.
 */
export class Stored {
  constructor(
    readonly deliveries: number,
    readonly done: Promise<PublishAnswer>,
  ) {}
}

export type PublishResult = PublishAnswer | Stored;

export interface SubscribeRequest {
  /** The filter as subscribed, including any "$share/GROUP/" prefix (the subscription's key). */
  raw: string;
  /** The filter to match with. */
  filter: string;
  group: string | null;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier; 0 = none (other protocols keep their own ids). */
  subscriptionId: number;
}

export type SubscribeAnswer = { ok: true; sub: Subscription<Session>; existed: boolean; retained: Message[] } | Refusal;

/** Whether a subscription existed, or why the unsubscribe was refused. */
export type UnsubscribeAnswer = boolean | Refusal;

export interface OpenRequest {
  info: ClientInfo;
  cleanStart: boolean;
  /** Seconds the session outlives the connection (0 = ends with it). */
  expiry: number;
  will: WillMessage | null;
  /** The protocol version the client speaks, for the connection log. */
  protocolVersion?: ProtocolVersion;
  /** Where the connection is logged ('client connected' / 'client disconnected'); absent: nowhere. */
  log?: ConnectionLog;
}

// ---- the connection log -----------------------------------------------------------------

/**
 * The connection log for operators, at info, once per connection (never per message; never a
 * secret, an application key or a payload), in one field vocabulary for every protocol:
 *
 *   'client connected'     clientId, app, login, profile, protocol, protocolVersion, transport,
 *                          remoteAddress, sessionPresent
 *   'client disconnected'  the same, then reason, code (when the broker closed the connection
 *                          with a catalogue code), durationMs
 *   'client refused'       what is known of the same (app, login and profile once the login is
 *                          decided), code, detail: a CONNECT that got no session (credentials,
 *                          identity rules, admission, an unsupported version...)
 *
 * protocol: 'mqtt' | 'stomp' | 'mqttsn'; protocolVersion: MQTT 3, 4 (3.1.1) or 5, MQTT-SN '1.2', STOMP '1.0' | '1.1' |
 * '1.2'; transport: 'tcp' | 'tls' | 'ws' | 'wss' | 'udp'; reason: a DisconnectReason, the same word
 * $presence and the onConnectionClose hook report ('clean', 'dropped', 'keepalive-timeout',
 * 'taken-over', 'kicked', 'shutdown', 'protocol-error', 'refused', 'token-expired').
 * A pino Logger is a ConnectionLog.
 */
export interface ConnectionLog {
  info(fields: object, msg: string): void;
}

export type ProtocolVersion = number | string;

/** Who asked to connect, as far as it is known when the CONNECT is refused. */
export interface ConnectAttempt {
  clientId: string;
  protocol: ClientInfo['protocol'];
  /** As offered (an unsupported one included); absent when not known. */
  protocolVersion?: ProtocolVersion;
  transport: string;
  remoteAddress: string;
  /** Known once the login succeeded (an admission refusal). */
  info?: ClientInfo;
}

/** The identity fields of every line, in one order. */
function identityFields(info: ClientInfo, protocolVersion: ProtocolVersion | undefined): Record<string, unknown> {
  const f: Record<string, unknown> = { clientId: info.clientId, app: info.app, login: info.login, profile: info.profile, protocol: info.protocol };
  if (protocolVersion !== undefined) f.protocolVersion = protocolVersion;
  f.transport = info.transport;
  f.remoteAddress = info.remoteAddress;
  return f;
}

/** Log a refused CONNECT ('client refused'): the catalogue code and the detail, never the credentials. */
export function logRefused(log: ConnectionLog, who: ConnectAttempt, refusal: Refusal): void {
  let f: Record<string, unknown>;
  if (who.info !== undefined) f = identityFields(who.info, who.protocolVersion);
  else {
    f = { clientId: who.clientId, protocol: who.protocol };
    if (who.protocolVersion !== undefined) f.protocolVersion = who.protocolVersion;
    f.transport = who.transport;
    f.remoteAddress = who.remoteAddress;
  }
  f.code = refusal.code;
  f.detail = refusal.detail;
  log.info(f, 'client refused');
}

const DENIED: Refusal = Object.freeze({ code: 'SB_ERR_NOT_AUTHORIZED', detail: 'not authorized' });

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === 'object' && x !== null && 'code' in x;
}

/**
 * Open a client on `app` for `link` (after a successful login). The will is authorised as a
 * publish first (and again when it fires); then the client id is admitted and attached.
 */
export function openClient(app: Application, req: OpenRequest, link: SessionLink): MaybePromise<Client | Refusal> {
  const will = req.will;
  if (will === null) return attach(app, req, link);
  if (app.router.budget.exceeded) return refuse('SB_ERR_QUOTA', 'the broker memory budget is spent: no room for a will (limits.memoryBudget)');
  const topicProblem = isValidTopicName(will.msg.topic, app.topics) ? null : refuse('SB_ERR_TOPIC_NAME', `invalid will topic "${will.msg.topic}"`);
  if (topicProblem !== null) return topicProblem;
  const allowed = app.authorizePublish(req.info, will.msg);
  const denied = (): Refusal => refuse('SB_ERR_NOT_AUTHORIZED', `will topic "${will.msg.topic}" is not allowed`);
  if (allowed === true) return attach(app, req, link);
  if (allowed === false) return denied();
  return allowed.then(
    (ok) => (ok ? attach(app, req, link) : denied()),
    () => denied(),
  );
}

function attach(app: Application, req: OpenRequest, link: SessionLink): MaybePromise<Client | Refusal> {
  const decision = app.admit(req.info, req.expiry > 0);
  if (decision !== null && decision !== 'replace') return decision;
  const shared = app.stores?.shared;
  if (shared !== undefined && !app.router.sessions.has(req.info.clientId)) {
    // A clean session nobody holds has nothing to take (most connections of a fleet).
    const clean = req.cleanStart && req.expiry === 0;
    if (!clean || app.router.cluster?.owner(req.info.clientId) !== undefined) return takeShared(app, req, link, decision, shared);
  }
  return attachHere(app, req, link, decision);
}

/**
 * A client whose session a shared store (Redis) may hold, last written by another node: that
 * node lets go first (it closes the client and flushes), then this node acquires the session
 * (fencing the other off) and resumes it from the store.
 */
async function takeShared(app: Application, req: OpenRequest, link: SessionLink, decision: 'replace' | null, shared: SharedSessionStore): Promise<Client | Refusal> {
  const id = req.info.clientId;
  await app.router.cluster?.handOver(id);
  if (req.cleanStart && req.expiry === 0) {
    // Ends with its connection: the one another node held is discarded, never read.
    app.stores?.sessions.deleteSession(app.id, id);
    return attachHere(app, req, link, decision);
  }
  let record: SessionRecord | null;
  try {
    record = await shared.acquire(app.id, id);
  } catch (err) {
    return refuse('SB_ERR_SERVER_UNAVAILABLE', `the session store cannot be read: ${(err as Error).message}`);
  }
  if (!app.router.sessions.has(id) && record !== null) {
    // Resumed only by the same profile, and not on a clean start [MQTT-3.1.2-4]: else it goes.
    if (decision === 'replace' || req.cleanStart || record.profile !== req.info.profile) app.stores?.sessions.deleteSession(app.id, id);
    else app.router.adopt(record);
  }
  return attachHere(app, req, link, decision);
}

function attachHere(app: Application, req: OpenRequest, link: SessionLink, decision: 'replace' | null): Client {
  // 'replace': a lower profile's session on this id is discarded (its connection gets 0x8E).
  const { session, present } = app.attach(req.info, link, decision === 'replace' || req.cleanStart, req.expiry, req.will);
  app.monitor.refresh(session);
  app.presence.online(session);
  const client = new Client(app, req.info, session, link, present, req.log ?? null, req.protocolVersion);
  if (req.log !== undefined) {
    const f = identityFields(req.info, req.protocolVersion);
    f.sessionPresent = present;
    req.log.info(f, 'client connected');
  }
  return client;
}

function refuse(code: Refusal['code'], detail: string): Refusal {
  return { code, detail };
}

export class Client {
  private detached = false;
  /** When the client was admitted (ms, the broker's clock): durationMs in the log. */
  readonly since: number;
  /** The last topic this client was allowed to publish on, and the policy version then (publish). */
  private allowedTopic = '';
  private allowedVersion = -1;

  constructor(
    readonly app: Application,
    readonly info: ClientInfo,
    readonly session: Session,
    private readonly link: SessionLink,
    /** An existing session was resumed [MQTT-3.2.2-2]. */
    readonly present: boolean,
    /** The connection log (ConnectionLog), or null. */
    private readonly log: ConnectionLog | null = null,
    readonly protocolVersion?: ProtocolVersion,
  ) {
    this.since = app.router.now();
  }

  // ---- publish ---------------------------------------------------------------------------

  /** A Promise only while an asynchronous hook decides (the protocol holds later packets). */
  publish(msg: Message): MaybePromise<PublishResult> {
    const app = this.app;
    const topic = msg.topic;
    // Most clients publish on a few topics again and again: the topic rules and permissions
    // (Application.canPublish) are checked again only for another topic or after a reload; the
    // hook (Application.publishHook) decides every message.
    if (topic !== this.allowedTopic || this.allowedVersion !== app.policyVersion) {
      // isValidTopicName, split for speed: native scans for wildcards.
      if (!withinTopicLimits(topic, app.topics) || hasWildcard(topic)) return refuse('SB_ERR_TOPIC_NAME', `invalid topic "${topic}"`);
      if (!app.canPublish(this.info, topic)) return DENIED;
      this.allowedTopic = topic;
      this.allowedVersion = app.policyVersion;
    }
    const allowed = app.publishHook(this.info, msg);
    if (allowed === true) return this.admitted(msg);
    if (allowed === false) return DENIED;
    return allowed.then(
      (ok) => (ok ? this.admitted(msg) : DENIED),
      () => DENIED,
    );
  }

  private admitted(msg: Message): PublishResult {
    const app = this.app;
    const refusal = app.admitPublish(msg);
    if (refusal !== null) {
      app.router.reportDrop(null, msg, 'overload');
      return refusal;
    }
    // A message to a queue creates it: it holds messages until a consumer comes.
    if (msg.topic.charCodeAt(0) === 0x24 && msg.topic.startsWith('$queue/')) app.router.declareQueue(msg.topic.slice(7));
    if (this.session.monitored) app.monitor.published(this.session, msg);
    const n = app.router.publish(msg);
    if (msg.qos === 0) return n; // no acknowledgement to hold back
    // Stored (queued for a persistent session, retained, held by a queue): the acknowledgement
    // waits until it is durable when the durability is 'sync' (nothing to wait for otherwise),
    // here and on the other nodes it went to (a shared store: core/bus.ts Bus.stored).
    const durable = app.durable();
    const remote = app.router.cluster?.stored(msg) ?? null;
    if (durable === null && remote === null) return n;
    if (remote !== null) app.busLatency.time(remote);
    // Not durable after all (the commit failed: a full disk; a node died before storing it):
    // refused, so the client sends it again.
    const notStored = (why: string): PublishAnswer => ({ code: 'SB_ERR_NOT_STORED', detail: `not stored: ${why}` });
    const here: Promise<PublishAnswer> =
      durable === null
        ? Promise.resolve(n)
        : durable.then(
            () => n,
            (err: unknown): PublishAnswer => ({ code: 'SB_ERR_QUOTA', detail: `not stored: ${(err as Error).message}` }),
          );
    if (remote === null) return new Stored(n, here);
    return new Stored(
      n,
      Promise.all([here, remote]).then(([h, ok]) => (typeof h !== 'number' ? h : ok ? n : notStored('a node it went to did not confirm it (gone, or too slow)'))),
    );
  }

  // ---- subscribe -------------------------------------------------------------------------

  subscribe(reqs: readonly SubscribeRequest[]): MaybePromise<SubscribeAnswer[]> {
    // The same filter twice in one request: only its last occurrence counts (each would replace
    // the one before), so repeats cost nothing (no replay of retained messages or presence per copy).
    const last = new Map<string, number>();
    for (let i = 0; i < reqs.length; i++) last.set(reqs[i]!.raw, i);
    if (last.size < reqs.length) {
      const unique = [...last.values()].sort((a, b) => a - b);
      const spread = (answers: SubscribeAnswer[]): SubscribeAnswer[] =>
        reqs.map((r, i) => {
          const a = answers[unique.indexOf(last.get(r.raw)!)]!;
          return i === last.get(r.raw) || isRefusal(a) ? a : { ...a, retained: [] }; // retained messages once
        });
      const answers = this.subscribe(unique.map((i) => reqs[i]!));
      return answers instanceof Promise ? answers.then(spread) : spread(answers);
    }
    const checks: Array<Refusal | MaybePromise<boolean>> = [];
    let pending = false;
    for (const r of reqs) {
      const c = this.check(r);
      if (c instanceof Promise) pending = true;
      checks.push(c);
    }
    if (!pending) return this.add(reqs, checks as Array<Refusal | boolean>);
    return Promise.all(checks.map((x) => (x instanceof Promise ? x.catch(() => false) : x))).then((done) => this.add(reqs, done));
  }

  private check(r: SubscribeRequest): Refusal | MaybePromise<boolean> {
    const topics = this.app.topics;
    if (!isValidTopicFilter(r.filter, topics)) return refuse('SB_ERR_TOPIC_FILTER', `invalid topic filter "${r.filter}"`);
    if (!topics.wildcardSubscriptions && hasWildcard(r.filter)) return refuse('SB_ERR_WILDCARD_UNSUPPORTED', 'wildcard subscriptions are turned off');
    return this.app.authorizeSubscribe(this.info, r.filter, r.group !== null);
  }

  private add(reqs: readonly SubscribeRequest[], checks: Array<Refusal | boolean>): SubscribeAnswer[] {
    const app = this.app;
    const router = app.router;
    const session = this.session;
    return reqs.map((r, i): SubscribeAnswer => {
      const check = checks[i]!;
      if (check === false) return DENIED;
      if (check !== true) return check;
      if (!app.canAddSubscription(session, r.raw)) return refuse('SB_ERR_QUOTA', `at most ${app.maxSubscriptionsPerClient} subscriptions per client (limits.maxSubscriptionsPerClient)`);
      if (router.budget.exceeded && !session.subscriptions.has(r.raw)) return refuse('SB_ERR_QUOTA', 'the broker memory budget is spent (limits.memoryBudget)');
      if (r.group !== null && r.filter === `$queue/${r.group}`) router.declareQueue(r.group);
      const sub: Subscription<Session> = {
        subscriber: session,
        raw: r.raw,
        filter: r.filter,
        group: r.group,
        qos: r.qos,
        noLocal: r.noLocal,
        retainAsPublished: r.retainAsPublished,
        retainHandling: r.retainHandling,
        subscriptionId: r.subscriptionId,
      };
      const { existed } = router.subscribe(session, sub); // replaces an identical filter [MQTT-3.8.4-3]
      // Retained messages: none for shared subscriptions (MQTT 5.0 section 4.8.2); Retain
      // Handling 0 = always, 1 = new subscriptions only, 2 = never [MQTT-3.3.1-9..11].
      const wants = r.group === null && (r.retainHandling === 0 || (r.retainHandling === 1 && !existed));
      return { ok: true, sub, existed, retained: wants ? router.retainedFor(r.filter) : [] };
    });
  }

  // ---- unsubscribe -----------------------------------------------------------------------

  /** `raws`: the filters as subscribed (with any $share prefix). */
  unsubscribe(raws: readonly string[]): MaybePromise<UnsubscribeAnswer[]> {
    const hook = this.app.hooks.authorizeUnsubscribe;
    const checks = raws.map((f) => (hook === undefined ? true : hook(this.info, f)));
    const finish = (ok: boolean[]): UnsubscribeAnswer[] => raws.map((f, i) => (ok[i] ? this.app.router.unsubscribe(this.session, f) : DENIED)); // [MQTT-3.10.4-1]
    if (!checks.some((x) => x instanceof Promise)) return finish(checks as boolean[]);
    return Promise.all(checks.map((x) => (x instanceof Promise ? x.catch(() => false) : x))).then(finish);
  }

  // ---- will ------------------------------------------------------------------------------

  /**
   * Replace the will while connected (MQTT-SN WILLTOPICUPD / WILLMSGUPD): authorised as a
   * publish, as at CONNECT (openClient); null removes it. Answers null when set, or the refusal.
   */
  updateWill(will: WillMessage | null): MaybePromise<Refusal | null> {
    const app = this.app;
    if (will === null) {
      this.session.setWill(null);
      return null;
    }
    if (app.router.budget.exceeded) return refuse('SB_ERR_QUOTA', 'the broker memory budget is spent: no room for a will (limits.memoryBudget)');
    if (!isValidTopicName(will.msg.topic, app.topics)) return refuse('SB_ERR_TOPIC_NAME', `invalid will topic "${will.msg.topic}"`);
    const denied = (): Refusal => refuse('SB_ERR_NOT_AUTHORIZED', `will topic "${will.msg.topic}" is not allowed`);
    const set = (ok: boolean): Refusal | null => {
      if (!ok) return denied();
      if (!this.detached) this.session.setWill(will);
      return null;
    };
    const allowed = app.authorizePublish(this.info, will.msg);
    if (typeof allowed === 'boolean') return set(allowed);
    return allowed.then(set, () => denied());
  }

  // ---- acknowledgements ------------------------------------------------------------------

  /** The receiver acknowledged (or refused) delivery `id`: it is done. */
  settle(id: number): Inflight | undefined {
    return this.session.settle(id);
  }

  /**
   * The receiver gave delivery `id` back (STOMP NACK): a queue message goes to another consumer,
   * counted, and to the dead letters past the redelivery limit; anything else is dead-lettered.
   */
  nack(id: number): void {
    const d = this.session.withdraw(id);
    if (d === undefined) return;
    const router = this.app.router;
    if (d.group !== null) router.redeliver(d.group, d.msg, this.session, true);
    else router.reportDrop(this.session, d.msg, 'nack-limit');
  }

  /** Take delivery `id` back unfinished (its subscription is gone); hand it on with `giveBack`. */
  withdraw(id: number): Inflight | undefined {
    return this.session.withdraw(id);
  }

  /** A delivery the link could not keep (its subscription is gone): back to its queue, else dropped. */
  giveBack(group: Inflight['group'], msg: Message): void {
    if (group !== null) this.app.router.redeliver(group, msg, null, false);
    else this.app.router.reportDrop(this.session, msg, 'offline');
  }

  // ---- end -------------------------------------------------------------------------------

  /**
   * The connection is gone (any cause; idempotent). `publishWill`: publish the will now or after
   * its delay, unless the client disconnected cleanly [MQTT-3.1.2-10]. If the session was taken
   * over, the new connection keeps it; otherwise it is detached and lives on for its expiry.
   * `code`: the catalogue code the broker closed the connection with, if any (logged).
   */
  detach(reason: DisconnectReason, publishWill: boolean, code?: ErrorCode): void {
    if (this.detached) return;
    this.detached = true;
    const app = this.app;
    const session = this.session;
    if (this.log !== null) {
      const f = identityFields(this.info, this.protocolVersion);
      f.reason = reason;
      if (code !== undefined) f.code = code;
      f.durationMs = Math.max(0, app.router.now() - this.since);
      this.log.info(f, 'client disconnected');
    }
    app.hooks.onConnectionClose?.(this.info, reason);
    const mine = session.link === this.link;
    // Taken over (the router already moved the session): the will and presence still concern this connection.
    const takenOver = session.link === null && !mine && app.router.sessions.get(session.clientId) === session;
    if (!mine && !takenOver) return;
    app.presence.offline(session, reason);
    if (publishWill) app.router.scheduleWill(session);
    else session.setWill(null);
    if (mine) app.router.detach(session, this.link);
  }
}
