/**
 * Nodes on a three-master Redis Cluster (`redis-cli --cluster create`, real processes): the bus
 * uses sharded pub/sub, each node's channel on the shard of its slot. Cross-node publish and
 * subscribe with wildcards, retained messages and direct messages.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { missingServices, startNode, startRedisCluster } from '../helpers/services.js';
import type { Node, RedisCluster } from '../helpers/services.js';
import { DirectPlacer, eventually, writeConfig } from './helpers.js';

const skip = missingServices('redis-server', 'redis-cli');

let rc: RedisCluster;
const nodes: Node[] = [];
let d: DirectPlacer;

before(async () => {
  if (skip) return;
  rc = await startRedisCluster(3);
  const config = writeConfig();
  for (const id of ['c0', 'c1', 'c2']) {
    nodes.push(await startNode(id, ['--config', config, '--set', `cluster.redis.nodes=${JSON.stringify(rc.seeds)}`, '--log-level', 'warn', '--set', 'sys.interval=0']));
  }
  d = new DirectPlacer(nodes);
});

after(async () => {
  if (skip) return;
  await d.closeAll();
  const codes = await Promise.all(nodes.map((n) => n.stop()));
  await rc.stop();
  assert.deepEqual(codes, [0, 0, 0]);
});

test('three nodes on a Redis Cluster: wildcards, retained and $inbox cross nodes', { skip }, async () => {
  const { client: sub, inbox } = await d.mqtt(0, 'rc-sub', 'ADMIN');
  await sub.subscribeAsync('rc/+/x', { qos: 1 });
  await sub.subscribeAsync('$inbox/rc-sub/#', { qos: 1 });
  const { client: pub } = await d.mqtt(1, 'rc-pub', 'ADMIN');
  // Interest crosses the cluster asynchronously: probe until it has.
  await eventually(async () => {
    await pub.publishAsync('rc/probe/x', 'p', { qos: 1 });
    return (await inbox.next(200).catch(() => null)) !== null;
  }, 'interest known on node 1', 5000);
  await pub.publishAsync('rc/a/x', 'one', { qos: 1 });
  await pub.publishAsync('rc/a/y', 'not matching', { qos: 1 });
  await pub.publishAsync('$inbox/rc-sub/dm', 'direct', { qos: 1 });
  const got: string[] = [];
  await eventually(async () => {
    const m = await inbox.next(1000);
    if (!m.topic.startsWith('rc/probe')) got.push(`${m.topic} ${m.payload.toString()}`);
    return got.length === 2;
  }, 'two messages', 5000);
  assert.deepEqual(got, ['rc/a/x one', '$inbox/rc-sub/dm direct']);
  // Retained through node 1, served by the third node (on another shard's channel).
  await pub.publishAsync('rc/kept', 'retained', { qos: 1, retain: true });
  const late = new DirectPlacer([nodes[2]!, nodes[2]!]);
  try {
    await eventually(async () => {
      const { client, inbox: lateIn } = await late.mqtt(0, `rc-late-${Date.now()}`, 'ADMIN');
      await client.subscribeAsync('rc/kept', { qos: 1 });
      const m = await lateIn.next(500).catch(() => null);
      await client.endAsync();
      return m?.payload.toString() === 'retained';
    }, 'node c2 serves the retained message', 5000);
  } finally {
    await late.closeAll();
  }
});
