/**
 * Redis stopped for 10 s during a QoS 1 load, then started again (real redis-server, two nodes
 * on the Redis store): no crash, local delivery goes on, what could not cross is counted and
 * logged once, nothing acknowledged with success is lost, and cross-node delivery comes back.
 * Then the node holding a queue's backlog dies: a survivor adopts the backlog.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { missingServices, startNodes, startRedis } from '../helpers/services.js';
import type { Node, RedisServer } from '../helpers/services.js';
import { DirectPlacer, eventually, TEST_NODE_ARGS, writeConfig } from './helpers.js';
import { publishWithReceipt, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';

const skip = missingServices('redis-server');

let redis: RedisServer;
const nodes: Node[] = [];
let d: DirectPlacer;

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const config = writeConfig();
  nodes.push(...(await startNodes(['o0', 'o1'], ['--config', config, '--redis', redis.url, '--set', 'store.type=redis', '--log-level', 'info', ...TEST_NODE_ARGS])));
  d = new DirectPlacer(nodes);
});

after(async () => {
  if (skip) return;
  await d.closeAll();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
  // (o1 was killed by the last test.)
});

test('Redis down for 10 s under a QoS 1 load: local delivery goes on, the messages that could not cross are counted, every one acknowledged with success arrives', { skip, timeout: 60_000 }, async () => {
  const [a, b] = nodes as [Node, Node];
  const { client: local, inbox: localIn } = await d.mqtt(0, 'out-local', 'ADMIN');
  await local.subscribeAsync('out/#', { qos: 1 });
  const { client: remote } = await d.mqtt(1, 'out-remote', 'ADMIN');
  const remoteGot = new Set<string>();
  remote.on('message', (_t, p) => remoteGot.add(p.toString()));
  await remote.subscribeAsync('out/#', { qos: 1 });
  const { client: pub } = await d.mqtt(0, 'out-pub', 'ADMIN');
  await eventually(async () => {
    await pub.publishAsync('out/probe', 'probe', { qos: 1 });
    return remoteGot.has('probe');
  }, 'the remote subscriber is known on node o0', 5000);
  await localIn.take(localIn.pending); // the probes
  const reasons = new Map<string, number>();
  const sentAs = new Map<number, string>();
  pub.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.topic === 'out/x' && p.messageId !== undefined) sentAs.set(p.messageId, p.payload.toString());
  });
  pub.on('packetreceive', (p) => {
    if (p.cmd !== 'puback' || p.messageId === undefined) return;
    const m = sentAs.get(p.messageId);
    if (m !== undefined) reasons.set(m, p.reasonCode ?? 0);
  });
  let seq = 0;
  const publishFor = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      pub.publish('out/x', `o${seq++}`, { qos: 1 });
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const from = a.lines.length;
  await publishFor(1000);
  await redis.kill();
  await publishFor(10_000);
  await redis.start();
  await a.waitFor(/Redis is reachable again/, 15_000, from);
  // Cross-node delivery is back (interest and state resynchronised).
  const firstAfter = seq;
  await eventually(async () => {
    await publishFor(200);
    return [...remoteGot].some((m) => m.startsWith('o') && Number(m.slice(1)) >= firstAfter);
  }, 'cross-node delivery after Redis is back', 15_000);
  const all = Array.from({ length: seq }, (_, i) => `o${i}`);
  await eventually(() => reasons.size === seq, `every publish answered (${reasons.size}/${seq})`, 10_000);
  // Local delivery never stopped: the local subscriber has every message.
  const localGot = new Set((await localIn.take(localIn.pending)).map((m) => m.payload.toString()));
  await eventually(async () => {
    for (const m of await localIn.take(localIn.pending, 100).catch(() => [])) localGot.add(m.payload.toString());
    return all.every((m) => localGot.has(m));
  }, 'local delivery of every message', 5000);
  // What the remote subscriber missed: each one was refused to its publisher (never acknowledged
  // with success), and the node counted them as messages that could not cross.
  const missed = all.filter((m) => !remoteGot.has(m));
  assert.ok(missed.length > 0, 'the outage cost the remote subscriber something');
  assert.deepEqual(missed.filter((m) => reasons.get(m) === 0), [], 'nothing acknowledged with success was lost');
  const back = a.lines.slice(from).find((l) => l.includes('Redis is reachable again'))!;
  const counted = (JSON.parse(back) as { droppedMessages: number }).droppedMessages;
  // The node counts what it could not hand to Redis; a message Redis took in the instant before
  // it was killed may still not have reached the other node (its publisher was told: refused).
  assert.ok(counted <= missed.length && missed.length - counted <= 5, `node o0 counted ${counted} messages that could not cross; the remote subscriber missed ${missed.length}`);
  assert.equal(a.lines.slice(from).filter((l) => l.includes('Redis is unreachable')).length, 1, 'logged once');
  const refused = [...reasons.values()].filter((r) => r !== 0).length;
  process.stdout.write(`# Redis outage: ${seq} published, ${refused} refused to the publisher (0x80), ${missed.length} missed by the remote subscriber, ${counted} counted by the node as not sent; local subscriber got all\n`);
  assert.equal(a.proc.exitCode, null, 'node o0 still running');
  assert.equal(b.proc.exitCode, null, 'node o1 still running');
});

test('a queue backlog held by a node that dies is adopted by a survivor: its consumers get every message, once', { skip, timeout: 60_000 }, async () => {
  const [a, b] = nodes as [Node, Node];
  // Held on o1: the queue has no consumer anywhere (each message acknowledged once stored).
  const producer = await d.stomp(1, 'qa-prod', 'SERVICE');
  for (let i = 0; i < 5; i++) await publishWithReceipt(producer, '/queue/adopt-q', `held ${i}`);
  await b.kill();
  const from = a.lines.length;
  await a.waitFor(/node is gone/, 10_000, from);
  const consumer = await d.stomp(0, 'qa-cons', 'SERVICE');
  const inbox = new StompInbox();
  await subscribeWithReceipt(consumer, '/queue/adopt-q', inbox);
  const got = await Promise.all(Array.from({ length: 5 }, () => inbox.next(10_000)));
  assert.deepEqual(got.map((m) => m.body), [0, 1, 2, 3, 4].map((i) => `held ${i}`));
  await assert.rejects(inbox.next(500), 'nothing twice');
});
