/** Malformed, oversized and out-of-order input: the right reason code, a clean close, no harm to others. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connectV4, connectV5, RawClient, readPacket } from '../helpers/raw.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';
import { ManualClock, SWEEP_MS } from '../../src/core/clock.js';

let b: RunningBroker;
let port: number;
/** The broker's clock (core/clock.ts): the keepalive test moves it instead of sleeping. */
const clock = new ManualClock();
before(async () => {
  b = await startBroker({ mqtt: { maxPacketSize: 1024 } }, { clock });
  port = b.port('mqtt');
});
after(() => b.stop());

async function connectedV5(id: string, keepAlive = 60): Promise<RawClient> {
  const c = await RawClient.connect(port);
  c.send(connectV5(id, keepAlive));
  const ack = await readPacket(c);
  assert.equal(ack[0], 0x20);
  assert.equal(ack[3], 0x00);
  return c;
}

test('v5 PUBLISH with QoS 3 -> DISCONNECT 0x81 malformed packet, then close', async () => {
  const c = await connectedV5('bad-qos3');
  c.send('36 07 00 01 61 00 01 00 78'); // QoS bits 11
  const rest = await c.untilClose();
  assert.equal(rest[0], 0xe0);
  assert.equal(rest[2], 0x81);
});

test('v5 packet larger than Maximum Packet Size -> DISCONNECT 0x95', async () => {
  const c = await connectedV5('too-big');
  const payload = Buffer.alloc(2000, 1);
  const header = Buffer.from([0x30, 0xd5, 0x0f]); // remaining length 2005
  c.send(Buffer.concat([header, Buffer.from('000161 00', 'hex'), payload]));
  const rest = await c.untilClose();
  assert.equal(rest[0], 0xe0);
  assert.equal(rest[2], 0x95);
});

test('second CONNECT -> DISCONNECT 0x82 protocol error [MQTT-3.1.0-2]', async () => {
  const c = await connectedV5('twice');
  c.send(connectV5('twice'));
  const rest = await c.untilClose();
  assert.equal(rest[0], 0xe0);
  assert.equal(rest[2], 0x82);
});

test('first packet not CONNECT -> close without answer [MQTT-3.1.0-1]', async () => {
  const c = await RawClient.connect(port);
  c.send('c0 00'); // PINGREQ
  assert.equal((await c.untilClose()).length, 0);
});

test('3.1.1 malformed packet -> close', async () => {
  const c = await RawClient.connect(port);
  c.send(connectV4('bad-311'));
  assert.deepEqual(await readPacket(c), Buffer.from('20020000', 'hex'));
  c.send('82 04 00 01 00 00'); // SUBSCRIBE with an empty filter list... truncated topic
  await c.untilClose();
});

test('unsupported protocol level -> CONNACK return code 1 and close [MQTT-3.1.2-2]', async () => {
  const c = await RawClient.connect(port);
  c.send('10 0d 00 04 4d 51 54 54 07 02 00 3c 00 01 61');
  const out = await c.untilClose();
  assert.deepEqual(out, Buffer.from('20020001', 'hex'));
});

test('keepalive: silent v5 client is disconnected with 0x8D after 1.5 x keepalive', async () => {
  const c = await connectedV5('sleepy', 1);
  clock.advance(1499);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.closed, false, 'closed before 1.5 x keepalive');
  clock.advance(SWEEP_MS + 1); // the sweep checks every period: at most that late
  const rest = await c.untilClose();
  assert.equal(rest[0], 0xe0);
  assert.equal(rest[2], 0x8d);
});

test('bad input on one connection is not felt by others', async () => {
  const sub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'bystander' });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('calm/#', { qos: 1 });
  const bad = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(port)));
  for (const c of bad) c.send('10 ff ff ff ff 7f'); // remaining length > 4 bytes
  await Promise.all(bad.map((c) => c.untilClose()));
  const pub = await connect(b.url('mqtt'), { protocolVersion: 4, clientId: 'calm-pub' });
  await pub.publishAsync('calm/x', 'still here', { qos: 1 });
  assert.equal((await inbox.next()).payload.toString(), 'still here');
  await end(sub, pub);
});
