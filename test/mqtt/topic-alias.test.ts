/** Server -> client topic aliases (optional in MQTT 5, off by default: mqtt.serverTopicAliases). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';

let b: RunningBroker;
before(async () => {
  b = await startBroker({ mqtt: { serverTopicAliases: 8 } });
});
after(() => b.stop());

test('repeated topics are sent as aliases the client resolves [MQTT-3.3.2-17]', async () => {
  const sub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'alias-in', properties: { topicAliasMaximum: 4 } });
  const sizes: number[] = [];
  sub.on('packetreceive', (p) => {
    if (p.cmd === 'publish') sizes.push((p as { length: number }).length);
  });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('a/rather/long/topic/name/for/aliases', { qos: 0 });
  const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'alias-out' });
  for (let i = 0; i < 3; i++) await pub.publishAsync('a/rather/long/topic/name/for/aliases', `m${i}`, { qos: 1 });
  const got = await inbox.take(3);
  assert.deepEqual(got.map((m) => m.topic), Array(3).fill('a/rather/long/topic/name/for/aliases'));
  assert.ok(sizes[1]! < sizes[0]! - 20, `aliased packets are smaller: ${sizes.join(', ')}`);
  await end(sub, pub);
});
