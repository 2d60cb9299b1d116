/**
 * Three nodes on one real redis-server, behind Debian's haproxy (TCP mode, round robin, no sticky
 * sessions), as a user runs them (README "Cluster"; examples/cluster/). Every `$` namespace
 * (namespace-suite.ts, clients placed on nodes 0 and 1), then third-party clients through the
 * load balancer: mosquitto_pub/sub, paho and stomp.py; then a node killed with SIGKILL, then a
 * Redis outage. Skipped, saying so, where redis-server or haproxy is not installed (.ci/run
 * installs both).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { client as mqttClient, Inbox } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { missingServices, spawnWatched, startHaproxy, startNode, startRedis } from '../helpers/services.js';
import type { Haproxy, Node, Proc, RedisServer } from '../helpers/services.js';
import { APP_KEY, DirectPlacer, eventually, json, KEYS, writeConfig } from './helpers.js';
import type { P } from './helpers.js';
import { namespaceSuite } from './namespace-suite.js';

const run = promisify(execFile);
const skip = missingServices('redis-server', 'redis-cli', 'haproxy', 'mosquitto_sub');

let redis: RedisServer;
let nodes: Node[] = [];
let lb: Haproxy;
let d: DirectPlacer;
// Direct links between the nodes (cluster.link): the other Redis test files keep every frame in Redis.
const NODE_ARGS = ['--cluster-link', '127.0.0.1:0', '--log-level', 'info', '--set', 'sys.interval=1', '--set', 'cluster.heartbeatMs=200', '--set', 'cluster.deadAfterMs=2500'];
const extra: MqttClient[] = [];

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const config = writeConfig();
  // One after another: each finds the others in Redis and has their state before it listens.
  for (const id of ['0', '1', '2']) nodes.push(await startNode(id, ['--config', config, '--redis', redis.url, ...NODE_ARGS]));
  lb = await startHaproxy([nodes.map((n) => n.mqttPort), nodes.map((n) => n.stompPort)]);
  d = new DirectPlacer(nodes);
});

after(async () => {
  if (skip) return;
  await d.closeAll();
  await Promise.all(extra.map((c) => c.endAsync(true).catch(() => undefined)));
  await lb.stop();
  const codes = await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
  // Every node that was still running stopped cleanly (the killed one is gone already).
  assert.ok(codes.every((c) => c === 0 || c === null), `exit codes ${codes.join(',')}`);
});

test('the nodes link to each other directly (cluster.link): every node has a link to both others', { skip }, async () => {
  for (const n of nodes) {
    // (A link refused because its peer had not heard of this node yet is redialled a second later.)
    const linked = (): Set<string> => new Set(n.lines.filter((l) => l.includes('cluster: direct link up')).map((l) => (JSON.parse(l) as { node: string }).node));
    await eventually(() => linked().size === 2, `node ${n.name} linked to both others`, 5000);
  }
});

describe('every $ namespace across nodes on Redis', { skip }, () => {
  namespaceSuite(() => ({ d, nodes: ['0', '1', '2'] }));
});

/** An MQTT.js client of `profile` on `port` (a node's, or the load balancer's). */
async function mqttOn(port: number, clientId: string, profile: P, opts: Record<string, unknown> = {}): Promise<{ client: MqttClient; inbox: Inbox }> {
  const c = mqttClient(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId, username: APP_KEY, password: KEYS[profile], reconnectPeriod: 0, ...opts });
  const inbox = new Inbox(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.connect();
  });
  extra.push(c);
  return { client: c, inbox };
}

const auth = (profile: P): string[] => ['-u', APP_KEY, '-P', KEYS[profile]];

function mosquittoSub(port: number, id: string, args: string[]): Proc {
  return spawnWatched('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-i', id, '-v', ...auth('ADMIN'), ...args]);
}

function mosquittoPub(port: number, args: string[]): Promise<unknown> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...auth('ADMIN'), ...args]);
}

/** Which node a client landed on, from the nodes' $SYS-free view: the node whose listing has it. */
async function nodeOf(clientId: string): Promise<string> {
  const { client, inbox } = await mqttOn(nodes[0]!.mqttPort, `who-${clientId}-${Date.now()}`, 'ADMIN');
  await client.subscribeAsync(`$inbox/${client.options.clientId}/#`, { qos: 1 });
  await client.publishAsync('$request/clients', '', { qos: 1, properties: { responseTopic: `$inbox/${client.options.clientId}/r` } });
  const list = json<{ clients: Array<{ clientId: string; node?: string }> }>(await inbox.next()).clients;
  await client.endAsync();
  return list.find((c) => c.clientId === clientId)?.node ?? '?';
}

describe('third-party clients through HAProxy', { skip }, () => {
  test('mosquitto_sub on every node gets what mosquitto_pub sends through the load balancer (wildcards, QoS 0/1/2, retained)', async () => {
    const lbMqtt = lb.ports[0]!;
    const subs = [0, 1, 2].map((i) => mosquittoSub(lbMqtt, `lb-sub-${i}`, ['-q', '2', '-t', 'lb/+/w', '-t', 'lb/probe']));
    // Round robin: the three subscribers sit on three different nodes.
    await eventually(async () => new Set(await Promise.all([0, 1, 2].map((i) => nodeOf(`lb-sub-${i}`)))).size === 3, 'one subscriber per node', 5000);
    // Interest crosses Redis asynchronously: probe until every subscriber hears a publish.
    await eventually(async () => {
      await mosquittoPub(lbMqtt, ['-t', 'lb/probe', '-m', 'p']);
      return subs.every((s) => s.lines.includes('lb/probe p'));
    }, 'every subscriber reached', 5000);
    for (const q of ['0', '1', '2']) await mosquittoPub(lbMqtt, ['-q', q, '-t', `lb/q${q}/w`, '-m', `hello ${q}`]);
    for (const s of subs) {
      for (const q of ['0', '1', '2']) await s.waitFor(new RegExp(`^lb/q${q}/w hello ${q}$`), 5000, 0);
      assert.deepEqual(s.lines.filter((l) => !l.startsWith('lb/probe')), ['lb/q0/w hello 0', 'lb/q1/w hello 1', 'lb/q2/w hello 2']);
      s.proc.kill();
    }
    // A retained message set through one node is served by every node.
    await mosquittoPub(lbMqtt, ['-q', '1', '-r', '-t', 'lb/kept', '-m', 'retained']);
    for (const n of nodes) {
      await eventually(async () => {
        const { stdout } = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(n.mqttPort), ...auth('ADMIN'), '-t', 'lb/kept', '-v', '-C', '1', '-W', '2']).catch(() => ({ stdout: '' }));
        return stdout.trim() === 'lb/kept retained';
      }, `node ${n.name} serves the retained message`, 5000);
    }
  });

  test('paho-mqtt request/reply across nodes: a responder on one node answers a requester on another through its $inbox', async () => {
    const responder = spawnWatched('/usr/bin/python3', ['-u', '-c', PAHO_RESPONDER, String(nodes[1]!.mqttPort), APP_KEY, KEYS.SERVICE]);
    await responder.waitFor(/^ready$/, 20_000, 0);
    await eventually(async () => (await nodeOf('paho-responder')) === '1', 'responder on node 1', 5000);
    const { stdout } = await run('/usr/bin/python3', ['-c', PAHO_REQUESTER, String(nodes[2]!.mqttPort), APP_KEY, KEYS.AGENT], { timeout: 20_000 });
    assert.equal(stdout.trim(), 'reply: echo hello (corr-42)');
    responder.proc.kill();
  });

  test('stomp.py competing consumers of one /queue on two nodes: each message exactly once', async () => {
    const consumers = [0, 2].map((i) => spawnWatched('/usr/bin/python3', ['-u', '-c', STOMP_CONSUMER, String(nodes[i]!.stompPort), APP_KEY, `qc-${i}`, KEYS.SERVICE]));
    for (const c of consumers) await c.waitFor(/^ready$/, 20_000, 0); // (either may be ready first)
    // Each node knows the other's consumer before the producer starts.
    const { stdout } = await run('/usr/bin/python3', ['-c', STOMP_PRODUCER, String(lb.ports[1]!), APP_KEY, 'qp', KEYS.SERVICE, '40'], { timeout: 20_000 });
    assert.equal(stdout.trim(), 'sent 40');
    const got = (): string[] => consumers.flatMap((c) => c.lines.filter((l) => l.startsWith('job ')));
    await eventually(() => got().length >= 40, '40 jobs consumed', 10_000);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive in this time
    const all = got();
    assert.deepEqual([...all].sort(), Array.from({ length: 40 }, (_, i) => `job ${i}`).sort(), 'each message exactly once');
    const per = consumers.map((c) => c.lines.filter((l) => l.startsWith('job ')).length);
    assert.ok(per.every((n) => n > 0), `both consumers served: ${per.join(' / ')}`);
    for (const c of consumers) c.proc.kill();
  });

  test('mosquitto_sub through HAProxy watches $monitor, $presence and $members of clients on another node', async () => {
    const watcher = mosquittoSub(lb.ports[0]!, 'tp-watch', ['-V', 'mqttv5', '-q', '1', '-t', '$monitor/tp-agent', '-t', '$presence/tp-member', '-t', '$members/rooms/+']);
    let at = '?';
    await eventually(async () => (at = await nodeOf('tp-watch')) !== '?', 'the watcher is connected', 5000);
    const other = nodes.find((n) => n.name !== at)!;
    const json = (re: RegExp): Promise<Record<string, unknown>> => watcher.waitFor(re, 10_000, 0).then((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)) as Record<string, unknown>);
    // A member of a presence topic on another node (only ADMIN may subscribe to rooms/ here).
    const member = mosquittoSub(other.mqttPort, 'tp-member', ['-V', 'mqttv5', '-q', '1', '-t', 'rooms/lobby']);
    const online = await json(/^\$presence\/tp-member .*"online":true/);
    assert.equal(online.client, 'tp-member');
    const join = await json(/^\$members\/rooms\/lobby .*"event":"join"/);
    assert.deepEqual([join.client, join.count], ['tp-member', 1]);
    // An AGENT on that node publishes: its copy reaches the watcher (an ADMIN outranks it).
    await eventually(async () => {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(other.mqttPort), '-u', APP_KEY, '-P', KEYS.AGENT, '-i', 'tp-agent', '-q', '1', '-t', 'users/tp-agent/status', '-m', 'busy']);
      return watcher.lines.some((l) => l.startsWith('$monitor/tp-agent ') && l.includes('"published"') && l.includes('busy'));
    }, `the watcher sees what tp-agent publishes: ${watcher.lines.join(' | ')}`, 5000);
    member.proc.kill('SIGKILL'); // the member drops
    const off = await json(/^\$presence\/tp-member .*"online":false/);
    assert.equal(off.client, 'tp-member');
    const leave = await json(/^\$members\/rooms\/lobby .*"event":"leave"/);
    assert.deepEqual([leave.client, leave.count], ['tp-member', 0]);
    watcher.proc.kill();
  });

  test('takeover across nodes: the same client id connecting on another node closes the first with 0x8E', async () => {
    const { client: first } = await mqttOn(nodes[0]!.mqttPort, 'to-same', 'AGENT');
    const kicked = new Promise<number | undefined>((r) => first.once('disconnect', (pkt) => r(pkt.reasonCode)));
    const second = mosquittoSub(nodes[2]!.mqttPort, 'to-same', ['-V', 'mqttv5', '-t', 'users/to-same/x']);
    assert.equal(await kicked, 0x8e);
    await eventually(async () => (await nodeOf('to-same')) === '2', 'the client lives on node 2', 5000);
    second.proc.kill();
  });
});

describe('node failure', { skip }, () => {
  test('SIGKILL a node: its clients\' wills are published once, presence goes offline once, its clients reconnect through HAProxy', async () => {
    const { client: watch, inbox } = await mqttOn(nodes[0]!.mqttPort, 'nf-watch', 'ADMIN');
    await watch.subscribeAsync('users/+/will', { qos: 1 });
    await watch.subscribeAsync('$presence/nf-victim', { qos: 1 });
    const victim = mqttClient(`mqtt://127.0.0.1:${nodes[2]!.mqttPort}`, { protocolVersion: 5, clientId: 'nf-victim', username: APP_KEY, password: KEYS.AGENT, reconnectPeriod: 0, will: { topic: 'users/nf-victim/will', payload: Buffer.from('gone'), qos: 1, retain: false } });
    victim.on('error', () => undefined);
    await new Promise<void>((r) => {
      victim.once('connect', () => r());
      victim.connect();
    });
    const on = json<{ online: boolean }>(await inbox.next());
    assert.equal(on.online, true);
    const killedAt = Date.now();
    await nodes[2]!.kill();
    const got = [await inbox.next(10_000), await inbox.next(10_000)];
    const detectedMs = Date.now() - killedAt;
    const will = got.find((m) => m.topic === 'users/nf-victim/will');
    const off = got.find((m) => m.topic === '$presence/nf-victim');
    assert.equal(will?.payload.toString(), 'gone');
    assert.equal(off !== undefined && json<{ online: boolean }>(off).online, false);
    assert.ok(detectedMs < 5000, `detected in ${detectedMs} ms`);
    await assert.rejects(inbox.next(500), 'nothing twice');
    // The client reconnects through the load balancer: it lands on a live node.
    const { client: back } = await mqttOn(lb.ports[0]!, 'nf-victim', 'AGENT');
    assert.ok(['0', '1'].includes(await nodeOf('nf-victim')));
    await back.endAsync();
    nodes = nodes.slice(0, 2);
  });
});

describe('Redis outage', { skip }, () => {
  test('Redis down: local delivery goes on, nobody is declared dead; back: interest made meanwhile is synchronised', async () => {
    const [a, b] = nodes as [Node, Node];
    const { client: pub } = await mqttOn(a.mqttPort, 'ro-pub', 'ADMIN');
    const { client: localSub, inbox: localIn } = await mqttOn(a.mqttPort, 'ro-local', 'ADMIN');
    await localSub.subscribeAsync('ro/#', { qos: 1 });
    const { client: willer } = await mqttOn(b.mqttPort, 'ro-willer', 'AGENT', { will: { topic: 'users/ro-willer/will', payload: Buffer.from('x'), qos: 0, retain: false } });
    const { client: wills, inbox: willsIn } = await mqttOn(a.mqttPort, 'ro-wills', 'ADMIN');
    await wills.subscribeAsync('users/ro-willer/will', { qos: 1 });
    const from = a.lines.length;
    await redis.kill();
    await a.waitFor(/Redis is unreachable/, 5000, from);
    await pub.publishAsync('ro/local', 'still here', { qos: 1 });
    assert.equal((await localIn.next()).payload.toString(), 'still here');
    // Interest made while Redis is away: known to the other node only after the resync.
    const { client: remoteSub, inbox: remoteIn } = await mqttOn(b.mqttPort, 'ro-remote', 'ADMIN');
    await remoteSub.subscribeAsync('ro/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 2500)); // longer than deadAfterMs: nobody may be declared dead meanwhile
    await redis.start();
    await a.waitFor(/Redis is reachable again/, 10_000, from);
    await eventually(async () => {
      await pub.publishAsync('ro/after', 'crossed', { qos: 1 });
      return (await remoteIn.next(300).catch(() => null))?.payload.toString() === 'crossed';
    }, 'cross-node delivery after Redis is back', 10_000);
    assert.equal(a.lines.slice(from).filter((l) => l.includes('Redis is unreachable')).length, 1, 'logged once');
    assert.equal(a.lines.slice(from).filter((l) => l.includes('node is gone')).length, 0, 'nobody declared dead');
    await assert.rejects(willsIn.next(300), 'no will published during the outage');
    await willer.endAsync();
  });
});

const PAHO_RESPONDER = `
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, app, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kw = {'callback_api_version': mqtt.CallbackAPIVersion.VERSION2} if hasattr(mqtt, 'CallbackAPIVersion') else {}
c = mqtt.Client(client_id='paho-responder', protocol=mqtt.MQTTv5, **kw)
c.username_pw_set(app, key)
def on_message(client, userdata, msg):
    p = Properties(PacketTypes.PUBLISH)
    p.CorrelationData = msg.properties.CorrelationData
    client.publish(msg.properties.ResponseTopic, b'echo ' + msg.payload, qos=1, properties=p)
def on_subscribe(client, userdata, mid, *rest):
    print('ready', flush=True)
c.on_message = on_message; c.on_subscribe = on_subscribe
c.connect('127.0.0.1', port, 30)
c.subscribe('$inbox/paho-responder/#', qos=1)
c.loop_forever()
`;

const PAHO_REQUESTER = `
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, app, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kw = {'callback_api_version': mqtt.CallbackAPIVersion.VERSION2} if hasattr(mqtt, 'CallbackAPIVersion') else {}
c = mqtt.Client(client_id='paho-requester', protocol=mqtt.MQTTv5, **kw)
c.username_pw_set(app, key)
got = threading.Event(); subscribed = threading.Event(); box = {}
def on_message(client, userdata, msg):
    box['r'] = (msg.payload.decode(), msg.properties.CorrelationData.decode()); got.set()
c.on_message = on_message
c.on_subscribe = lambda *a: subscribed.set()
c.connect('127.0.0.1', port, 30)
c.loop_start()
c.subscribe('$inbox/paho-requester/#', qos=1)
assert subscribed.wait(5), 'no SUBACK'
p = Properties(PacketTypes.PUBLISH)
p.ResponseTopic = '$inbox/paho-requester/reply'
p.CorrelationData = b'corr-42'
for _ in range(50):
    c.publish('$inbox/paho-responder/echo', b'hello', qos=1, properties=p).wait_for_publish(5)
    if got.wait(0.2):
        break
assert got.is_set(), 'no reply'
print('reply: %s (%s)' % box['r'])
c.disconnect(); c.loop_stop()
`;

const STOMP_CONSUMER = `
import sys, time
import stomp
port, app, login, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = stomp.Connection12([('127.0.0.1', port)], vhost=app, heartbeats=(0, 0))
class L(stomp.ConnectionListener):
    def on_message(self, frame):
        print(frame.body, flush=True)
        c.ack(frame.headers['ack'])
    def on_receipt(self, frame):
        print('ready', flush=True)
c.set_listener('l', L())
c.connect(login, key, wait=True)
c.subscribe('/queue/py-jobs', id='1', ack='client-individual', headers={'receipt': 'sub'})
while True:
    time.sleep(1)
`;

const STOMP_PRODUCER = `
import sys
import stomp
port, app, login, key, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
c = stomp.Connection12([('127.0.0.1', port)], vhost=app, heartbeats=(0, 0))
c.connect(login, key, wait=True)
for i in range(n):
    c.send('/queue/py-jobs', 'job %d' % i)
c.disconnect(receipt='bye')
print('sent %d' % n)
`;
