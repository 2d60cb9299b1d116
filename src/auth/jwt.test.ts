/** JWT rules: exp must be a finite number, inside Date range and at most maxLifetimeSec ahead; the expiry reaches the login identity. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Application } from '../core/application.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import { Authenticator } from './authenticate.js';
import type { LoginOutcome } from './authenticate.js';
import { createJwtVerifier } from './jwt.js';

const SECRET = 'jwt-unit-secret';
const NOW = 1_700_000_000_000;
const now = (): number => NOW;
const nowSec = NOW / 1000;

/** Sign a raw claims text, so exp can be what JSON.stringify cannot write (1e400). */
function token(claimsJson: string, secret = SECRET): string {
  const body = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(claimsJson).toString('base64url')}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const claims = (exp: string): string => `{"sub":"agent-1","app":"app","profile":"agent","exp":${exp}}`;

describe('JWT exp rules', () => {
  const verify = createJwtVerifier({ app: 'app', hs256Secret: SECRET, maxLifetimeSec: 3600, now });

  test('exp further ahead than maxLifetimeSec (beyond the clock tolerance) is refused like a bad token', async () => {
    const r = await verify(token(claims(String(nowSec + 3600 + 60))), 'agent-1');
    assert.deepEqual(r, { ok: false, reason: 'bad-credentials', detail: 'JWT lifetime longer than allowed' });
    // Up to the lifetime (plus 5 s of clock tolerance for an issuer whose clock runs ahead) is accepted.
    const at = await verify(token(claims(String(nowSec + 3600))), 'agent-1');
    assert.equal(at.ok && at.identity.expiresAt, (nowSec + 3600) * 1000);
    assert.ok((await verify(token(claims(String(nowSec + 3603))), 'agent-1')).ok);
  });

  test('exp that is not a finite number, or beyond what a Date can hold, is refused', async () => {
    for (const exp of ['1e400', '"9999999999"', 'null', '1e13', '1e300']) {
      const r = await verify(token(claims(exp)), 'agent-1');
      assert.equal(r.ok, false, exp);
      assert.equal(!r.ok && r.reason, 'bad-credentials', exp);
    }
    // Without a lifetime limit, the range check alone still refuses an absurd exp.
    const unlimited = createJwtVerifier({ app: 'app', hs256Secret: SECRET, now });
    assert.equal((await unlimited(token(claims('1e13')), 'agent-1')).ok, false);
    assert.equal((await unlimited(token(claims(String(nowSec + 10 * 365 * 86400))), 'agent-1')).ok, true);
    // A past exp is still "expired".
    const r = await verify(token(claims(String(nowSec - 60))), 'agent-1');
    assert.equal(!r.ok && r.reason, 'expired');
  });
});

describe('Authenticator: JWT logins', () => {
  const app = new Application(
    {
      id: 'app',
      appKey: 'app-key',
      profileKeys: {},
      jwt: { hs256Secret: SECRET },
      duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' },
      acl: [],
      grants: {},
      presenceTopics: [],
    },
    { limits: DEFAULT_CONFIG.limits, maxRedeliveries: 5 },
  );
  const auth = new Authenticator([app], null, undefined, new Map([['app', app]]), { ...DEFAULT_CONFIG.auth, maxTokenLifetime: 3600, now });
  const login = (secret: string): Promise<LoginOutcome> =>
    Promise.resolve(auth.login({ protocol: 'mqtt', transport: 'tcp', appKey: 'app-key', login: 'agent-1', secret, remoteAddress: '10.0.0.1' }));

  test('the identity carries expiresAt from exp', async () => {
    const o = await login(token(claims(String(nowSec + 600))));
    assert.ok(o.ok);
    assert.equal(o.identity.expiresAt, (nowSec + 600) * 1000);
  });

  test('auth.maxTokenLifetime is applied: a longer-lived token is a bad credential', async () => {
    const o = await login(token(claims(String(nowSec + 7200))));
    assert.deepEqual(o.ok ? null : [o.code, o.detail], ['SB_ERR_BAD_CREDENTIALS', 'JWT lifetime longer than allowed']);
  });
});
