/**
 * Duplicate-login and profile rules hold across cluster workers (--workers 2): connections are
 * dealt to the workers in turn, so two consecutive logins land on different workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, end } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { startCli } from '../helpers/cli.js';

const APP_KEY = 'cluster_app_key';
const KEYS = { AGENT: 'cluster_agent_key', SERVICE: 'cluster_service_key' } as const;

/** Connect; resolves with 0 when accepted and still connected shortly after, else the refusal or DISCONNECT reason. */
function attempt(url: string, clientId: string, password: string): Promise<{ code: number; c: MqttClient }> {
  return new Promise((resolve) => {
    const c = client(url, { protocolVersion: 5, clientId, username: APP_KEY, password });
    c.once('error', (err) => resolve({ code: (err as { code?: number }).code ?? -1, c }));
    // A CONNECT racing one on the other worker may be accepted, then closed when the workers settle it.
    c.once('disconnect', (p) => resolve({ code: p.reasonCode ?? -1, c }));
    c.once('connect', () => setTimeout(() => resolve({ code: 0, c }), 300));
    c.connect();
  });
}

test('--workers 2: duplicateLogin reject and the holder\'s profile apply on every worker', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-sec-'));
  const config = join(dir, 'switchboard.yaml');
  writeFileSync(config, `applications:
  - id: cc
    appKey: ${APP_KEY}
    profileKeys: { AGENT: ${KEYS.AGENT}, SERVICE: ${KEYS.SERVICE} }
    duplicateLogin: { SERVICE: reject }
`);
  const { proc: p, url, exit } = await startCli(['--workers', '2', '--config', config, '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'warn', '--set', 'sys.interval=0']);
  process.once('exit', () => p.kill('SIGKILL'));
  try {
    const first = await attempt(url, 'svc-1', KEYS.SERVICE);
    assert.equal(first.code, 0);
    let kicked: number | undefined;
    first.c.on('disconnect', (pkt) => (kicked = pkt.reasonCode));
    // The next two connections land on the other worker, then this one again.
    for (let i = 0; i < 2; i++) {
      const dup = await attempt(url, 'svc-1', KEYS.SERVICE);
      assert.equal(dup.code, 0x87, `duplicate SERVICE login #${i + 1}`);
      await end(dup.c);
      const agent = await attempt(url, 'svc-1', KEYS.AGENT);
      assert.ok(agent.code === 0x85 || agent.code === 0x87, `AGENT with a SERVICE's id #${i + 1}: ${agent.code}`);
      await end(agent.c);
    }
    assert.ok(first.c.connected, 'the first SERVICE login was kicked');
    assert.equal(kicked, undefined);
    await end(first.c);
    // Once it is gone, the id is free on both workers (as soon as its "offline" reached the peer).
    let again = await attempt(url, 'svc-1', KEYS.SERVICE);
    for (let i = 0; i < 10 && again.code !== 0; i++) {
      await end(again.c);
      await new Promise((r) => setTimeout(r, 50));
      again = await attempt(url, 'svc-1', KEYS.SERVICE);
    }
    assert.equal(again.code, 0);
    await end(again.c);
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(await exit, 0);
});
