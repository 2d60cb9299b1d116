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
import { MAIN, startCli } from './helpers/cli.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } }).then(
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
