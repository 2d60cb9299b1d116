/**
 * Nothing admin-level is open by default: development mode (any login, any profile) stays on
 * loopback unless auth.allowAnonymous says otherwise; one address cannot take every connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAIN, testEnv } from '../helpers/cli.js';
import { startBroker } from '../helpers/broker.js';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [MAIN, ...args], { env: testEnv(env) }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('development mode on a non-loopback listener is refused, naming the key; allowed only when asked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-exposure-'));
  const f = join(dir, 'open.yaml');
  writeFileSync(f, 'listen: ["mqtt://0.0.0.0:1883"]\n');
  const refused = await cli(['check-config', f]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /listen: mqtt:\/\/0\.0\.0\.0:1883 is reachable from the network.*auth\.allowAnonymous/);
  assert.equal((await cli(['check-config', f, '--allow-anonymous'])).code, 0);
  assert.equal((await cli(['check-config', f], { SWITCHBOARD_ALLOW_ANONYMOUS: 'true' })).code, 0);
  const withApp = join(dir, 'app.yaml');
  writeFileSync(withApp, 'listen: ["mqtt://0.0.0.0:1883"]\napplications:\n  - { id: a, appKey: app-key-123, profileKeys: { AGENT: agent-key-123 } }\n');
  assert.equal((await cli(['check-config', withApp])).code, 0);
});

test('limits.maxConnectionsPerAddress: more connections from one address are refused at accept', async () => {
  const b = await startBroker({ limits: { maxConnectionsPerAddress: 2 } });
  try {
    const port = b.port('mqtt');
    const open = () => new Promise<net.Socket>((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); s.on('error', () => {}); });
    const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
    const a = await open();
    const c = await open();
    const third = await open();
    await closed(third); // refused: closed by the broker at once
    a.destroy();
    await closed(a);
    // Room again once the broker has seen that close (it has no event to wait for: retry briefly).
    const accepted = async (): Promise<net.Socket | null> => {
      const s = await open();
      const gone = await Promise.race([closed(s).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 150))]);
      return gone ? null : s;
    };
    let fourth = await accepted();
    for (let i = 0; i < 5 && fourth === null; i++) fourth = await accepted();
    assert.ok(fourth !== null, 'a connection under the limit was refused');
    c.destroy();
    fourth.destroy();
  } finally {
    await b.stop();
  }
});
