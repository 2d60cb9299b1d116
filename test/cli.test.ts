/** The switchboard executable: flags, config precedence, errors, start and graceful stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, end } from './helpers/mqtt.js';
import { MAIN, startCli, testEnv } from './helpers/cli.js';
import { ENV_VARS, SETTINGS } from '../src/config/load.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [MAIN, ...args], { env: testEnv(env) }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('--help and --version', async () => {
  const h = await cli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--listen URL/);
  assert.match(h.stdout, /SWITCHBOARD_LISTEN/);
  const v = await cli(['--version']);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  assert.equal(v.stdout.trim(), pkg.version);
});

test('--help lists every setting with its default, and every environment variable', async () => {
  const h = await cli(['--help']);
  assert.equal(h.code, 0);
  for (const s of SETTINGS) {
    assert.ok(h.stdout.includes(`  ${s.key}${s.meta.section ? ':' : '  ('}`), `--help does not list ${s.key}`);
  }
  for (const name of Object.keys(ENV_VARS)) assert.match(h.stdout, new RegExp(`^  ${name} `, 'm'), name);
  assert.match(h.stdout, /^  limits\.maxQueuedBytes  \(integer >= 1024\) default: 16777216 \(16 MiB\)$/m);
  assert.match(h.stdout, /^  SWITCHBOARD_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT +limits\.maxSubscriptionsPerClient$/m);
  assert.match(h.stdout, /^  --max-connections N +limits\.maxConnections: /m);
});

test('a generated environment variable reaches the configuration; a bad one is named, exit 1', async () => {
  const f = join(dir, 'empty.yaml');
  writeFileSync(f, '{}\n');
  const ok = await cli(['check-config', f], { SWITCHBOARD_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT: '5', SWITCHBOARD_MQTT_RETAIN_AVAILABLE: 'false' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /maxSubscriptionsPerClient: 5\n/);
  assert.match(ok.stdout, /retainAvailable: false\n/);
  const small = await cli(['check-config', f], { SWITCHBOARD_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT: '0' });
  assert.equal(small.code, 1);
  assert.match(small.stderr, /environment: SWITCHBOARD_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT: limits\.maxSubscriptionsPerClient: Too small/);
  const nan = await cli(['check-config', f], { SWITCHBOARD_STOMP_WINDOW: 'wide' });
  assert.equal(nan.code, 1);
  assert.match(nan.stderr, /environment: SWITCHBOARD_STOMP_WINDOW: "wide" is not a number/);
});

test('check-config hides every secret', async () => {
  const f = join(dir, 'secrets.yaml');
  const secrets = ['tls-passphrase-0001', 'app-key-secret-0002', 'agent-key-0003', 'super-key-0004', 'service-key-0005', 'admin-key-0006', 'hs256-secret-0007-abcdef'];
  const [passphrase, appKey, agent, superAgent, service, admin, hs256] = secrets;
  writeFileSync(
    f,
    `tls: { passphrase: ${passphrase} }\napplications:\n  - id: a\n    appKey: ${appKey}\n    profileKeys: { AGENT: ${agent}, SUPER_AGENT: ${superAgent}, SERVICE: ${service}, ADMIN: ${admin} }\n    jwt: { hs256Secret: ${hs256} }\n`,
  );
  const r = await cli(['check-config', f]);
  assert.equal(r.code, 0, r.stderr);
  for (const secret of secrets) assert.ok(!r.stdout.includes(secret), `check-config printed ${secret}`);
  assert.equal(r.stdout.split('"***"').length - 1, secrets.length);
  assert.match(r.stdout, /id: a\n/);
});

test('a bad value names the key and the source, exit 1', async () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'mqtt:\n  maxInflight: 0\n');
  const r = await cli(['check-config', f]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml: mqtt\.maxInflight/);
  const u = await cli(['check-config', f.replace('bad', 'unknown-key')]);
  assert.equal(u.code, 1);
});

test('an unknown key is an error; an unknown flag exits 2', async () => {
  const f = join(dir, 'typo.yaml');
  writeFileSync(f, 'mqtt:\n  maxInflihgt: 5\n');
  const r = await cli(['check-config', f]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /maxInflihgt/);
  assert.equal((await cli(['--frobnicate'])).code, 2);
});

test('precedence: flags > environment > file > defaults', async () => {
  const f = join(dir, 'layers.yaml');
  writeFileSync(f, 'listen: ["mqtt://127.0.0.1:1111"]\nlog:\n  level: debug\nlimits:\n  maxConnections: 10\n');
  const r = await cli(['check-config', f, '--max-connections', '30'], { SWITCHBOARD_LISTEN: 'mqtt://127.0.0.1:2222', SWITCHBOARD_MAX_CONNECTIONS: '20' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /mqtt:\/\/127\.0\.0\.1:2222/); // env over file
  assert.doesNotMatch(r.stdout, /1111/);
  assert.match(r.stdout, /level: debug/); // file over default
  assert.match(r.stdout, /maxConnections: 30/); // flag over env
});

test('mqtts without a certificate is refused with the key named', async () => {
  const r = await cli(['check-config', join(dir, 'layers.yaml'), '--listen', 'mqtts://127.0.0.1:0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /tls\.cert/);
});

test('starts on port 0, prints the listeners, serves MQTT, exits 0 on SIGTERM', async () => {
  const { proc: p, url, exit } = await startCli(['--listen', 'mqtt://127.0.0.1:0', '--log-level', 'warn']);
  const c = await connect(url, { protocolVersion: 5, clientId: 'cli-test' });
  const disconnect = new Promise<number | undefined>((r) => c.once('disconnect', (pkt) => r(pkt.reasonCode)));
  p.kill('SIGTERM');
  assert.equal(await disconnect, 0x8b); // server shutting down
  assert.equal(await exit, 0);
  await end(c);
});

test('npx switchboard from the checkout runs this build (the README writes commands that way)', async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/test/ -> the checkout
  const r = await run('npx', ['--no-install', 'switchboard', '--version'], { cwd: root, env: testEnv() }).catch((e: { stdout: string; stderr: string }) => e);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(r.stdout.trim(), pkg.version, r.stderr);
});

test('switchboard token: errors name the problem in one line, like the main command (no stack traces)', async () => {
  const cfg = join(dir, 'token.yaml');
  writeFileSync(cfg, 'applications:\n  - id: cc\n    appKey: cc_app_key_123\n    profileKeys: { AGENT: cc_agent_key_1 }\n    jwt: { hs256Secret: cc_jwt_secret_0123456789 }\n  - id: nojwt\n    appKey: nojwt_app_key_1\n    profileKeys: { AGENT: nojwt_agent_key }\n');
  const token = (...a: string[]) => cli(['token', ...a]);
  const missing = await token('--app', 'cc', '--sub', 'a-1', '--profile', 'agent', '--config', join(dir, 'nope.yaml'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^switchboard token: invalid configuration:\n.*nope\.yaml: cannot read/);
  assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/, 'no stack trace');
  const boss = await token('--app', 'cc', '--sub', 'a-1', '--profile', 'boss', '--config', cfg);
  assert.equal(boss.code, 2);
  assert.match(boss.stderr, /--profile "boss" is not a profile/);
  assert.match((await token('--app', 'cc', '--sub', 'a-1', '--profile', 'agent', '--ttl', 'soon', '--config', cfg)).stderr, /--ttl "soon" is not a lifetime/);
  assert.match((await token('--app', 'cc', '--profile', 'agent', '--config', cfg)).stderr, /--sub is required/);
  assert.match((await token('--app', 'other', '--sub', 'a-1', '--profile', 'agent', '--config', cfg)).stderr, /has no application "other" \(it has: cc, nojwt\)/);
  assert.match((await token('--app', 'nojwt', '--sub', 'a-1', '--profile', 'agent', '--config', cfg)).stderr, /application "nojwt" .* has no applications\[\]\.jwt\.hs256Secret/);
  assert.match((await token('--app', 'cc', '--sub', 'a-1', '--profile', 'agent', '--ttl', '365d', '--config', cfg)).stderr, /longer than auth\.maxTokenLifetime/);
  const ok = await token('--app', 'cc', '--sub', 'a-1', '--profile', 'agent', '--config', cfg);
  assert.equal(ok.code, 0, ok.stderr);
  const claims = JSON.parse(Buffer.from(ok.stdout.trim().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  assert.deepEqual([claims.sub, claims.app, claims.profile], ['a-1', 'cc', 'agent']);
  // The shipped example can mint tokens, as the README shows.
  const example = await token('--app', 'contact-centre', '--sub', 'agent-7', '--profile', 'agent', '--ttl', '1h', '--config', join(fileURLToPath(new URL('../..', import.meta.url)), 'examples', 'contact-centre.yaml'));
  assert.equal(example.code, 0, example.stderr);
});

test('npm start with nothing changed rebuilds nothing and is listening within seconds', { timeout: 120_000 }, async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const main = join(root, 'dist', 'src', 'cli', 'main.js');
  const { statSync } = await import('node:fs');
  const { spawn } = await import('node:child_process');
  const before = statSync(main).mtimeMs;
  const began = Date.now();
  const p = spawn('npm', ['start', '--', '--listen', 'mqtt://127.0.0.1:0', '--set', 'store.type=memory', '--log-level', 'warn'], { cwd: root, env: testEnv(), detached: true });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/listening mqtt:\/\//.test(out)) resolve();
      });
      p.on('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
    });
    const took = Date.now() - began;
    assert.equal(statSync(main).mtimeMs, before, 'dist was not rebuilt (nor deleted)');
    assert.ok(took < 60_000, `listening after ${took} ms`);
  } finally {
    process.kill(-p.pid!, 'SIGTERM'); // npm and the broker under it
  }
});
