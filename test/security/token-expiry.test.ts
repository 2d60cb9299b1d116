/** A client whose JWT expires is closed at that moment (finding 10 of the security review). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { signHs256 } from '../../src/auth/jwt.js';

const SECRET = 'token-expiry-test-secret';
let b: RunningBroker;
before(async () => {
  b = await startBroker({
    listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'],
    applications: [{ id: 'cc', appKey: 'token_app_key', profileKeys: {}, jwt: { hs256Secret: SECRET }, duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' }, acl: [], grants: {}, presenceTopics: [] }],
  });
});
after(() => b.stop());

/** A token that expires at the next whole second plus one (JWT exp is in seconds). */
function shortToken(sub: string): { token: string; expiresAt: number } {
  const now = Date.now();
  const ttl = Math.ceil(now / 1000) + 1 - Math.floor(now / 1000);
  return { token: signHs256({ sub, app: 'cc', profile: 'agent' }, SECRET, ttl, now), expiresAt: (Math.floor(now / 1000) + ttl) * 1000 };
}

test('MQTT 5: DISCONNECT 0xA0 (Maximum connect time) when the JWT expires; 3.1.1: closed', async () => {
  const { token, expiresAt } = shortToken('jwt-mqtt');
  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'jwt-mqtt', username: 'token_app_key', password: token });
  const reason = await new Promise<number | undefined>((r) => c.once('disconnect', (p) => r(p.reasonCode)));
  assert.equal(reason, 0xa0);
  assert.ok(Date.now() >= expiresAt - 50, 'closed before the token expired');
  await end(c);
  const old = shortToken('jwt-mqtt3');
  const c3 = await connect(b.url('mqtt'), { protocolVersion: 4, clientId: 'jwt-mqtt3', username: 'token_app_key', password: old.token });
  await new Promise((r) => c3.once('close', () => r(undefined)));
  assert.ok(Date.now() >= old.expiresAt - 50);
  await end(c3);
});

test('STOMP: ERROR "token expired" when the JWT expires', async () => {
  const { token } = shortToken('jwt-stomp');
  const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: 'token_app_key', login: 'jwt-stomp', passcode: token } });
  const msg = await new Promise<string | undefined>((r) => (s.onStompError = (f) => r(f.headers.message)));
  assert.equal(msg, 'token expired');
  await s.deactivate();
});
