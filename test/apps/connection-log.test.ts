/**
 * The connection log for operators (issues 14, 15), read from a real broker's JSON log lines:
 * 'client connected' / 'client disconnected' / 'client refused' at info, once per connection, in
 * one field vocabulary for MQTT 5, MQTT 3.1.1 and STOMP (core/clients.ts ConnectionLog), with a
 * single `level` key, the reason of every kind of end, and no secret anywhere.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { client, connect, end } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { APP_KEY, KEYS, contactCentre } from '../helpers/apps.js';
import type { ApplicationAdmin } from '../../src/index.js';

const WRONG_PASSWORD = 'wrong-pa55word-never-logged';

/** Every line the broker logged: the raw text and its parse. */
const raw: string[] = [];
interface Line {
  level: number;
  msg: string;
  [field: string]: unknown;
}
const parsed = (): Line[] => raw.map((l) => JSON.parse(l) as Line);

let b: RunningBroker;
let admin: ApplicationAdmin;
before(async () => {
  // pino writes each line to this stream synchronously: nothing to flush.
  const logger = pino({ level: 'info' }, { write: (s: string) => void raw.push(s) });
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [contactCentre()] }, { logger });
  admin = b.broker.admin.app('cc')!;
});
after(() => b.stop());

/** The lines with message `msg` about `clientId`. */
function linesFor(msg: string, clientId: string): Line[] {
  return parsed().filter((l) => l.msg === msg && l.clientId === clientId);
}

/** Wait until `n` lines with message `msg` about `clientId` were logged (the broker sees a close a little later). */
async function waitFor(msg: string, clientId: string, n = 1, ms = 3000): Promise<Line[]> {
  const until = Date.now() + ms;
  for (;;) {
    const found = linesFor(msg, clientId);
    if (found.length >= n) return found;
    if (Date.now() > until) assert.fail(`no ${n} "${msg}" line(s) for ${clientId} within ${ms} ms; got:\n${raw.join('')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function mqttLogin(clientId: string, protocolVersion: 4 | 5, extra: Parameters<typeof connect>[1] = {}): Promise<MqttClient> {
  return connect(b.url('mqtt'), { protocolVersion, clientId, username: APP_KEY, password: KEYS.AGENT, ...extra });
}

function stompLogin(login: string, passcode: string = KEYS.AGENT): ReturnType<typeof stompOverTcp> {
  return stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login, passcode } });
}

/** The fields every connection line of an admitted AGENT over TCP carries. */
function assertIdentity(l: Line, clientId: string, protocol: 'mqtt' | 'stomp', protocolVersion: number | string): void {
  assert.equal(l.clientId, clientId);
  assert.equal(l.app, 'cc');
  assert.equal(l.login, clientId);
  assert.equal(l.profile, 'AGENT');
  assert.equal(l.protocol, protocol);
  assert.equal(l.protocolVersion, protocolVersion);
  assert.equal(l.transport, 'tcp');
  assert.match(String(l.remoteAddress), /127\.0\.0\.1/);
}

/** One `level` key per line, numeric 30 (info): a second key would make JSON parsers read another level. */
function assertInfo(clientId: string): void {
  for (const line of raw) {
    const l = JSON.parse(line) as Line;
    if (l.clientId !== clientId || !String(l.msg).startsWith('client ')) continue;
    assert.equal(line.match(/"level":/g)?.length, 1, `one level key: ${line}`);
    assert.equal(l.level, 30, line);
  }
}

function assertNoSecrets(): void {
  const all = raw.join('');
  for (const secret of [APP_KEY, ...Object.values(KEYS), WRONG_PASSWORD]) assert.ok(!all.includes(secret), `"${secret}" is in the log`);
}

describe('connection log', () => {
  test('one info "client connected" line per client, MQTT 5, MQTT 3.1.1 and STOMP, in one vocabulary', async () => {
    const m5 = await mqttLogin('log-m5', 5);
    const m4 = await mqttLogin('log-m4', 4, { clean: false });
    const st = await stompLogin('log-st');
    try {
      const [c5] = await waitFor('client connected', 'log-m5');
      const [c4] = await waitFor('client connected', 'log-m4');
      const [cs] = await waitFor('client connected', 'log-st');
      assertIdentity(c5!, 'log-m5', 'mqtt', 5);
      assertIdentity(c4!, 'log-m4', 'mqtt', 4);
      assertIdentity(cs!, 'log-st', 'stomp', '1.2');
      for (const l of [c5!, c4!, cs!]) {
        assert.equal(l.sessionPresent, false);
        assert.equal(l.level, 30);
        for (const k of ['reason', 'code', 'durationMs', 'username', 'password', 'passcode']) assert.ok(!(k in l), `no ${k} on connect`);
      }
      for (const id of ['log-m5', 'log-m4', 'log-st']) {
        assert.equal(linesFor('client connected', id).length, 1, `one line for ${id}`);
        assertInfo(id);
      }
      // The old debug lines are gone (one of them carried a second `level` key).
      assert.ok(!raw.some((l) => l.includes('STOMP client connected') || l.includes('mqttLevel')));
    } finally {
      await end(m5, m4);
      await st.deactivate();
    }
    // A persistent session resumed: sessionPresent.
    const again = await mqttLogin('log-m4', 4, { clean: false });
    const lines = await waitFor('client connected', 'log-m4', 2);
    assert.equal(lines[1]!.sessionPresent, true);
    await end(again);
    assertNoSecrets();
  });

  test('"client disconnected" says why: clean DISCONNECT, socket destroyed, kicked, taken over, STOMP DISCONNECT', async () => {
    // MQTT 5 clean DISCONNECT.
    const clean = await mqttLogin('bye-clean', 5);
    await new Promise((r) => setTimeout(r, 20));
    await clean.endAsync(); // DISCONNECT (end(), which forces, may close first)
    const [dc] = await waitFor('client disconnected', 'bye-clean');
    assertIdentity(dc!, 'bye-clean', 'mqtt', 5);
    assert.equal(dc!.reason, 'clean');
    assert.ok(!('code' in dc!));
    assert.equal(typeof dc!.durationMs, 'number');
    assert.ok((dc!.durationMs as number) >= 0 && (dc!.durationMs as number) < 10_000);
    assert.ok(!('sessionPresent' in dc!));

    // MQTT 3.1.1, the socket destroyed: the connection was lost.
    const lost = await mqttLogin('bye-lost', 4);
    lost.stream.destroy();
    const [dl] = await waitFor('client disconnected', 'bye-lost');
    assertIdentity(dl!, 'bye-lost', 'mqtt', 4);
    assert.equal(dl!.reason, 'dropped');
    assert.ok(!('code' in dl!));
    lost.end(true);

    // STOMP, kicked by the administrator.
    const kicked = await stompLogin('bye-kicked');
    const error = new Promise<string | undefined>((r) => (kicked.onStompError = (f) => r(f.headers.message)));
    assert.equal(admin.kick('bye-kicked').ok, true);
    await error;
    const [dk] = await waitFor('client disconnected', 'bye-kicked');
    assertIdentity(dk!, 'bye-kicked', 'stomp', '1.2');
    assert.equal(dk!.reason, 'kicked');
    assert.equal(dk!.code, 'SB_ERR_ADMIN_ACTION');
    await kicked.deactivate();

    // MQTT 5, taken over by a second connection with the same client id (AGENT: takeover).
    const first = await mqttLogin('bye-taken', 5);
    const firstGone = new Promise<number | undefined>((r) => first.once('disconnect', (p) => r(p.reasonCode)));
    const second = await mqttLogin('bye-taken', 5);
    assert.equal(await firstGone, 0x8e);
    const [dt] = await waitFor('client disconnected', 'bye-taken');
    assertIdentity(dt!, 'bye-taken', 'mqtt', 5);
    assert.equal(dt!.reason, 'taken-over');
    assert.equal(dt!.code, 'SB_ERR_TAKEN_OVER');
    const connected = await waitFor('client connected', 'bye-taken', 2);
    assert.equal(connected.length, 2);
    // The first connection's end is logged before the second one's start.
    const order = parsed().filter((l) => l.clientId === 'bye-taken').map((l) => l.msg);
    assert.deepEqual(order, ['client connected', 'client disconnected', 'client connected']);
    first.end(true);
    await second.endAsync();
    await waitFor('client disconnected', 'bye-taken', 2);
    assert.equal(linesFor('client disconnected', 'bye-taken')[1]!.reason, 'clean');

    // STOMP DISCONNECT.
    const st = await stompLogin('bye-stomp');
    await st.deactivate();
    const [ds] = await waitFor('client disconnected', 'bye-stomp');
    assert.equal(ds!.reason, 'clean');

    for (const id of ['bye-clean', 'bye-lost', 'bye-kicked', 'bye-stomp']) {
      assert.equal(linesFor('client disconnected', id).length, 1, `one line for ${id}`);
      assertInfo(id);
    }
    assertInfo('bye-taken');
    assertNoSecrets();
  });

  test('a bad password is logged as "client refused" with its catalogue code, never the password', async () => {
    const c = client(b.url('mqtt'), { protocolVersion: 5, clientId: 'refused-m5', username: APP_KEY, password: WRONG_PASSWORD });
    const code = new Promise<number | undefined>((r) => c.once('error', (e) => r((e as Error & { code?: number }).code)));
    c.connect();
    assert.equal(await code, 0x86); // Bad User Name or Password
    c.end(true);
    const [r] = await waitFor('client refused', 'refused-m5');
    assert.equal(r!.level, 30);
    assert.equal(r!.code, 'SB_ERR_BAD_CREDENTIALS');
    assert.equal(r!.protocol, 'mqtt');
    assert.equal(r!.protocolVersion, 5);
    assert.equal(r!.transport, 'tcp');
    assert.match(String(r!.remoteAddress), /127\.0\.0\.1/);
    assert.equal(typeof r!.detail, 'string');
    assert.equal(linesFor('client connected', 'refused-m5').length, 0);
    assert.equal(linesFor('client disconnected', 'refused-m5').length, 0);

    await assert.rejects(stompLogin('refused-st', WRONG_PASSWORD), /STOMP ERROR/);
    const [s] = await waitFor('client refused', 'refused-st');
    assert.equal(s!.code, 'SB_ERR_BAD_CREDENTIALS');
    assert.equal(s!.protocol, 'stomp');
    assert.equal(s!.protocolVersion, '1.2');

    assertInfo('refused-m5');
    assertInfo('refused-st');
    assertNoSecrets();
  });
});
