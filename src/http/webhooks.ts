/**
 * Lifecycle webhooks (`applications[].webhooks`): what happens in an application is POSTed as
 * JSON to the URLs that asked for it, signed, off the message path.
 *
 *   client.connected       clientId, login, profile, protocol, transport, remoteAddress
 *   client.disconnected    the same, and reason (clean, dropped, keepalive-timeout, taken-over, ...)
 *   subscription.added     clientId, login, profile, filter (as subscribed), qos, replaced
 *   subscription.removed   clientId, login, profile, filter (also when a session ends with them)
 *   message.published      topic, qos, retain, from, payload (base64), payloadSize, deliveries;
 *                          only for topics matching the webhook's `topics` filters
 *   message.dead_lettered  reason, topic (the original), qos, retain, from, to, payload, payloadSize
 *
 * Every body also has `id` (the same for every URL and every attempt: receivers deduplicate
 * on it), `event`, `app` and `time` (ms since the epoch). A payload over `maxPayloadBytes` is
 * left out (`payloadOmitted: true`, `payloadSize` still given).
 *
 * Signature (as Stripe's): `x-switchboard-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" with the webhook's secret>`, made at each attempt; a receiver recomputes it over
 * the raw body and refuses an old `t`.
 *
 * Delivery, per URL: a FIFO bounded by `maxQueue` (a full queue drops the new event, counted);
 * one request at a time, so events arrive in the order they happened; each attempt bounded by
 * `timeoutMs`; network errors, timeouts, 408, 429 and 5xx are tried again after `retryDelayMs`,
 * doubled each time, up to `maxAttempts`; other answers and the last failure give the event up
 * (counted). `stop()` gives what is queued a short grace, then aborts the rest (counted as
 * dropped): shutdown never waits for a receiver.
 *
 * Cost: an event is enqueued in O(1) with the references it needs (a payload only when a URL
 * takes payloads that large: a queue holds at most maxQueue x maxPayloadBytes of them); its JSON
 * (and the base64 of a payload) is built when it is first sent, once for every URL. The
 * lifecycle events come from the router's events and the onConnectionClose hook (never per
 * message). Publishes: the configured filters observe the application's router
 * (Router.observe): they are matched with the subscriptions and cached per topic, so a topic no
 * filter matches costs nothing per message, with webhooks or without. Dead letters: the
 * application's drop listener sees whether DeadLetters counted the drop as a dead letter.
 *
 * Cluster mode: the node where something happens sends its event (the client's node, the
 * publisher's node, the node that dead-lettered), so each event is sent once.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ApplicationConfig, WebhookConfig, WebhookEventName } from '../config/types.js';
import type { Application } from '../core/application.js';
import type { BrokerHooks, ClientInfo } from '../core/hooks.js';
import type { Message } from '../core/message.js';
import type { DropListener, Session } from '../core/session.js';
import type { Subscription } from '../core/topic-trie.js';
import { Deque } from '../core/deque.js';
import { filterMatches } from '../core/topic.js';

export type { WebhookConfig, WebhookEventName } from '../config/types.js';

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-switchboard-signature';
/** The event name again, for receivers that route before parsing. */
export const EVENT_HEADER = 'x-switchboard-event';
/** After `stop()` aborts the requests in flight, how long it waits for them to settle, ms. */
const AFTER_ABORT_MS = 100;
/** Longest wait between two attempts, ms. */
export const MAX_RETRY_DELAY_MS = 600_000;

/** `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` for `t` in unix seconds. */
export function signature(secret: string, body: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** The wait before attempt `attempt + 1` after `attempt` failed ones (1-based): base, 2 base, 4 base, ... capped. */
export function retryDelay(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
}

/** A URL as shown in stats and logs: no user name, password, query or fragment (they may hold tokens). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Counters of one URL (`stats()`). */
export interface WebhookEndpointStats {
  app: string;
  /** The URL without credentials, query or fragment. */
  url: string;
  /** Events waiting (not counting the one being sent). */
  queued: number;
  /** 1 while an event is being sent or waits for its next attempt. */
  inFlight: number;
  /** Events the receiver accepted (2xx). */
  delivered: number;
  /** Events given up after their attempts (or refused with a 4xx other than 408 / 429). */
  failed: number;
  /** Events dropped: the queue was full, or still pending when the broker stopped or the webhook was reconfigured. */
  dropped: number;
  /** Attempts after the first one. */
  retries: number;
}

export interface WebhookStats {
  endpoints: WebhookEndpointStats[];
  queued: number;
  delivered: number;
  failed: number;
  dropped: number;
  retries: number;
}

/** What `events` emits with 'delivered', 'retrying', 'failed' and 'dropped'. */
export interface WebhookOutcome {
  app: string;
  url: string;
  event: WebhookEventName;
  /** The event's `id` (absent for 'dropped': its body was never built). */
  id?: string;
  /** Attempts made so far. */
  attempts: number;
  /** Why the last attempt failed ('retrying', 'failed'), or why it was dropped. */
  reason?: string;
  /** 'retrying': the wait before the next attempt, ms. */
  delayMs?: number;
}

/** Read-only view for the broker's owner: counters and outcomes. */
export interface WebhookMonitor {
  stats(): WebhookStats;
  /** 'delivered' | 'retrying' | 'failed' | 'dropped', each with a WebhookOutcome. */
  readonly events: EventEmitter;
}

/** A pino Logger fits. */
export interface WebhookLog {
  warn(fields: object, msg: string): void;
}

export interface WebhookOptions {
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Event times, ms since the epoch (the broker's clock). Default: Date.now. */
  now?: () => number;
  logger?: WebhookLog;
}

/** One event, shared by every URL of the application that wants it. */
interface WebhookEvent {
  readonly seq: number;
  readonly name: WebhookEventName;
  readonly app: string;
  readonly time: number;
  /** Small fields known at once (identity strings, the filter, the reason). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Message events: what the body tells of the message; its payload encoded only when the body is built. */
  readonly msg: MessageFields | null;
  /** Bodies, built at the first attempt: with the payload, and without it (too large for a URL). */
  body?: string;
  bodyWithoutPayload?: string;
}

/**
 * What a message event keeps of the message: its payload only if some URL it goes to takes
 * payloads that large, so a queue holds at most maxQueue x maxPayloadBytes of payloads.
 */
interface MessageFields {
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly from: string | null;
  readonly contentType: string | undefined;
  readonly payloadSize: number;
  /** The message's own (immutable) payload, not a copy; null when no URL would send it. */
  readonly payload: Buffer | null;
}

function messageFields(m: Message, keepPayload: boolean): MessageFields {
  return {
    topic: m.topic,
    qos: m.qos,
    retain: m.retain,
    from: m.sender === null ? null : m.sender.clientId,
    contentType: m.meta?.contentType,
    payloadSize: m.payload.length,
    payload: keepPayload ? m.payload : null,
  };
}

interface Deps {
  fetch: typeof fetch;
  events: EventEmitter;
  logger: WebhookLog | null;
  idPrefix: string;
}

function eventId(e: WebhookEvent, deps: Deps): string {
  return `${deps.idPrefix}${e.seq}`;
}

function render(e: WebhookEvent, id: string, withPayload: boolean): string {
  const out: Record<string, unknown> = { id, event: e.name, app: e.app, time: e.time, ...e.fields };
  const m = e.msg;
  if (m !== null) {
    out.topic = m.topic;
    out.qos = m.qos;
    out.retain = m.retain;
    out.from = m.from;
    if (m.contentType !== undefined) out.contentType = m.contentType;
    out.payloadSize = m.payloadSize;
    if (withPayload && m.payload !== null) out.payload = m.payload.toString('base64');
    else out.payloadOmitted = true;
  }
  return JSON.stringify(out);
}

/** The body for a URL whose payload limit is `maxPayloadBytes` (built once per variant). */
function bodyOf(e: WebhookEvent, deps: Deps, maxPayloadBytes: number): string {
  const withPayload = e.msg === null || (e.msg.payload !== null && e.msg.payloadSize <= maxPayloadBytes);
  if (withPayload) return (e.body ??= render(e, eventId(e, deps), true));
  return (e.bodyWithoutPayload ??= render(e, eventId(e, deps), false));
}

type Attempt = { ok: true } | { ok: false; retry: boolean; reason: string };

/** One URL of one application: its queue, its delivery loop, its counters. */
class WebhookEndpoint {
  private readonly queue = new Deque<WebhookEvent>();
  delivered = 0;
  failed = 0;
  dropped = 0;
  retries = 0;
  inFlight = 0;
  private running = false;
  /** No more events accepted (stopping or replaced). */
  private closing = false;
  /** Aborts the request in flight and the wait between attempts. */
  private readonly abort = new AbortController();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private wake: (() => void) | null = null;
  private idle: Array<() => void> = [];
  readonly url: string;

  constructor(
    readonly app: string,
    readonly config: WebhookConfig,
    private readonly deps: Deps,
  ) {
    this.url = displayUrl(config.url);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** O(1): queue the event (or drop it, counted) and make sure the loop runs, later. */
  enqueue(e: WebhookEvent): void {
    if (this.closing) {
      this.drop(e, 'stopping');
      return;
    }
    if (this.queue.length >= this.config.maxQueue) {
      this.drop(e, 'queue full (maxQueue)');
      return;
    }
    this.queue.push(e);
    if (!this.running) {
      this.running = true;
      // Never on the caller's stack: the event happened inside a publish, a subscribe, a close.
      setImmediate(() => void this.run());
    }
  }

  private drop(e: WebhookEvent, reason: string): void {
    this.dropped++;
    // The first drop, then every 1000th: a flood must not flood the log too.
    if (this.dropped % 1000 === 1) this.deps.logger?.warn({ app: this.app, url: this.url, event: e.name, dropped: this.dropped, reason }, 'webhook event dropped');
    this.deps.events.emit('dropped', { app: this.app, url: this.url, event: e.name, attempts: 0, reason } satisfies WebhookOutcome);
  }

  private async run(): Promise<void> {
    for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
      if (this.abort.signal.aborted) {
        this.drop(e, 'stopped');
        continue;
      }
      this.inFlight = 1;
      try {
        await this.deliver(e);
      } catch (err) {
        // Not expected (fetch failures are answers): counted, and the loop goes on.
        this.failed++;
        this.deps.logger?.warn({ app: this.app, url: this.url, err }, 'webhook delivery failed');
      }
      this.inFlight = 0;
    }
    this.running = false;
    const idle = this.idle;
    this.idle = [];
    for (const f of idle) f();
  }

  private async deliver(e: WebhookEvent): Promise<void> {
    const c = this.config;
    const body = bodyOf(e, this.deps, c.maxPayloadBytes);
    const id = eventId(e, this.deps);
    let reason = '';
    let attempts = 0;
    while (attempts < c.maxAttempts) {
      if (attempts > 0) {
        const delayMs = retryDelay(attempts, c.retryDelayMs);
        this.deps.events.emit('retrying', { app: this.app, url: this.url, event: e.name, id, attempts, reason, delayMs } satisfies WebhookOutcome);
        await this.sleep(delayMs);
        if (this.abort.signal.aborted) break;
        this.retries++;
      }
      attempts++;
      const r = await this.post(e, body);
      if (r.ok) {
        this.delivered++;
        this.deps.events.emit('delivered', { app: this.app, url: this.url, event: e.name, id, attempts } satisfies WebhookOutcome);
        return;
      }
      reason = r.reason;
      if (!r.retry || this.abort.signal.aborted) break;
    }
    if (this.abort.signal.aborted) {
      this.drop(e, 'stopped');
      return;
    }
    this.failed++;
    this.deps.logger?.warn({ app: this.app, url: this.url, event: e.name, id, attempts, reason }, 'webhook event given up');
    this.deps.events.emit('failed', { app: this.app, url: this.url, event: e.name, id, attempts, reason } satisfies WebhookOutcome);
  }

  private async post(e: WebhookEvent, body: string): Promise<Attempt> {
    const c = this.config;
    const t = Math.floor(Date.now() / 1000);
    try {
      const res = await this.deps.fetch(c.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature(c.secret, body, t), [EVENT_HEADER]: e.name },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(c.timeoutMs), this.abort.signal]),
      });
      // The answer's body is not read: release the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      const s = res.status;
      return { ok: false, retry: s >= 500 || s === 408 || s === 429, reason: `HTTP ${s}` };
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError') return { ok: false, retry: true, reason: `timed out after ${c.timeoutMs} ms` };
      if (name === 'AbortError') return { ok: false, retry: false, reason: 'stopped' };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { ok: false, retry: true, reason: `unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}` };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  /** Resolves when nothing is queued or being sent. */
  drained(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Accept no more events (what is queued goes on). */
  seal(): void {
    this.closing = true;
  }

  /** Give up: the request in flight is aborted, the wait cut short, what is queued dropped (counted). */
  close(): void {
    this.closing = true;
    this.abort.abort();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
    // Not running: the loop would not see them. Running: it drops them as it goes.
    if (!this.running) for (const e of this.queue.clear()) this.drop(e, 'stopped');
  }

  stats(): WebhookEndpointStats {
    return { app: this.app, url: this.url, queued: this.queue.length, inFlight: this.inFlight, delivered: this.delivered, failed: this.failed, dropped: this.dropped, retries: this.retries };
  }
}

/** The webhooks of one application, by event. */
class AppWebhooks {
  endpoints: WebhookEndpoint[] = [];
  byEvent = emptyByEvent();
  /** `message.published`: each filter with its URL. */
  publish: Array<{ filter: string; endpoint: WebhookEndpoint }> = [];
  application: Application | null = null;
  /** DeadLetters.count when last seen: a drop that raised it was dead-lettered. */
  lettered = 0;
  /** Stops observing the router's publishes (null: not observing). */
  unwrap: (() => void) | null = null;

  constructor(readonly app: string) {}
}

function emptyByEvent(): Record<WebhookEventName, WebhookEndpoint[]> {
  return { 'client.connected': [], 'client.disconnected': [], 'subscription.added': [], 'subscription.removed': [], 'message.published': [], 'message.dead_lettered': [] };
}

/** A stable key of a webhook's settings: a reload keeps an unchanged webhook (and its queue). */
function keyOf(w: WebhookConfig): string {
  return JSON.stringify([w.url, w.secret, [...w.events].sort(), w.topics ?? [], w.timeoutMs, w.maxAttempts, w.retryDelayMs, w.maxQueue, w.maxPayloadBytes]);
}

/** The inbox a direct message was for (`$inbox/<id>[/...]`), or null. */
function inboxTarget(topic: string): string | null {
  if (!topic.startsWith('$inbox/')) return null;
  const slash = topic.indexOf('/', 7);
  return topic.slice(7, slash < 0 ? undefined : slash);
}

function clientFields(info: ClientInfo): Record<string, unknown> {
  return { clientId: info.clientId, login: info.login, profile: info.profile, protocol: info.protocol, transport: info.transport, remoteAddress: info.remoteAddress };
}

function sessionFields(s: Session): Record<string, unknown> {
  const id = s.identity;
  return { clientId: s.clientId, login: id?.login ?? s.clientId, profile: s.profile };
}

/**
 * Every application's webhooks. The broker (broker.ts) passes its hooks through `hooks()`,
 * gives each application the listener of `dropListener()`, and `attach()`es each application
 * once its stored state is back (restored subscriptions and dead letters are not reported).
 */
export class Webhooks implements WebhookMonitor {
  readonly events = new EventEmitter();
  private readonly apps = new Map<string, AppWebhooks>();
  private readonly deps: Deps;
  private readonly now: () => number;
  private seq = 0;
  private stopped = false;

  constructor(applications: readonly ApplicationConfig[], opts: WebhookOptions = {}) {
    this.deps = { fetch: opts.fetch ?? ((input, init) => fetch(input, init)), events: this.events, logger: opts.logger ?? null, idPrefix: `${randomBytes(6).toString('hex')}-` };
    this.now = opts.now ?? Date.now;
    for (const a of applications) {
      const st = new AppWebhooks(a.id);
      this.apps.set(a.id, st);
      this.configure(st, a.webhooks ?? []);
    }
  }

  /**
   * The broker's hooks with `onConnectionClose` (client.disconnected, with its reason) added in
   * front of the embedder's own. The embedder's object stays the prototype: its other hooks (own
   * or inherited) are used as they are.
   */
  hooks(user: BrokerHooks): BrokerHooks {
    if (this.apps.size === 0) return user;
    const own = user.onConnectionClose;
    const hooks = Object.create(user) as BrokerHooks;
    hooks.onConnectionClose = (client, reason) => {
      this.connectionClosed(client, reason);
      own?.call(user, client, reason);
    };
    return hooks;
  }

  /** The drop listener of application `app` (message.dead_lettered), followed by `next`. */
  dropListener(app: string, next: DropListener | undefined): DropListener | undefined {
    const st = this.apps.get(app);
    if (st === undefined) return next;
    return (s, m, r) => {
      this.dropped(st, s, m, r);
      next?.(s, m, r);
    };
  }

  /** Listen to the application's lifecycle events; wrap its publish if a webhook wants publishes. */
  attach(application: Application): void {
    const st = this.apps.get(application.id);
    if (st === undefined || st.application === application) return;
    st.application = application;
    st.lettered = application.deadLetters.count;
    const ev = application.router.events;
    ev.on('online', (s: Session) => {
      const targets = st.byEvent['client.connected'];
      if (targets.length > 0 && s.identity !== null) this.emit(st, targets, 'client.connected', clientFields(s.identity), null);
    });
    ev.on('subscribe', (s: Session, sub: Subscription<Session>, replaced: boolean) => {
      const targets = st.byEvent['subscription.added'];
      if (targets.length > 0) this.emit(st, targets, 'subscription.added', { ...sessionFields(s), filter: sub.raw, qos: sub.qos, replaced }, null);
    });
    ev.on('unsubscribe', (s: Session, sub: Subscription<Session>) => {
      const targets = st.byEvent['subscription.removed'];
      if (targets.length > 0) this.emit(st, targets, 'subscription.removed', { ...sessionFields(s), filter: sub.raw }, null);
    });
    this.wrapPublish(st);
  }

  /** Apply reloaded applications: unchanged webhooks keep their queues; changed and removed ones are closed. */
  reconfigure(applications: readonly ApplicationConfig[]): void {
    if (this.stopped) return;
    for (const a of applications) {
      const st = this.apps.get(a.id);
      if (st !== undefined) this.configure(st, a.webhooks ?? []);
    }
  }

  stats(): WebhookStats {
    const endpoints: WebhookEndpointStats[] = [];
    const total = { queued: 0, delivered: 0, failed: 0, dropped: 0, retries: 0 };
    for (const st of this.apps.values()) {
      for (const e of st.endpoints) {
        const s = e.stats();
        endpoints.push(s);
        total.queued += s.queued;
        total.delivered += s.delivered;
        total.failed += s.failed;
        total.dropped += s.dropped;
        total.retries += s.retries;
      }
    }
    return { endpoints, ...total };
  }

  /**
   * Stop: no new events; what is queued gets up to `graceMs` to be delivered, then the requests
   * still in flight are aborted and the rest dropped (counted). Resolves within `graceMs` plus
   * 100 ms, whatever the receivers do.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const all = [...this.apps.values()].flatMap((st) => st.endpoints);
    for (const st of this.apps.values()) st.unwrap?.();
    for (const e of all) e.seal();
    if (all.length === 0) return;
    if (graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.all(all.map((e) => e.drained())), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    for (const e of all) e.close();
    // Aborted requests settle within a few turns; the loops then drop (and count) what is left.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(all.map((e) => e.drained())), new Promise<void>((r) => (timer = setTimeout(r, AFTER_ABORT_MS)))]);
    clearTimeout(timer);
  }

  // ---- sources ----------------------------------------------------------------------------

  /** The onConnectionClose hook: client.disconnected. */
  connectionClosed(client: ClientInfo, reason: string): void {
    const st = this.apps.get(client.app);
    if (st === undefined) return;
    const targets = st.byEvent['client.disconnected'];
    if (targets.length > 0) this.emit(st, targets, 'client.disconnected', { ...clientFields(client), reason }, null);
  }

  /**
   * A drop in the application: a dead letter when DeadLetters, which saw it first, counted one.
   * The dead-letter envelope's own drops ($dlq/ topics, while DeadLetters publishes it) are
   * never dead letters, and would see a count raised by the drop that caused them.
   */
  private dropped(st: AppWebhooks, s: Session | null, m: Message, reason: string): void {
    const a = st.application;
    if (a === null || m.topic.startsWith('$dlq/')) return;
    const count = a.deadLetters.count;
    if (count === st.lettered) return;
    st.lettered = count;
    const targets = st.byEvent['message.dead_lettered'];
    if (targets.length > 0) this.emit(st, targets, 'message.dead_lettered', { reason, to: s?.clientId ?? inboxTarget(m.topic) }, m);
  }

  /** A message routed in the application on a configured filter (Router.observe). */
  private published(st: AppWebhooks, msg: Message, deliveries: number): void {
    const rules = st.publish;
    let targets: WebhookEndpoint[] | null = null;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if ((targets === null || !targets.includes(r.endpoint)) && filterMatches(r.filter, msg.topic)) (targets ??= []).push(r.endpoint);
    }
    if (targets !== null) this.emit(st, targets, 'message.published', { deliveries }, msg);
  }

  private emit(st: AppWebhooks, targets: readonly WebhookEndpoint[], name: WebhookEventName, fields: Record<string, unknown>, msg: Message | null): void {
    const size = msg === null ? 0 : msg.payload.length;
    const keepPayload = msg !== null && targets.some((t) => size <= t.config.maxPayloadBytes);
    const e: WebhookEvent = { seq: ++this.seq, name, app: st.app, time: this.now(), fields, msg: msg === null ? null : messageFields(msg, keepPayload) };
    for (let i = 0; i < targets.length; i++) targets[i]!.enqueue(e);
  }

  // ---- configuration ----------------------------------------------------------------------

  private configure(st: AppWebhooks, configs: readonly WebhookConfig[]): void {
    const old = new Map<string, WebhookEndpoint>();
    for (const e of st.endpoints) old.set(keyOf(e.config), e);
    const endpoints: WebhookEndpoint[] = [];
    for (const c of configs) {
      const k = keyOf(c);
      const kept = old.get(k);
      old.delete(k);
      endpoints.push(kept ?? new WebhookEndpoint(st.app, c, this.deps));
    }
    for (const gone of old.values()) gone.close();
    st.endpoints = endpoints;
    st.byEvent = emptyByEvent();
    st.publish = [];
    for (const e of endpoints) {
      for (const name of new Set(e.config.events)) st.byEvent[name].push(e);
      if (e.config.events.includes('message.published')) for (const filter of e.config.topics ?? []) st.publish.push({ filter, endpoint: e });
    }
    if (st.application !== null) this.wrapPublish(st);
  }

  /**
   * Observe the router's publishes on the configured filters (Router.observe), while there are
   * any: every publish routed in the application (clients', wills, direct, server-side, the
   * broker's own) is seen once; copies from other cluster nodes are not (their node sends them).
   */
  private wrapPublish(st: AppWebhooks): void {
    st.unwrap?.();
    const router = st.application?.router;
    if (router === undefined || st.publish.length === 0 || this.stopped) return;
    const stop = router.observe({ filters: [...new Set(st.publish.map((r) => r.filter))], seen: (msg, n) => this.published(st, msg, n) });
    st.unwrap = () => {
      stop();
      st.unwrap = null;
    };
  }
}
