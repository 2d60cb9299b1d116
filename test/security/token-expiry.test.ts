/**
 * A client whose JWT expires is closed at that moment (finding 10 of the security review). The
 * broker's clock is injected (core/clock.ts): the tests move it to the expiry instead of waiting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { signHs256 } from '../../src/auth/jwt.js';
import { ManualClock } from '../../src/core/clock.js';

const SECRET = 'token-expiry-test-secret';
const clock = new ManualClock();
let b: RunningBroker;
before(async () => {
  b = await startBroker({
    listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'],
    applications: [{ id: 'cc', appKey: 'token_app_key', profileKeys: {}, jwt: { hs256Secret: SECRET }, duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' }, acl: [], grants: {}, presenceTopics: [] }],
  }, { clock });
});
after(() => b.stop());

/** A few event-loop turns: what the broker wrote after a clock step has reached the client. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/**
 * A token that expires at the next whole second plus one (JWT exp is in seconds), ahead of both
 * the broker's clock and the real one (the login checks `exp` against the latter).
 */
function shortToken(sub: string): { token: string; expiresAt: number } {
  const now = Math.max(Date.now(), clock.now());
  const ttl = Math.ceil(now / 1000) + 1 - Math.floor(now / 1000);
  return { token: signHs256({ sub, app: 'cc', profile: 'agent' }, SECRET, ttl, now), expiresAt: (Math.floor(now / 1000) + ttl) * 1000 };
}

test('MQTT 5: DISCONNECT 0xA0 (Maximum connect time) when the JWT expires; 3.1.1: closed', async () => {
  const { token, expiresAt } = shortToken('jwt-mqtt');
  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'jwt-mqtt', username: 'token_app_key', password: token, keepalive: 0 });
  const reason = new Promise<number | undefined>((r) => c.once('disconnect', (p) => r(p.reasonCode)));
  clock.advanceTo(expiresAt - 1);
  await settle();
  assert.equal(c.connected, true, 'closed before the token expired');
  clock.advanceTo(expiresAt);
  assert.equal(await reason, 0xa0);
  await end(c);
  const old = shortToken('jwt-mqtt3');
  const c3 = await connect(b.url('mqtt'), { protocolVersion: 4, clientId: 'jwt-mqtt3', username: 'token_app_key', password: old.token, keepalive: 0 });
  const closed = new Promise((r) => c3.once('close', () => r(undefined)));
  clock.advanceTo(old.expiresAt - 1);
  await settle();
  assert.equal(c3.connected, true, 'closed before the token expired');
  clock.advanceTo(old.expiresAt);
  await closed;
  await end(c3);
});

test('STOMP: ERROR "token expired" when the JWT expires', async () => {
  const { token, expiresAt } = shortToken('jwt-stomp');
  const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: 'token_app_key', login: 'jwt-stomp', passcode: token } });
  let errors = 0;
  const msg = new Promise<string | undefined>((r) => (s.onStompError = (f) => (errors++, r(f.headers.message))));
  clock.advanceTo(expiresAt - 1);
  await settle();
  assert.equal(errors, 0, 'closed before the token expired');
  clock.advanceTo(expiresAt);
  assert.equal(await msg, 'token expired');
  await s.deactivate();
});
