/**
 * Lifecycle webhooks end to end: a real broker, a real MQTT client (MQTT.js), and a real
 * node:http receiver on 127.0.0.1:0 that checks every signature by recomputing the HMAC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { webhookSchema } from '../../src/config/schema.js';
import type { WebhookOutcome } from '../../src/http/webhooks.js';
import { startBroker } from '../helpers/broker.js';
import { APP_KEY, contactCentre, KEYS } from '../helpers/apps.js';
import { connect, end } from '../helpers/mqtt.js';

const SECRET = 'whsec-0123456789abcdef';

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  res: ServerResponse;
  /** Resolves when the broker's side of the request goes away (answered, or aborted). */
  closed: Promise<void>;
}

/** An HTTP receiver; `status(n, hit)` answers the n-th request (from 1), or never (null). */
class Receiver {
  readonly hits: Hit[] = [];
  private waiters: Array<(h: Hit) => void> = [];
  private next_ = 0;
  private readonly server: Server;
  url = '';

  constructor(status: (n: number, hit: Hit) => number | null = () => 204) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const closed = new Promise<void>((r) => res.once('close', () => r()));
        const hit: Hit = { path: req.url ?? '', headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown>, res, closed };
        this.hits.push(hit);
        const s = status(this.hits.length, hit);
        if (s !== null) res.writeHead(s, { 'content-type': 'text/plain' }).end('ok');
        this.waiters.shift()?.(hit);
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next request, in arrival order. */
  next(ms = 5000): Promise<Hit> {
    const i = this.next_++;
    const h = this.hits[i];
    if (h !== undefined) return Promise.resolve(h);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no webhook request #${i + 1} within ${ms} ms`)), ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** The receiver's check: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, recent. */
function assertSigned(h: Hit): void {
  const header = String(h.headers['x-switchboard-signature']);
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  assert.ok(m, `signature header: ${header}`);
  const expected = createHmac('sha256', SECRET).update(`${m[1]}.${h.body}`).digest();
  assert.ok(timingSafeEqual(Buffer.from(m[2]!, 'hex'), expected), 'the HMAC matches the raw body');
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 60, 'a recent timestamp');
  assert.equal(h.headers['content-type'], 'application/json');
  assert.equal(h.headers['x-switchboard-event'], h.json.event);
}

/** The next `name` outcome of the broker's webhooks (within 5 s). */
async function outcome(events: EventEmitter, name: string): Promise<WebhookOutcome> {
  const [o] = (await once(events, name, { signal: AbortSignal.timeout(5000) })) as [WebhookOutcome];
  return o;
}

const ALL = ['client.connected', 'client.disconnected', 'subscription.added', 'subscription.removed', 'message.published', 'message.dead_lettered'];
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('connect, subscribe, publish, unsubscribe, dead letter, disconnect: in order, signed', async (t) => {
  const r = await new Receiver().listen();
  t.after(() => r.close());
  const webhooks = [webhookSchema.parse({ url: `${r.url}/events`, secret: SECRET, events: ALL, topics: ['calls/#'] })];
  const b = await startBroker({ applications: [contactCentre({ webhooks })] });
  t.after(() => b.stop());

  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'agent-1', username: APP_KEY, password: KEYS.AGENT });
  await c.subscribeAsync('calls/agent-1/#', { qos: 1 });
  await c.publishAsync('calls/agent-1/state', 'ringing', { qos: 1 });
  await c.publishAsync('users/agent-1/notes', 'no filter matches this', { qos: 1 });
  await c.unsubscribeAsync('calls/agent-1/#');
  await c.publishAsync('$inbox/nobody', 'hello?', { qos: 1 }); // unknown client: a dead letter
  await c.endAsync();

  const hits: Hit[] = [];
  for (let i = 0; i < 6; i++) hits.push(await r.next());
  for (const h of hits) assertSigned(h);
  const client = { clientId: 'agent-1', login: 'agent-1', profile: 'AGENT' };
  const connection = { ...client, protocol: 'mqtt', transport: 'tcp' };
  const strip = (h: Hit): Record<string, unknown> => {
    const { id: _id, time: _time, remoteAddress: _ra, ...rest } = h.json;
    return rest;
  };
  assert.deepEqual(hits.map(strip), [
    { event: 'client.connected', app: 'cc', ...connection },
    { event: 'subscription.added', app: 'cc', ...client, filter: 'calls/agent-1/#', qos: 1, replaced: false },
    { event: 'message.published', app: 'cc', deliveries: 1, topic: 'calls/agent-1/state', qos: 1, retain: false, from: 'agent-1', payloadSize: 7, payload: b64('ringing') },
    { event: 'subscription.removed', app: 'cc', ...client, filter: 'calls/agent-1/#' },
    { event: 'message.dead_lettered', app: 'cc', reason: 'no-subscribers', to: 'nobody', topic: '$inbox/nobody', qos: 1, retain: false, from: 'agent-1', payloadSize: 6, payload: b64('hello?') },
    { event: 'client.disconnected', app: 'cc', ...connection, reason: 'clean' },
  ]);
  assert.match(String(hits[0]!.json.remoteAddress), /127\.0\.0\.1$/);
  assert.equal(hits[5]!.json.remoteAddress, hits[0]!.json.remoteAddress);
  assert.equal(new Set(hits.map((h) => h.json.id)).size, 6, 'every event has its own id');
  const times = hits.map((h) => Number(h.json.time));
  assert.deepEqual([...times].sort((x, y) => x - y), times);
  assert.ok(Math.abs(times[0]! - Date.now()) < 60_000);
  assert.ok(hits.every((h) => h.path === '/events'));

  await b.stop(); // gives anything still queued its grace: nothing more was sent
  assert.equal(r.hits.length, 6);
  const s = b.broker.webhooks.stats();
  assert.deepEqual([s.delivered, s.failed, s.dropped, s.retries, s.queued], [6, 0, 0, 0, 0]);
});

test('a receiver answering 500 twice, then 200, gets the event on the third attempt', async (t) => {
  const r = await new Receiver((n) => (n <= 2 ? 500 : 200)).listen();
  t.after(() => r.close());
  const webhooks = [webhookSchema.parse({ url: r.url, secret: SECRET, events: ['client.connected'], retryDelayMs: 20 })];
  const b = await startBroker({ applications: [contactCentre({ webhooks })] });
  t.after(() => b.stop());
  const delivered = outcome(b.broker.webhooks.events, 'delivered');

  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'agent-2', username: APP_KEY, password: KEYS.AGENT });
  t.after(() => end(c));
  const out = await delivered;
  assert.equal(out.event, 'client.connected');
  assert.equal(out.attempts, 3);
  assert.equal(r.hits.length, 3);
  for (const h of r.hits) assertSigned(h);
  assert.ok(r.hits.every((h) => h.body === r.hits[0]!.body), 'the same event, the same id, each time');
  assert.equal(r.hits[0]!.json.clientId, 'agent-2');
  const s = b.broker.webhooks.stats();
  assert.deepEqual([s.delivered, s.failed, s.retries, s.dropped], [1, 0, 2, 0]);
});

test('a receiver that never answers is timed out, and the broker still stops promptly', async (t) => {
  const r = await new Receiver(() => null).listen();
  t.after(() => r.close());
  const webhooks = [
    webhookSchema.parse({ url: `${r.url}/short`, secret: SECRET, events: ['client.connected'], timeoutMs: 200, maxAttempts: 1 }),
    webhookSchema.parse({ url: `${r.url}/long`, secret: SECRET, events: ['subscription.added'], timeoutMs: 60_000 }),
  ];
  const b = await startBroker({ applications: [contactCentre({ webhooks })] });
  let stopped = false;
  t.after(() => (stopped ? undefined : b.stop()));
  const failed = outcome(b.broker.webhooks.events, 'failed');

  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'agent-3', username: APP_KEY, password: KEYS.AGENT });
  t.after(() => end(c));
  const short = await r.next();
  assert.equal(short.path, '/short');
  const out = await failed;
  assert.equal(out.reason, 'timed out after 200 ms');
  assert.equal(out.attempts, 1);
  await short.closed; // the broker gave the request up

  await c.subscribeAsync('calls/agent-3/#', { qos: 1 });
  const long = await r.next();
  assert.equal(long.path, '/long');
  assert.equal(long.json.event, 'subscription.added');
  const t0 = performance.now();
  await b.stop();
  stopped = true;
  const ms = performance.now() - t0;
  assert.ok(ms < 1000 + 1500, `stop took ${Math.round(ms)} ms with a request hanging (grace 1000 ms)`);
  await long.closed; // aborted
  const byUrl = Object.fromEntries(b.broker.webhooks.stats().endpoints.map((e) => [e.url.slice(r.url.length), e]));
  assert.deepEqual([byUrl['/short']?.failed, byUrl['/short']?.delivered], [1, 0]);
  assert.deepEqual([byUrl['/long']?.dropped, byUrl['/long']?.delivered, byUrl['/long']?.queued, byUrl['/long']?.inFlight], [1, 0, 0, 0]);
});
