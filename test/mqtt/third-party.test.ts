/** Real third-party clients: mosquitto_pub / mosquitto_sub and Debian's paho-mqtt (/usr/bin/python3). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';
import { routerOf } from '../../src/internal.js';

const run = promisify(execFile);
let b: RunningBroker;
let port: number;
before(async () => {
  b = await startBroker();
  port = b.port('mqtt');
});
after(() => b.stop());

/** mosquitto_sub prints "topic payload" lines; resolve when `n` have arrived ('close': after the last output, unlike 'exit'). */
function mosquittoSub(args: string[], n: number): { lines: Promise<string[]> } {
  const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-v', '-C', String(n), '-W', '10', ...args]);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = new Promise<string[]>((resolve, reject) => {
    p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`mosquitto_sub exit ${code}: ${out}`))));
  });
  return { lines };
}

/** Resolves when the broker has registered a subscription for `clientId` (router event). */
function waitForSubscriber(clientId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${clientId} never subscribed`)), 10_000);
    const router = routerOf(b.broker);
    const on = (session: { clientId: string }): void => {
      if (session.clientId !== clientId) return;
      clearTimeout(timer);
      router.events.off('subscribe', on);
      resolve();
    };
    router.events.on('subscribe', on);
  });
}

for (const version of ['mqttv311', 'mqttv5']) {
  test(`mosquitto_sub and mosquitto_pub (${version}), QoS 0/1/2 and retained`, async () => {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-t', `mq/${version}/ret`, '-m', 'kept', '-r', '-q', '1']);
    const subscribed = waitForSubscriber(`msub-${version}`);
    const sub = mosquittoSub(['-V', version, '-i', `msub-${version}`, '-t', `mq/${version}/#`, '-q', '2'], 4);
    await subscribed;
    for (const q of ['0', '1', '2']) {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-t', `mq/${version}/q${q}`, '-m', `hello ${q}`, '-q', q]);
    }
    const lines = await sub.lines;
    assert.deepEqual(lines, [`mq/${version}/ret kept`, `mq/${version}/q0 hello 0`, `mq/${version}/q1 hello 1`, `mq/${version}/q2 hello 2`]);
  });
}

test('mosquitto_pub reaches an MQTT.js subscriber and mosquitto_sub gets MQTT.js messages', async () => {
  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'mix-js' });
  const inbox = new Inbox(c);
  await c.subscribeAsync('mix/in', { qos: 1 });
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'mix/in', '-m', 'from mosquitto_pub', '-q', '1']);
  assert.equal((await inbox.next()).payload.toString(), 'from mosquitto_pub');
  const subscribed = waitForSubscriber('mix-sub');
  const sub = mosquittoSub(['-i', 'mix-sub', '-t', 'mix/out'], 1);
  await subscribed;
  await c.publishAsync('mix/out', 'from mqtt.js', { qos: 1 });
  assert.deepEqual(await sub.lines, ['mix/out from mqtt.js']);
  await end(c);
});

const PAHO = `
import sys, threading
import paho.mqtt.client as mqtt
port = int(sys.argv[1]); proto = mqtt.MQTTv5 if sys.argv[2] == '5' else mqtt.MQTTv311
got = threading.Event(); subscribed = threading.Event(); result = {}
kw = {}
if hasattr(mqtt, 'CallbackAPIVersion'):
    kw['callback_api_version'] = mqtt.CallbackAPIVersion.VERSION2
c = mqtt.Client(client_id='paho-' + sys.argv[2], protocol=proto, **kw)
def on_message(client, userdata, msg):
    result['m'] = (msg.topic, msg.payload, msg.qos); got.set()
def on_subscribe(client, userdata, mid, *rest):
    subscribed.set()
c.on_message = on_message; c.on_subscribe = on_subscribe
c.connect('127.0.0.1', port, 30)
c.loop_start()
c.subscribe('paho/' + sys.argv[2], qos=2)
assert subscribed.wait(5), 'no SUBACK'
info = c.publish('paho/' + sys.argv[2], b'\\x00binary\\xff', qos=2)
info.wait_for_publish(5)
assert got.wait(5), 'no message'
t, p, q = result['m']
assert p == b'\\x00binary\\xff' and q == 2, result
c.disconnect(); c.loop_stop()
print('ok')
`;

for (const v of ['4', '5']) {
  test(`paho-mqtt (python3, protocol ${v === '5' ? '5' : '3.1.1'}): QoS 2 round trip with binary payload`, async () => {
    const { stdout } = await run('/usr/bin/python3', ['-c', PAHO, String(port), v], { timeout: 20000 });
    assert.equal(stdout.trim(), 'ok');
  });
}
