/** TLS client certificates (mTLS): the certificate subject CN is the login, with the configured profile. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-mtls-'));
const f = (n: string): string => join(dir, n);
const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
let b: RunningBroker;

before(async () => {
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', '/CN=test-ca');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'device-42']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f(`${name}.pem`));
  }
  b = await startBroker({
    listen: ['mqtts://127.0.0.1:0'],
    tls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem') },
    applications: [
      {
        id: 'fleet',
        appKey: 'fleet_app_key',
        profileKeys: {},
        mtls: { profile: 'AGENT' },
        duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'reject' },
        acl: [],
        grants: {},
        presenceTopics: [],
      },
    ],
  });
});
after(async () => {
  await b.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a client certificate logs in its CN; without one (or another CN) the login is refused', async () => {
  const opts = { protocolVersion: 5 as const, username: 'fleet_app_key', ca: readFileSync(f('ca.pem')), rejectUnauthorized: false };
  const url = b.url('mqtts');
  const ok = await connect(url, { ...opts, clientId: 'device-42', cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) });
  assert.equal(b.broker.listClients('fleet').find((c) => c.clientId === 'device-42')?.profile, 'AGENT');
  await end(ok);
  await assert.rejects(connect(url, { ...opts, clientId: 'device-42' })); // no certificate, no secret
  await assert.rejects(connect(url, { ...opts, clientId: 'device-43', cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) })); // CN mismatch
});
