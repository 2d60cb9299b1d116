/**
 * The HTTP API as a backend with only curl uses it: on the WebSocket listener's port, with the
 * application's keys; a real MQTT client (mosquitto_sub where installed, else npm mqtt) on the
 * other side. Every answer is also checked against the OpenAPI document the broker serves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { APP_KEY, contactCentre, KEYS } from '../helpers/apps.js';
import { connect, connectWithInbox } from '../helpers/mqtt.js';
import { checkAgainst } from './openapi-check.js';
import { signHs256 } from '../../src/auth/jwt.js';
import { LATENCY_SAMPLE } from '../../src/core/router.js';
import { CONFIRM_SAMPLE } from '../../src/core/application.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);
let b: RunningBroker;
let base: string;
let doc: Record<string, unknown>;

const basic = (profile: keyof typeof KEYS): string => `${APP_KEY}:${KEYS[profile]}`;

interface Answer {
  status: number;
  body: unknown;
}

/** curl, as a backend would call the API; the answer checked against the OpenAPI document. */
async function curl(method: string, path: string, o: { user?: string; json?: unknown; headers?: string[] } = {}): Promise<Answer> {
  const args = ['-s', '-X', method, '-w', '\n%{http_code}', `${base}${path}`];
  if (o.user !== undefined) args.push('-u', o.user);
  for (const h of o.headers ?? []) args.push('-H', h);
  if (o.json !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(o.json));
  const { stdout } = await run('curl', args);
  const nl = stdout.lastIndexOf('\n');
  const status = Number(stdout.slice(nl + 1));
  const text = stdout.slice(0, nl);
  const body: unknown = text.length > 0 ? JSON.parse(text) : null;
  if (doc !== undefined && path.startsWith('/api/v1/') && !path.startsWith('/api/v1/openapi')) checkAgainst(doc, method, path.split('?')[0]!, status, body);
  return { status, body };
}

before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt'], applications: [contactCentre()] });
  base = `http://127.0.0.1:${b.port('ws')}`;
  doc = (await curl('GET', '/api/v1/openapi.json')).body as Record<string, unknown>;
});

after(() => b.stop());

test('health and readiness answer without credentials; the API does not', async () => {
  assert.deepEqual(await curl('GET', '/healthz'), { status: 200, body: { status: 'ok' } });
  const ready = await curl('GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual((ready.body as { checks: unknown }).checks, { listening: true, store: true });
  const anon = await curl('GET', '/api/v1/clients');
  assert.equal(anon.status, 401);
  assert.equal((anon.body as { error: { code: string } }).error.code, 'SB_ERR_BAD_CREDENTIALS');
  const wrong = await curl('GET', '/api/v1/clients', { user: `${APP_KEY}:not-a-key` });
  assert.equal(wrong.status, 401);
});

test('/metrics serves the Prometheus text format with the broker\'s counters', async () => {
  // One message in LATENCY_SAMPLE is timed from publish to delivery.
  const admin = b.broker.admin.app('cc')!;
  for (let i = 0; i < LATENCY_SAMPLE; i++) admin.publish('calls/1/state', 'x', { qos: 1 });
  await new Promise((r) => setImmediate(r));
  const { stdout } = await run('curl', ['-s', '-i', `${base}/metrics`]);
  assert.match(stdout, /^switchboard_publish_to_delivery_seconds_count\{app="cc"\} [1-9]/m);
  assert.match(stdout, /^switchboard_publish_to_delivery_seconds_bucket\{le="\+Inf",app="cc"\} [1-9]/m);
  assert.match(stdout, new RegExp(`^switchboard_messages_in_by_qos_total\\{app="cc",qos="1"\\} ${LATENCY_SAMPLE}$`, 'm'));
  assert.match(stdout, /content-type: text\/plain; version=0\.0\.4/i);
  assert.match(stdout, /^switchboard_messages_in_total\{app="cc"\} \d+$/m);
  assert.match(stdout, /^process_cpu_user_seconds_total \d/m);
  assert.match(stdout, /^switchboard_auth_failures_total [1-9]/m, 'the wrong key of the test before');
  for (const family of ['switchboard_client_connections', 'switchboard_inflight_messages', 'switchboard_queue_depth_messages']) assert.match(stdout, new RegExp(`^# TYPE ${family} gauge$`, 'm'));
});

test('with http.metricsToken, /metrics answers only that bearer token', async () => {
  const other = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], applications: [contactCentre()], http: { metricsToken: 'scrape-token-0123456789' } });
  try {
    const url = `http://127.0.0.1:${other.port('ws')}/metrics`;
    const code = async (args: string[]): Promise<string> => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args, url])).stdout;
    assert.equal(await code([]), '401');
    assert.equal(await code(['-H', 'authorization: Bearer wrong-token-0123456789']), '401');
    assert.equal(await code(['-H', 'authorization: Bearer scrape-token-0123456789']), '200');
  } finally {
    await other.stop();
  }
});

test('with the SQLite store, /metrics times how long acknowledgements wait for the disk', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-metrics-'));
  const other = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt'], applications: [contactCentre()], store: { type: 'sqlite', dataDir } });
  try {
    const c = await connect(other.url('mqtt'), { clientId: 'svc-disk', username: APP_KEY, password: KEYS.SERVICE });
    // Retained QoS 1 messages are written before their PUBACK: one in CONFIRM_SAMPLE is timed.
    for (let i = 0; i < CONFIRM_SAMPLE; i++) await c.publishAsync('calls/disk/state', `v${i}`, { qos: 1, retain: true });
    await c.endAsync();
    const { stdout } = await run('curl', ['-s', `http://127.0.0.1:${other.port('ws')}/metrics`]);
    assert.match(stdout, /^switchboard_store_write_seconds_count\{app="cc"\} [1-9]/m);
  } finally {
    await other.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a Bearer JWT of the application, with X-App-Key, authenticates as its sub with its profile', async () => {
  const secret = 'http-jwt-secret-0123456789abcdef';
  const other = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], applications: [contactCentre({ jwt: { hs256Secret: secret } })] });
  try {
    const url = `http://127.0.0.1:${other.port('ws')}/api/v1/stats`;
    const code = async (token: string): Promise<string> => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `authorization: Bearer ${token}`, '-H', `x-app-key: ${APP_KEY}`, url])).stdout;
    assert.equal(await code(signHs256({ sub: 'ops-1', app: 'cc', profile: 'ADMIN' }, secret, 600)), '200');
    assert.equal(await code(signHs256({ sub: 'ops-1', app: 'cc', profile: 'SERVICE' }, secret, 600)), '403', 'SERVICE may not read stats');
    assert.equal(await code(signHs256({ sub: 'ops-1', app: 'cc', profile: 'ADMIN' }, 'another-secret-0123456789abcdef', 600)), '401');
  } finally {
    await other.stop();
  }
});

test('a SERVICE key publishes; an AGENT key may not; only ADMIN lists clients', async () => {
  const { client, inbox } = await connectWithInbox(b.url('mqtt'), { clientId: 'super-1', username: APP_KEY, password: KEYS.SUPER_AGENT, protocolVersion: 5 });
  await client.subscribeAsync('calls/#', { qos: 1 });
  const pub = await curl('POST', '/api/v1/publish', { user: basic('SERVICE'), json: { topic: 'calls/7/state', payload: 'ringing', qos: 1, contentType: 'text/plain' } });
  assert.deepEqual(pub, { status: 200, body: { deliveries: 1 } });
  const m = await inbox.next();
  assert.equal(m.topic, 'calls/7/state');
  assert.equal(m.payload.toString(), 'ringing');
  assert.equal((await curl('POST', '/api/v1/publish', { user: basic('AGENT'), json: { topic: 'calls/7/state', payload: 'x' } })).status, 403);
  assert.equal((await curl('GET', '/api/v1/clients', { user: basic('SERVICE') })).status, 403);
  const { stdout: scraped } = await run('curl', ['-s', `${base}/metrics`]);
  assert.match(scraped, /^switchboard_client_connections\{app="cc",protocol="mqtt",transport="tcp"\} 1$/m);
  assert.match(scraped, /^switchboard_messages_out_by_qos_total\{app="cc",qos="1"\} 1$/m, 'the one delivery to super-1');
  assert.match(scraped, /^switchboard_bytes_out_by_qos_total\{app="cc",qos="1"\} 7$/m, '"ringing"');
  const list = await curl('GET', '/api/v1/clients?online=true', { user: basic('ADMIN') });
  assert.equal(list.status, 200);
  assert.deepEqual((list.body as { items: Array<{ clientId: string }> }).items.map((c) => c.clientId), ['super-1']);
  const presence = await curl('GET', '/api/v1/presence?online=true', { user: basic('ADMIN') });
  assert.deepEqual((presence.body as { items: Array<{ client: string; profile: string }> }).items.map((p) => [p.client, p.profile]), [['super-1', 'SUPER_AGENT']]);
  await client.endAsync();
});

test('persistent sessions are listed and ended through /sessions', async () => {
  const { client } = await connectWithInbox(b.url('mqtt'), { clientId: 'agent-p', username: APP_KEY, password: KEYS.AGENT, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  await client.subscribeAsync('calls/agent-p/#', { qos: 1 });
  await client.endAsync(); // parked
  const list = await curl('GET', '/api/v1/sessions', { user: basic('ADMIN') });
  assert.deepEqual((list.body as { items: Array<{ clientId: string; online: boolean }> }).items.map((c) => [c.clientId, c.online]), [['agent-p', false]]);
  assert.deepEqual((await curl('DELETE', '/api/v1/sessions/agent-p', { user: basic('ADMIN') })).body, { disconnected: false, sessionEnded: true });
  assert.equal((await curl('GET', '/api/v1/clients/agent-p', { user: basic('ADMIN') })).status, 404);
  const presence = await curl('GET', '/api/v1/presence?online=false', { user: basic('ADMIN') });
  assert.ok((presence.body as { items: Array<{ client: string; reason?: string }> }).items.some((p) => p.client === 'agent-p' && p.reason === 'clean'));
});

test('bad requests get the catalogue error: invalid body, broker-owned topic, unknown route', async () => {
  const bad = await curl('POST', '/api/v1/publish', { user: basic('SERVICE'), json: { topic: 'a/b', payload: 'x', qos: 3 } });
  assert.equal(bad.status, 400);
  assert.equal((bad.body as { error: { code: string } }).error.code, 'SB_ERR_INVALID_REQUEST');
  const sys = await curl('POST', '/api/v1/publish', { user: basic('SERVICE'), json: { topic: '$SYS/x', payload: 'x' } });
  assert.equal(sys.status, 403);
  const nf = await curl('GET', '/api/v1/nothing', { user: basic('ADMIN') });
  assert.equal(nf.status, 404);
  assert.equal((nf.body as { error: { code: string } }).error.code, 'SB_ERR_NOT_FOUND');
  const notJson = await curl('POST', '/api/v1/publish', { user: basic('SERVICE'), headers: ['content-type: application/json'], json: undefined });
  assert.equal(notJson.status, 400);
});

test('mosquitto_sub sees a direct message and is kicked; the dead letter of a message to nobody is read and replayed', async () => {
  const { client, inbox } = await connectWithInbox(b.url('mqtt'), { clientId: 'agent-9', username: APP_KEY, password: KEYS.AGENT, protocolVersion: 5 });
  await client.subscribeAsync('$inbox/agent-9/#', { qos: 1 });
  const direct = await curl('POST', '/api/v1/direct', { user: basic('SERVICE'), json: { to: 'agent-9', payload: 'aGk=', encoding: 'base64' } });
  assert.deepEqual(direct.body, { deliveries: 1, outcome: 'delivered' });
  const m = await inbox.next();
  assert.equal(m.topic, '$inbox/agent-9');
  assert.equal(m.payload.toString(), 'hi');
  const closed = new Promise<number | undefined>((r) => client.once('disconnect', (p) => r(p.reasonCode)));
  const kick = await curl('DELETE', '/api/v1/clients/agent-9', { user: basic('ADMIN') });
  assert.deepEqual(kick.body, { disconnected: true, sessionEnded: true });
  assert.equal(await closed, 0x98);
  client.end(true);

  // A direct message to nobody is dead-lettered; an ADMIN reads it and replays it to a topic mosquitto_sub listens on.
  const dl = await curl('POST', '/api/v1/direct', { user: basic('SERVICE'), json: { to: 'nobody', payload: 'lost' } });
  assert.equal((dl.body as { outcome: string }).outcome, 'dead-lettered');
  const letters = await curl('GET', '/api/v1/dead-letters?to=nobody', { user: basic('ADMIN') });
  const [letter] = (letters.body as { items: Array<{ id: number; to: string | null }> }).items;
  assert.ok(letter !== undefined);
  const one = await curl('GET', `/api/v1/dead-letters/${letter.id}`, { user: basic('ADMIN') });
  assert.equal((one.body as { payload: string }).payload, 'lost');
  const sub = await mosquittoSub('calls/replayed', 'super-2', KEYS.SUPER_AGENT);
  const replay = await curl('POST', '/api/v1/dead-letters/replay', { user: basic('ADMIN'), json: { ids: [letter.id], targetTopic: 'calls/replayed' } });
  assert.deepEqual(replay.body, { replayed: 1, deliveries: 1, failed: [] });
  assert.equal(await sub.message, 'calls/replayed lost');
  const after = await curl('GET', '/api/v1/dead-letters?to=nobody', { user: basic('ADMIN') });
  assert.equal((after.body as { items: unknown[] }).items.length, 0, 'a replayed letter leaves the list');
});

test('retained messages: listed, read and deleted through the API', async () => {
  await curl('POST', '/api/v1/publish', { user: basic('SERVICE'), json: { topic: 'calls/1/last', payload: 'kept', retain: true } });
  const list = await curl('GET', '/api/v1/retained?filter=calls/%23', { user: basic('ADMIN') });
  assert.deepEqual((list.body as { items: Array<{ topic: string }> }).items.map((r) => r.topic), ['calls/1/last']);
  const one = await curl('GET', `/api/v1/retained/${encodeURIComponent('calls/1/last')}`, { user: basic('ADMIN') });
  assert.equal((one.body as { payload: string }).payload, 'kept');
  assert.deepEqual((await curl('DELETE', '/api/v1/retained/calls/1/last', { user: basic('ADMIN') })).body, { existed: true });
  assert.equal((await curl('GET', '/api/v1/retained/calls/1/last', { user: basic('ADMIN') })).status, 404);
});

/** Subscribed (resolves after its SUBACK); `message`: the first message as mosquitto_sub prints it ("topic payload"). */
async function mosquittoSub(topic: string, clientId: string, key: string): Promise<{ message: Promise<string> }> {
  const have = await run('sh', ['-c', 'command -v mosquitto_sub']).then(() => true, () => false);
  if (!have) {
    // Without mosquitto-clients (a plain clone): the npm client stands in.
    const { client, inbox } = await connectWithInbox(b.url('mqtt'), { clientId, username: APP_KEY, password: key, protocolVersion: 5 });
    await client.subscribeAsync(topic, { qos: 1 });
    return { message: inbox.next().then((m) => `${m.topic} ${m.payload.toString()}`) };
  }
  // Line-buffered: its debug lines say when the SUBACK came.
  const p = spawn('stdbuf', ['-oL', 'mosquitto_sub','-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-V', 'mqttv5', '-i', clientId, '-u', APP_KEY, '-P', key, '-t', topic, '-q', '1', '-C', '1', '-v', '-d']);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const feed = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('SUBACK')) resolve();
    };
    p.stdout.on('data', feed);
    p.stderr.on('data', feed);
    p.once('exit', () => reject(new Error(`mosquitto_sub exited: ${out}`)));
  });
  return {
    message: new Promise<string>((resolve) => {
      p.once('exit', () => resolve(out.split('\n').filter((l) => l.startsWith(topic)).join('')));
    }),
  };
}
