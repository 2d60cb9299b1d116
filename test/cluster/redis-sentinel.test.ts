/**
 * Nodes on a Sentinel-watched Redis (cluster.redis.sentinels): a master, a replica and one
 * sentinel, real processes. The master is killed; the sentinel promotes the replica and the
 * nodes (ioredis follows the sentinel) carry messages across again, sessions included.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, missingServices, spawnWatched, startNodes, startRedis } from '../helpers/services.js';
import type { Node, Proc, RedisServer } from '../helpers/services.js';
import { DirectPlacer, eventually, TEST_NODE_ARGS, writeConfig } from './helpers.js';

const skip = missingServices('redis-server', 'redis-cli');

let master: RedisServer;
let replica: RedisServer;
let sentinel: Proc;
const nodes: Node[] = [];
let d: DirectPlacer;

before(async () => {
  if (skip) return;
  master = await startRedis();
  replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  await eventually(async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'), 'the replica is in sync', 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'sb-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor sbmaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds sbmaster 1000\nsentinel failover-timeout sbmaster 5000\n`);
  sentinel = spawnWatched('redis-server', [conf, '--sentinel']);
  await sentinel.waitFor(/\+monitor master sbmaster/);
  const config = writeConfig();
  nodes.push(...(await startNodes(['t0', 't1'], ['--config', config, '--set', `cluster.redis.sentinels=["127.0.0.1:${port}"]`, '--set', 'cluster.redis.sentinelName=sbmaster', '--set', 'store.type=redis', '--log-level', 'info', ...TEST_NODE_ARGS])));
  d = new DirectPlacer(nodes);
});

after(async () => {
  if (skip) return;
  await d.closeAll();
  await Promise.all(nodes.map((n) => n.stop()));
  sentinel.proc.kill('SIGKILL');
  await Promise.all([master.stop(), replica.stop()]);
});

test('Sentinel failover: the master dies, the replica takes over, messages and sessions cross nodes again', { skip, timeout: 60_000 }, async () => {
  const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };
  const { client: sub, inbox } = await d.mqtt(1, 'sn-sub', 'ADMIN', persistent);
  await sub.subscribeAsync('sn/#', { qos: 1 });
  const { client: pub } = await d.mqtt(0, 'sn-pub', 'ADMIN');
  const crosses = async (what: string): Promise<void> =>
    eventually(async () => {
      await pub.publishAsync('sn/x', what, { qos: 1 }).catch(() => undefined);
      for (;;) {
        const m = await inbox.next(300).catch(() => null);
        if (m === null) return false;
        if (m.payload.toString() === what) return true;
      }
    }, `"${what}" crosses from t0 to t1`, 30_000);
  await crosses('before');
  const from = sentinel.lines.length;
  await master.kill();
  await sentinel.waitFor(/\+switch-master sbmaster/, 30_000, from);
  await crosses('after');
  // The session lives in the new master: it resumes through the other node.
  await sub.endAsync();
  await pub.publishAsync('sn/x', 'while away', { qos: 1 });
  const { inbox: back, sessionPresent } = await d.mqtt(0, 'sn-sub', 'ADMIN', persistent);
  assert.equal(sessionPresent, true);
  // Probes still queued for it ('before', 'after': QoS 1, sent until one arrived) come first.
  let m = await back.next(5000);
  while (m.payload.toString() !== 'while away') m = await back.next(5000);
  assert.equal(m.payload.toString(), 'while away');
});
