/**
 * Cluster mode (--workers N): the workers share the listeners and act as one broker for
 * publish/subscribe, retained messages and client-id takeover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, end } from './helpers/mqtt.js';
import { startCli } from './helpers/cli.js';
import type { MqttClient } from './helpers/mqtt.js';

function nextMessage(c: MqttClient): Promise<[string, string, boolean]> {
  return new Promise((resolve) => c.once('message', (t, p, pkt) => resolve([t, p.toString(), pkt.retain])));
}

test('--workers 2: one topic space across workers, interest follows subscriptions, retained replicated, takeover across workers, clean stop', { timeout: 30_000 }, async () => {
  const { proc: p, url, exit } = await startCli(['--workers', '2', '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'warn', '--set', 'sys.interval=0']);
  process.once('exit', () => p.kill('SIGKILL')); // a failed (timed-out) run leaves no workers behind
  try {
    // Connections are dealt to the workers in turn: four subscribers sit on both of them.
    const subs: MqttClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await connect(url, { clientId: `cl-sub-${i}`, protocolVersion: i % 2 === 0 ? 5 : 4 });
      await c.subscribeAsync('cl/#', { qos: 1 });
      subs.push(c);
    }
    const pub = await connect(url, { clientId: 'cl-pub', protocolVersion: 5 });
    const got = subs.map(nextMessage);
    await pub.publishAsync('cl/a', 'hello', { qos: 1 });
    for (const g of got) assert.deepEqual(await g, ['cl/a', 'hello', false]);

    // Interest follows subscriptions: a filter withdrawn and another announced.
    await subs[1]!.unsubscribeAsync('cl/#');
    await subs[1]!.subscribeAsync('cl/only/+');
    const only = nextMessage(subs[1]!);
    await pub.publishAsync('cl/only/x', 'narrow', { qos: 1 });
    assert.deepEqual(await only, ['cl/only/x', 'narrow', false]);

    await pub.publishAsync('cl/r', 'kept', { qos: 1, retain: true });
    // Late subscribers on either worker see the retained message.
    for (let i = 0; i < 2; i++) {
      const late = await connect(url, { clientId: `cl-late-${i}` });
      const m = nextMessage(late);
      await late.subscribeAsync('cl/r');
      assert.deepEqual(await m, ['cl/r', 'kept', true]);
      await end(late);
    }

    // The same client id connecting again (through the other worker) takes the session over.
    const first = await connect(url, { clientId: 'cl-same', protocolVersion: 5 });
    const kicked = new Promise<number | undefined>((r) => first.once('disconnect', (pkt) => r(pkt.reasonCode)));
    const second = await connect(url, { clientId: 'cl-same', protocolVersion: 5 });
    assert.equal(await kicked, 0x8e); // Session taken over [MQTT-3.1.4-3]
    await end(second);
    await end(first);
    await end(pub);
    for (const c of subs) await end(c);
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(await exit, 0);
});
