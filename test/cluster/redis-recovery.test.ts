/**
 * Redis restarts empty (no persistence) under a node holding persistent sessions: once it is
 * back, the node writes the sessions it holds again from memory (stores/redis/sessions.ts
 * recover, core/journal.ts rewrite), so QoS 1 messages for a parked session are acknowledged
 * again (they were refused while its fence was gone), retained messages are written again, and
 * after the node is killed the session resumes on another node with its subscriptions and every
 * acknowledged message.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { missingServices, startNode, startRedis } from '../helpers/services.js';
import type { Node, RedisServer } from '../helpers/services.js';
import { DirectPlacer, eventually, TEST_NODE_ARGS, writeConfig } from './helpers.js';
import { publishReason } from '../helpers/mqtt.js';

const skip = missingServices('redis-server', 'redis-cli');

let redis: RedisServer;
const nodes: Node[] = [];
let config = '';

before(async () => {
  if (skip) return;
  redis = await startRedis();
  config = writeConfig();
  nodes.push(await startNode('r0', ['--config', config, '--redis', redis.url, '--set', 'store.type=redis', '--log-level', 'info', ...TEST_NODE_ARGS]));
});

after(async () => {
  if (skip) return;
  await Promise.all(nodes.map((n) => n.kill()));
  await redis.stop();
});

test('Redis back empty: the sessions a node holds are written again, and resume elsewhere with what was acknowledged', { skip, timeout: 60_000 }, async () => {
  const [a] = nodes as [Node];
  const d = new DirectPlacer(nodes);
  const parked = await d.mqtt(0, 'rec-parked', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 3600 } });
  await parked.client.subscribeAsync('$inbox/rec-parked/#', { qos: 1 });
  await parked.client.endAsync();
  const { client: retainer } = await d.mqtt(0, 'rec-retainer', 'ADMIN');
  await retainer.publishAsync('rec/status', 'green', { qos: 1, retain: true });
  const meta = 'sb:{s:cl:rec-parked}:meta';
  await eventually(async () => (await redis.cli('EXISTS', meta)).trim() === '1', 'the session is in Redis', 5000);
  assert.equal((await redis.cli('HEXISTS', 'sb:retained:cl', 'rec/status')).trim(), '1');

  const from = a.lines.length;
  await redis.kill();
  await redis.start(); // empty: nothing was persisted (the node may already be writing it again)
  await a.waitFor(/Redis is reachable again/, 15_000, from);
  await eventually(async () => (await redis.cli('EXISTS', meta)).trim() === '1', 'the node wrote the session again', 10_000);
  assert.match(await redis.cli('HKEYS', 'sb:{s:cl:rec-parked}:subs'), /\$inbox\/rec-parked\/#/);
  await eventually(async () => (await redis.cli('HEXISTS', 'sb:retained:cl', 'rec/status')).trim() === '1', 'the retained message is written again', 5000);

  // A message for the parked session is stored and acknowledged again.
  const { client: svc } = await d.mqtt(0, 'rec-svc', 'SERVICE');
  let code = -1;
  await eventually(async () => {
    code = await publishReason(svc, '$inbox/rec-parked', 'kept', { qos: 1 });
    return code === 0;
  }, 'a QoS 1 message for the parked session is acknowledged', 10_000);
  await d.closeAll();

  // The node dies; another takes the client over with its session.
  await a.kill();
  const b = await startNode('r1', ['--config', config, '--redis', redis.url, '--set', 'store.type=redis', '--log-level', 'warn', ...TEST_NODE_ARGS]);
  nodes.push(b);
  const d2 = new DirectPlacer([b, b]);
  try {
    const back = await d2.mqtt(0, 'rec-parked', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(back.sessionPresent, true);
    const m = await back.inbox.next();
    assert.deepEqual([m.topic, m.payload.toString()], ['$inbox/rec-parked', 'kept']);
  } finally {
    await d2.closeAll();
  }
});
