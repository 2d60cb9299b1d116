/** Webhooks without a network: a fake fetch, mocked timers, a real Application (no broker). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Application } from '../core/application.js';
import type { ClientInfo } from '../core/hooks.js';
import { createMessage } from '../core/message.js';
import type { Session, SessionLink } from '../core/session.js';
import { ConfigError, resolveConfig } from '../config/load.js';
import { redact } from '../config/redact.js';
import type { ApplicationConfig, BrokerConfig } from '../config/types.js';
import { MAX_RETRY_DELAY_MS, retryDelay, signature, Webhooks } from './webhooks.js';
import type { WebhookOutcome } from './webhooks.js';

const SECRET = 'a-secret-of-16+chars';

function config(webhooks: unknown[]): BrokerConfig {
  return resolveConfig([{ source: 'test', data: { applications: [{ id: 'cc', appKey: 'app-key-123', profileKeys: { AGENT: 'agent-key-1' }, webhooks }] } }]);
}

const hook = (o: Record<string, unknown> = {}): Record<string, unknown> => ({ url: 'http://127.0.0.1:9/hook', secret: SECRET, events: ['client.disconnected'], ...o });

interface Call {
  url: string;
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal;
}

/** A fetch that records its calls and answers with `answer(n)` (n from 1). */
function fakeFetch(answer: (n: number, signal: AbortSignal) => Promise<Response> | Response = () => new Response(null, { status: 204 })): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const signal = init!.signal!;
    calls.push({ url: String(input), body: String(init?.body), headers: init?.headers as Record<string, string>, signal });
    return answer(calls.length, signal);
  }) as typeof fetch;
  return { fetch: f, calls };
}

/** Never answers; rejects when aborted (timeout or stop). */
const hang = (_n: number, signal: AbortSignal): Promise<Response> => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));

/** Let the delivery loops run: immediates and the promise chains behind them. */
async function flush(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

const INFO: ClientInfo = { clientId: 'agent-1', login: 'agent-1', profile: 'AGENT', app: 'cc', protocol: 'mqtt', transport: 'tcp', remoteAddress: '127.0.0.1' };

function collect(w: Webhooks, name: string): WebhookOutcome[] {
  const out: WebhookOutcome[] = [];
  w.events.on(name, (o: WebhookOutcome) => out.push(o));
  return out;
}

// ---- signature, schedule -------------------------------------------------------------------

test('signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
  const body = '{"event":"client.connected"}';
  const h = signature(SECRET, body, 1_700_000_000);
  const expected = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
  assert.equal(h, `t=1700000000,v1=${expected}`);
  assert.notEqual(signature(SECRET, `${body} `, 1_700_000_000), h);
  assert.notEqual(signature(`${SECRET}x`, body, 1_700_000_000), h);
  assert.notEqual(signature(SECRET, body, 1_700_000_001), h);
});

test('retry delays double from retryDelayMs, capped', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelay(a, 1000)), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(retryDelay(10, 600_000), MAX_RETRY_DELAY_MS);
});

test('a delivery is signed, carries the event header and a JSON body with the event fields', async () => {
  const { fetch, calls } = fakeFetch();
  const w = new Webhooks(config([hook()]).applications, { fetch, now: () => 1234 });
  w.connectionClosed(INFO, 'keepalive-timeout');
  assert.equal(calls.length, 0, 'never on the caller’s stack');
  await flush();
  assert.equal(calls.length, 1);
  const c = calls[0]!;
  assert.equal(c.url, 'http://127.0.0.1:9/hook');
  assert.equal(c.headers['content-type'], 'application/json');
  assert.equal(c.headers['x-switchboard-event'], 'client.disconnected');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(c.headers['x-switchboard-signature']!);
  assert.ok(m, c.headers['x-switchboard-signature']);
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 5);
  assert.equal(m[2], createHmac('sha256', SECRET).update(`${m[1]}.${c.body}`).digest('hex'));
  const body = JSON.parse(c.body) as Record<string, unknown>;
  assert.match(String(body.id), /^[0-9a-f]{12}-1$/);
  const { id: _id, ...rest } = body;
  assert.deepEqual(rest, { event: 'client.disconnected', app: 'cc', time: 1234, clientId: 'agent-1', login: 'agent-1', profile: 'AGENT', protocol: 'mqtt', transport: 'tcp', remoteAddress: '127.0.0.1', reason: 'keepalive-timeout' });
  assert.deepEqual(w.stats(), { endpoints: [{ app: 'cc', url: 'http://127.0.0.1:9/hook', queued: 0, inFlight: 0, delivered: 1, failed: 0, dropped: 0, retries: 0 }], queued: 0, delivered: 1, failed: 0, dropped: 0, retries: 0 });
  await w.stop(0);
});

test('backoff: attempts at 0, +1 s, +2 s, +4 s (mocked timers), then given up and counted', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { fetch, calls } = fakeFetch(() => new Response('no', { status: 503 }));
  const w = new Webhooks(config([hook({ maxAttempts: 4, retryDelayMs: 1000 })]).applications, { fetch });
  const retrying = collect(w, 'retrying');
  const failed = collect(w, 'failed');
  w.connectionClosed(INFO, 'clean');
  await flush();
  assert.equal(calls.length, 1);
  const at = async (ms: number, expected: number): Promise<void> => {
    t.mock.timers.tick(ms);
    await flush();
    assert.equal(calls.length, expected, `after +${ms} ms`);
  };
  await at(999, 1);
  await at(1, 2);
  await at(1999, 2);
  await at(1, 3);
  await at(3999, 3);
  await at(1, 4);
  await at(600_000, 4); // no fifth attempt
  assert.deepEqual(retrying.map((r) => [r.attempts, r.delayMs, r.reason]), [[1, 1000, 'HTTP 503'], [2, 2000, 'HTTP 503'], [3, 4000, 'HTTP 503']]);
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.attempts, 4);
  assert.ok(calls.every((c) => c.body === calls[0]!.body), 'the same event (same id) each time');
  const s = w.stats();
  assert.deepEqual([s.delivered, s.failed, s.retries, s.queued], [0, 1, 3, 0]);
  await w.stop(0);
});

test('a 4xx other than 408 / 429 is not tried again; a network error is', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { fetch, calls } = fakeFetch((n) => {
    if (n === 1) return new Response(null, { status: 400 });
    if (n === 2) throw new TypeError('fetch failed');
    return new Response(null, { status: 200 });
  });
  const w = new Webhooks(config([hook({ retryDelayMs: 10 })]).applications, { fetch });
  const failed = collect(w, 'failed');
  const delivered = collect(w, 'delivered');
  w.connectionClosed(INFO, 'clean');
  w.connectionClosed({ ...INFO, clientId: 'agent-2' }, 'clean');
  await flush();
  assert.deepEqual(failed.map((f) => [f.attempts, f.reason]), [[1, 'HTTP 400']]);
  await flush();
  assert.equal(calls.length, 2);
  t.mock.timers.tick(10);
  await flush();
  assert.equal(calls.length, 3);
  assert.deepEqual(delivered.map((d) => d.attempts), [2]);
  await w.stop(0);
});

// ---- queue bound, stop ----------------------------------------------------------------------

test('the queue is bounded per URL: more events are dropped and counted; stop aborts and drops the rest', async () => {
  const { fetch, calls } = fakeFetch(hang);
  const w = new Webhooks(config([hook({ maxQueue: 2 })]).applications, { fetch });
  const dropped = collect(w, 'dropped');
  for (let i = 0; i < 5; i++) w.connectionClosed({ ...INFO, clientId: `c${i}` }, 'clean');
  assert.deepEqual(w.stats().endpoints.map((e) => [e.queued, e.dropped]), [[2, 3]]);
  assert.deepEqual(dropped.map((d) => d.reason), ['queue full (maxQueue)', 'queue full (maxQueue)', 'queue full (maxQueue)']);
  await flush();
  assert.equal(calls.length, 1);
  assert.deepEqual(w.stats().endpoints.map((e) => [e.inFlight, e.queued]), [[1, 1]]);
  await w.stop(0);
  assert.ok(calls[0]!.signal.aborted, 'the request in flight is aborted');
  const s = w.stats();
  assert.deepEqual([s.queued, s.delivered, s.failed, s.dropped], [0, 0, 0, 5]);
  w.connectionClosed(INFO, 'clean');
  assert.equal(w.stats().dropped, 6, 'nothing is accepted after stop');
  await flush();
  assert.equal(calls.length, 1);
});

test('stop gives queued events a grace to be delivered', async () => {
  let release: (() => void) | null = null;
  const { fetch, calls } = fakeFetch(() => new Promise<Response>((r) => (release = () => r(new Response(null, { status: 200 })))));
  const w = new Webhooks(config([hook()]).applications, { fetch });
  w.connectionClosed(INFO, 'clean');
  await flush();
  const stopping = w.stop(10_000);
  release!();
  await stopping;
  assert.equal(calls.length, 1);
  assert.equal(w.stats().delivered, 1);
});

// ---- sources: router events, drops, publishes ---------------------------------------------

function application(cfg: ApplicationConfig, w: Webhooks, limits = resolveConfig([]).limits): Application {
  const a = new Application(cfg, { limits, maxRedeliveries: 3, hooks: w.hooks({}), onDrop: w.dropListener(cfg.id, undefined) });
  w.attach(a);
  return a;
}

const LINK: SessionLink = { deliver: () => undefined, close: () => undefined, pump: () => undefined };

function online(a: Application, clientId: string): Session {
  return a.attach({ ...INFO, clientId, login: clientId }, LINK, true, 0, null).session;
}

const bodies = (calls: Call[]): Array<Record<string, unknown>> =>
  calls.map((c) => {
    const { id: _id, app: _app, time: _time, ...rest } = JSON.parse(c.body) as Record<string, unknown>;
    return rest;
  });

test('connected, subscription added / removed, dead letter: from the router events and the drop listener', async () => {
  const { fetch, calls } = fakeFetch();
  const cfg = config([hook({ events: ['client.connected', 'subscription.added', 'subscription.removed', 'message.dead_lettered'] })]);
  const w = new Webhooks(cfg.applications, { fetch });
  const a = application(cfg.applications[0]!, w);
  const s = online(a, 'agent-1');
  const sub = { subscriber: s, raw: 'calls/1', filter: 'calls/1', group: null, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };
  a.router.subscribe(s, sub);
  a.router.unsubscribe(s, 'calls/1');
  a.router.publish(createMessage('$inbox/nobody', Buffer.from('hi'), 1, false, null, 0, { clientId: 'agent-1', app: 'cc', profile: 'AGENT' }));
  a.router.publish(createMessage('calls/2', Buffer.from('nobody listens'), 1, false, null, 0, null)); // not a dead letter
  await flush(5);
  assert.deepEqual(bodies(calls), [
    { event: 'client.connected', clientId: 'agent-1', login: 'agent-1', profile: 'AGENT', protocol: 'mqtt', transport: 'tcp', remoteAddress: '127.0.0.1' },
    { event: 'subscription.added', clientId: 'agent-1', login: 'agent-1', profile: 'AGENT', filter: 'calls/1', qos: 1, replaced: false },
    { event: 'subscription.removed', clientId: 'agent-1', login: 'agent-1', profile: 'AGENT', filter: 'calls/1' },
    { event: 'message.dead_lettered', reason: 'no-subscribers', to: 'nobody', topic: '$inbox/nobody', qos: 1, retain: false, from: 'agent-1', payloadSize: 2, payload: Buffer.from('hi').toString('base64') },
  ]);
  assert.equal(a.router.observers, 0, 'no message.published webhook: nothing observes publishes');
  await w.stop(0);
});

test('no webhook wants publishes: nothing is added to the publish path', async () => {
  const { fetch, calls } = fakeFetch();
  const cfg = config([hook({ events: ['client.connected', 'client.disconnected', 'subscription.added', 'subscription.removed', 'message.dead_lettered'] })]);
  const w = new Webhooks(cfg.applications, { fetch });
  const a = application(cfg.applications[0]!, w);
  assert.equal(a.router.observers, 0);
  a.router.publish(createMessage('calls/1', Buffer.from('x'), 0, false, null, 0, null));
  await flush();
  assert.equal(calls.length, 0);
  await w.stop(0);
});

test('publishes: only topics matching a filter; nothing is built or queued for the others', async (t) => {
  const { fetch, calls } = fakeFetch();
  const cfg = config([
    hook({ url: 'http://127.0.0.1:9/a', events: ['message.published'], topics: ['calls/+/state', 'calls/#'], maxPayloadBytes: 4 }),
    hook({ url: 'http://127.0.0.1:9/b', events: ['message.published'], topics: ['$inbox/#'] }),
  ]);
  const w = new Webhooks(cfg.applications, { fetch, now: () => 5 });
  const a = application(cfg.applications[0]!, w);
  const from = { clientId: 'svc', app: 'cc', profile: 'SERVICE' as const };
  const stringify = t.mock.method(JSON, 'stringify');
  for (const topic of ['news/x', 'callsx/1', 'users/calls/1', '$SYS/calls']) a.router.publish(createMessage(topic, Buffer.from('x'), 1, false, null, 0, from));
  assert.equal(stringify.mock.callCount(), 0);
  assert.deepEqual(w.stats().endpoints.map((e) => e.queued + e.inFlight), [0, 0]);
  await flush();
  assert.equal(calls.length, 0);
  stringify.mock.restore();

  // Matching two filters of one URL: one event for it.
  a.router.publish(createMessage('calls/7/state', Buffer.from('ring'), 1, true, { contentType: 'text/plain' }, 0, from));
  a.router.publish(createMessage('calls/7/audio', Buffer.from('12345'), 0, false, null, 0, from));
  a.router.publish(createMessage('$inbox/agent-1', Buffer.from('hi'), 1, false, null, 0, from));
  await flush(6);
  const byUrl = (u: string): Array<Record<string, unknown>> => bodies(calls.filter((c) => c.url.endsWith(u)));
  assert.deepEqual(byUrl('/a'), [
    { event: 'message.published', deliveries: 0, topic: 'calls/7/state', qos: 1, retain: true, from: 'svc', contentType: 'text/plain', payloadSize: 4, payload: Buffer.from('ring').toString('base64') },
    { event: 'message.published', deliveries: 0, topic: 'calls/7/audio', qos: 0, retain: false, from: 'svc', payloadSize: 5, payloadOmitted: true },
  ]);
  assert.deepEqual(
    byUrl('/b').map((b) => [b.topic, b.payload]),
    [['$inbox/agent-1', Buffer.from('hi').toString('base64')]],
  );
  await w.stop(0);
  assert.equal(a.router.observers, 0, 'stop takes the observer away');
});

test('one event for several URLs is built once: the same id and body', async () => {
  const { fetch, calls } = fakeFetch();
  const cfg = config([hook({ url: 'http://127.0.0.1:9/a' }), hook({ url: 'http://127.0.0.1:9/b' })]);
  const w = new Webhooks(cfg.applications, { fetch });
  w.connectionClosed(INFO, 'clean');
  await flush();
  assert.equal(calls.length, 2);
  assert.equal(calls[0]!.body, calls[1]!.body);
  await w.stop(0);
});

test('hooks(): onConnectionClose added in front of the embedder’s; its other hooks (own or inherited) kept', async () => {
  const { fetch, calls } = fakeFetch();
  const w = new Webhooks(config([hook()]).applications, { fetch });
  const seen: string[] = [];
  class Hooks {
    prefix = 'user';
    authorizeSubscribe(): boolean {
      return false;
    }
    onConnectionClose(c: ClientInfo, reason: string): void {
      seen.push(`${this.prefix}:${c.clientId}:${reason}`);
    }
  }
  const h = w.hooks(new Hooks());
  assert.equal(h.authorizeSubscribe?.(INFO, 'x'), false);
  h.onConnectionClose?.(INFO, 'kicked');
  assert.deepEqual(seen, ['user:agent-1:kicked']);
  await flush();
  assert.equal(calls.length, 1);
  assert.equal(new Webhooks([]).hooks(h), h, 'development mode: unchanged');
  await w.stop(0);
});

test('reconfigure keeps unchanged webhooks with their counters, closes removed ones, wraps and unwraps publish', async () => {
  const { fetch } = fakeFetch();
  const cfg = config([hook({ url: 'http://127.0.0.1:9/keep' }), hook({ url: 'http://127.0.0.1:9/gone' })]);
  const w = new Webhooks(cfg.applications, { fetch });
  const a = application(cfg.applications[0]!, w);
  w.connectionClosed(INFO, 'clean');
  await flush();
  assert.deepEqual(w.stats().endpoints.map((e) => [e.url, e.delivered]), [['http://127.0.0.1:9/keep', 1], ['http://127.0.0.1:9/gone', 1]]);
  const next = config([hook({ url: 'http://127.0.0.1:9/keep' }), hook({ url: 'http://127.0.0.1:9/new', events: ['message.published'], topics: ['#'] })]);
  w.reconfigure(next.applications);
  assert.deepEqual(w.stats().endpoints.map((e) => [e.url, e.delivered]), [['http://127.0.0.1:9/keep', 1], ['http://127.0.0.1:9/new', 0]]);
  assert.equal(a.router.observers, 1);
  w.reconfigure(config([hook({ url: 'http://127.0.0.1:9/keep' })]).applications);
  assert.equal(a.router.observers, 0);
  await w.stop(0);
});

test('stats and logs show a URL without credentials or query', () => {
  const w = new Webhooks(config([hook({ url: 'https://user:pw@example.com:8443/hooks/sb?token=abc#x' })]).applications);
  assert.equal(w.stats().endpoints[0]!.url, 'https://example.com:8443/hooks/sb');
});

// ---- configuration -------------------------------------------------------------------------

test('configuration: defaults, and what is refused', () => {
  const w = config([hook()]).applications[0]!.webhooks![0]!;
  assert.deepEqual(w, { url: 'http://127.0.0.1:9/hook', secret: SECRET, events: ['client.disconnected'], timeoutMs: 5000, maxAttempts: 5, retryDelayMs: 1000, maxQueue: 1000, maxPayloadBytes: 65536 });
  assert.equal(config([]).applications[0]!.webhooks!.length, 0);
  const refused = (o: Record<string, unknown>, re: RegExp): void => assert.throws(() => config([hook(o)]), (err: Error) => err instanceof ConfigError && re.test(err.message), JSON.stringify(o));
  refused({ secret: 'short' }, /applications\[0\]\.webhooks\[0\]\.secret: at least 16 characters/);
  refused({ secret: undefined }, /webhooks\[0\]\.secret/);
  refused({ url: 'ftp://example.com/x' }, /webhooks\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/);
  refused({ url: 'not a url' }, /webhooks\[0\]\.url/);
  refused({ events: [] }, /webhooks\[0\]\.events: at least one event/);
  refused({ events: ['client.online'] }, /webhooks\[0\]\.events\[0\]/);
  refused({ events: ['message.published'] }, /webhooks\[0\]\.topics: required with the message.published event/);
  refused({ events: ['message.published'], topics: ['a/#/b'] }, /webhooks\[0\]\.topics\[0\]: not a valid topic filter/);
  refused({ events: ['message.published'], topics: ['a/b+'] }, /webhooks\[0\]\.topics\[0\]/);
  refused({ timeoutMs: 0 }, /webhooks\[0\]\.timeoutMs/);
  refused({ maxAttempts: 11 }, /webhooks\[0\]\.maxAttempts/);
  refused({ extra: true }, /webhooks\[0\]/);
  assert.doesNotThrow(() => config([hook({ url: 'https://example.com/x', events: ['message.published'], topics: ['a/+/b', '#', '$inbox/#'] })]));
  const shown = redact(config([hook()]));
  assert.equal(shown.applications[0]!.webhooks![0]!.secret, '***');
});
