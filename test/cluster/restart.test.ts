/**
 * A worker killed with SIGKILL is restarted by the primary and rejoins the cluster: it gets the
 * retained messages from a peer before it accepts clients, and publishes cross again both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connectWithInbox, end } from '../helpers/mqtt.js';
import { APP_KEY, KEYS, startCluster, writeConfig } from './helpers.js';

function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

test('--workers 2: a restarted worker serves the retained messages and rejoins the topic space', { timeout: 60_000 }, async () => {
  const cl = await startCluster(2, ['--config', writeConfig(), '--log-level', 'info', '--set', 'sys.interval=0']);
  const login = (clientId: string) => connectWithInbox(cl.mqtt, { protocolVersion: 5, clientId, username: APP_KEY, password: KEYS.ADMIN });
  try {
    const { client: pub } = await login('rs-pub');
    await pub.publishAsync('rs/kept', 'kept', { qos: 1, retain: true });
    await end(pub);
    // Presence watchers on both workers: the one on the worker that dies is reported by the other.
    const watchers = [await login('rs-w0'), await login('rs-w1')];
    for (const w of watchers) await w.client.subscribeAsync('$presence/+', { qos: 1 });
    const closed = Promise.race(watchers.map((w, i) => new Promise<number>((r) => w.client.once('close', () => r(i)))));
    const before = workerPids(cl.proc.pid!);
    assert.equal(before.length, 2);
    const from = cl.lines.length;
    process.kill(before[0]!, 'SIGKILL');
    await cl.waitLog(/worker died; starting a new one/, from);
    const dead = await closed;
    const survivor = watchers[1 - dead]!;
    for (;;) {
      const st = JSON.parse((await survivor.inbox.next()).payload.toString()) as { client: string; online: boolean; reason?: string };
      if (st.client !== `rs-w${dead}` || st.online) continue;
      assert.equal(st.reason, 'dropped');
      break;
    }
    // The replacement logs `listening` once it is linked, synced and accepting.
    await cl.waitLog(/"msg":"listening"/, from);
    const after = workerPids(cl.proc.pid!);
    assert.equal(after.length, 2);
    assert.ok(!after.includes(before[0]!) && after.includes(before[1]!));
    // Two consecutive connections land on different workers: one of them on the new one.
    const a = await login('rs-a');
    const b = await login('rs-b');
    for (const c of [a, b]) {
      await c.client.subscribeAsync('rs/#', { qos: 1 });
      const m = await c.inbox.next();
      assert.deepEqual([m.topic, m.payload.toString(), m.packet.retain], ['rs/kept', 'kept', true]);
    }
    // Publishes cross both ways again.
    await a.client.publishAsync('rs/live', 'from a', { qos: 1 });
    await b.client.publishAsync('rs/live', 'from b', { qos: 1 });
    for (const c of [a, b]) {
      const got = (await c.inbox.take(2)).map((m) => m.payload.toString()).sort();
      assert.deepEqual(got, ['from a', 'from b']);
    }
    await end(a.client, b.client, survivor.client);
  } finally {
    cl.proc.kill('SIGTERM');
  }
  assert.equal(await cl.exit, 0);
});
