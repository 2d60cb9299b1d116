/**
 * Sessions in Redis (store.type redis, the default with cluster.redis): a persistent session
 * parked on one node is resumed through another (session present, queued messages delivered),
 * an online one is taken over across nodes with its state, and a client of a node killed with
 * SIGKILL resumes its session on another node. Real processes on a real redis-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { missingServices, startNodes, startRedis } from '../helpers/services.js';
import type { Node, RedisServer } from '../helpers/services.js';
import { APP_KEY, DirectPlacer, eventually, KEYS, TEST_NODE_ARGS, writeConfig } from './helpers.js';
import { client as mqttClient } from '../helpers/mqtt.js';

const skip = missingServices('redis-server');

let redis: RedisServer;
const nodes: Node[] = [];
let d: DirectPlacer;
const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const config = writeConfig();
  nodes.push(...(await startNodes(['s0', 's1', 's2'], ['--config', config, '--redis', redis.url, '--set', 'store.type=redis', '--set', 'limits.maxQueuedMessages=100000', '--log-level', 'warn', ...TEST_NODE_ARGS])));
  d = new DirectPlacer(nodes);
});

after(async () => {
  if (skip) return;
  await d.closeAll();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
});

test('a session parked on one node resumes on another: session present, what was queued meanwhile delivered in order', { skip }, async () => {
  const { client: a } = await d.mqtt(0, 'rs-a', 'ADMIN', persistent);
  await a.subscribeAsync('rs/#', { qos: 1 });
  await a.endAsync();
  const { client: pub } = await d.mqtt(1, 'rs-pub', 'ADMIN');
  for (let i = 0; i < 5; i++) await pub.publishAsync('rs/x', `m${i}`, { qos: 1 });
  const { inbox, sessionPresent } = await d.mqtt(1, 'rs-a', 'ADMIN', persistent);
  assert.equal(sessionPresent, true);
  assert.deepEqual((await inbox.take(5)).map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4']);
  // Its subscription lives on node 1 now: a publish from node 0 reaches it there.
  const { client: far } = await d.mqtt(0, 'rs-far', 'ADMIN');
  await eventually(async () => {
    await far.publishAsync('rs/y', 'after', { qos: 1 });
    return (await inbox.next(300).catch(() => null))?.payload.toString() === 'after';
  }, 'delivered on node 1', 5000);
});

test('an online client connecting again through another node takes its session over: 0x8E, session present, subscriptions kept', { skip }, async () => {
  const { client: first } = await d.mqtt(0, 'rs-t', 'ADMIN', persistent);
  await first.subscribeAsync('rt/+', { qos: 1 });
  const kicked = new Promise<number | undefined>((r) => first.once('disconnect', (pkt) => r(pkt.reasonCode)));
  const { client: second, inbox, sessionPresent } = await d.mqtt(1, 'rs-t', 'ADMIN', persistent);
  assert.equal(await kicked, 0x8e);
  assert.equal(sessionPresent, true);
  const { client: pub } = await d.mqtt(0, 'rs-t-pub', 'ADMIN');
  await eventually(async () => {
    await pub.publishAsync('rt/1', 'kept', { qos: 1 });
    return (await inbox.next(300).catch(() => null))?.payload.toString() === 'kept';
  }, 'the subscription came along', 5000);
  await second.endAsync();
});

test('a clean start through another node discards the stored session', { skip }, async () => {
  const { client: a } = await d.mqtt(0, 'rs-c', 'ADMIN', persistent);
  await a.subscribeAsync('rc/#', { qos: 1 });
  await a.endAsync();
  const { client: b, sessionPresent } = await d.mqtt(1, 'rs-c', 'ADMIN', { clean: true, properties: { sessionExpiryInterval: 300 } });
  assert.equal(sessionPresent, false);
  await b.endAsync();
  const { sessionPresent: again } = await d.mqtt(0, 'rs-c', 'ADMIN', persistent);
  assert.equal(again, true, 'the new (empty) session is the stored one now');
});

/**
 * Between the kill and the moment a survivor holds the sessions again, a message for them is
 * refused (0x80, not stored) rather than acknowledged and held nowhere (cluster/peers.ts, orphan
 * interest): every success counted here must arrive.
 */
test('SIGKILL a node during a QoS 1 load to its persistent sessions: every message acknowledged with success is delivered after the clients resume on another node', { skip }, async () => {
  const victim = nodes[2]!;
  const subs = await Promise.all([0, 1, 2, 3, 4].map(async (i) => {
    const c = mqttClient(`mqtt://127.0.0.1:${victim.mqttPort}`, { protocolVersion: 5, clientId: `ld-${i}`, username: APP_KEY, password: KEYS.ADMIN, reconnectPeriod: 0, ...persistent });
    const got = new Set<string>();
    c.on('message', (_t, p) => got.add(p.toString()));
    c.on('error', () => undefined);
    await new Promise<void>((r) => {
      c.once('connect', () => r());
      c.connect();
    });
    await c.subscribeAsync('ld/#', { qos: 1 });
    return { c, got };
  }));
  const { client: pub } = await d.mqtt(1, 'ld-pub', 'ADMIN');
  // Interest of the five is known on node 1 before the load starts.
  await eventually(async () => {
    await pub.publishAsync('ld/probe', 'probe', { qos: 1 });
    return subs.every((x) => x.got.has('probe'));
  }, 'subscribers reached', 5000);
  const sentAs = new Map<number, string>();
  const acked: string[] = [];
  const refused = new Map<string, number>();
  pub.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.topic === 'ld/x' && p.messageId !== undefined) sentAs.set(p.messageId, p.payload.toString());
  });
  pub.on('packetreceive', (p) => {
    if (p.cmd !== 'puback' || p.messageId === undefined) return;
    const m = sentAs.get(p.messageId);
    if (m === undefined) return;
    sentAs.delete(p.messageId);
    const rc = p.reasonCode ?? 0;
    if (rc === 0) acked.push(m);
    else refused.set(m, rc);
  });
  let i = 0;
  let killedAt = 0;
  let ackedAtKill = 0;
  const until = { t: Infinity };
  while (Date.now() < until.t) {
    await Promise.all(Array.from({ length: 20 }, () => new Promise<void>((r) => pub.publish('ld/x', `L${i++}`, { qos: 1 }, () => r()))));
    if (killedAt === 0 && acked.length >= 300) {
      killedAt = Date.now();
      ackedAtKill = acked.length;
      void victim.kill();
      until.t = killedAt + 3500; // through detection (2.5 s) and adoption
    }
  }
  // The clients come back through the surviving node and resume their sessions.
  for (const x of subs) x.c.end(true);
  const back = await Promise.all(subs.map(async (x, k) => {
    const c = mqttClient(`mqtt://127.0.0.1:${nodes[1]!.mqttPort}`, { protocolVersion: 5, clientId: `ld-${k}`, username: APP_KEY, password: KEYS.ADMIN, reconnectPeriod: 0, ...persistent });
    c.on('message', (_t, p) => x.got.add(p.toString()));
    const present = await new Promise<boolean>((r) => {
      c.once('connect', (ack) => r(ack.sessionPresent));
      c.connect();
    });
    return { c, present };
  }));
  assert.ok(back.every((b) => b.present), 'every session resumed');
  const missing = (): number => subs.reduce((n, x) => n + acked.filter((m) => !x.got.has(m)).length, 0);
  const detail = (): string =>
    `missing ${missing()} of ${acked.length} x 5; ${acked.length - ackedAtKill} acknowledged after the kill; per subscriber ${subs.map((x) => acked.filter((m) => !x.got.has(m)).length).join('/')}; first missing ${acked.filter((m) => !subs[0]!.got.has(m)).slice(0, 3).join(',')}; node logs: ${nodes.slice(0, 2).map((n) => n.lines.filter((l) => !l.startsWith('listening')).slice(-4).join(' | ')).join(' || ')}`;
  await eventually(() => missing() === 0, `every acknowledged message delivered (${detail()})`, 15_000);
  const codes = [...new Set(refused.values())].map((c) => `0x${c.toString(16)}`);
  // Reported for the record: what the publisher was told was not stored (0x80) or reached nobody (0x10).
  process.stdout.write(`# kill under load: ${i} published, ${acked.length} acknowledged with success, ${refused.size} refused (${codes.join(', ') || 'none'})\n`);
  for (const b of back) await b.c.endAsync();
});

test('SIGKILL the node holding a persistent session: its client resumes on another node with what was acknowledged before the kill', { skip }, async () => {
  const { client: s } = await d.mqtt(0, 'rs-k', 'ADMIN', persistent);
  await s.subscribeAsync('rk/#', { qos: 1 });
  await s.endAsync(); // parked on node 0: what is published now is queued there, in Redis
  const { client: pub } = await d.mqtt(1, 'rs-k-pub', 'ADMIN');
  for (let i = 0; i < 20; i++) await pub.publishAsync('rk/x', `k${i}`, { qos: 1 });
  // Queued on node 0 (the publishes crossed before their PUBACKs were read here); then it dies.
  await new Promise((r) => setTimeout(r, 200));
  await nodes[0]!.kill();
  const { inbox, sessionPresent } = await d.mqtt(1, 'rs-k', 'ADMIN', persistent);
  assert.equal(sessionPresent, true);
  assert.deepEqual((await inbox.take(20)).map((m) => m.payload.toString()), Array.from({ length: 20 }, (_, i) => `k${i}`));
});
