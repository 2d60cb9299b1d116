/** Sessions through the core: wills (with delay), expiry, clean start, takeover, broker-initiated closes. Time is mocked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine, settle } from '../helpers/memory.js';
import { PacketType } from '../../src/protocols/mqtt/codec/packets.js';

const NOW = 1_700_000_000_000;

test('the will is published when the connection drops, not after DISCONNECT; DISCONNECT 0x04 keeps it [MQTT-3.1.2-8, MQTT-3.1.2-10, MQTT-3.14.4-3]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const watcher = await e.mqtt('watcher');
  await watcher.subscribe('will/#', 1);
  const polite = await e.mqtt('polite', { will: { topic: 'will/polite', qos: 1 } });
  await polite.disconnect();
  const keeps = await e.mqtt('keeps', { will: { topic: 'will/keeps', payload: Buffer.from('asked for'), qos: 1 } });
  await keeps.disconnect(0x04);
  assert.deepEqual(await watcher.payloads(1), ['asked for']);
  const rude = await e.mqtt('rude', { level: 4, will: { topic: 'will/rude', payload: Buffer.from('gone'), qos: 1, retain: true } });
  rude.drop();
  const w = await watcher.publishPacket();
  assert.deepEqual([w.topic, w.payload.toString()], ['will/rude', 'gone']);
  assert.equal(await watcher.quiet(), true);
  assert.equal(e.app().router.retained.get('will/rude')?.payload.toString(), 'gone'); // a retained will is stored
});

test('Will Delay Interval: the will waits for its delay; reconnecting within it cancels the will [MQTT-3.1.3-9]', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW });
  const e = engine();
  t.after(() => e.stop());
  const watcher = await e.mqtt('watcher');
  await watcher.subscribe('wd/#', 1);
  const opts = { cleanStart: false, properties: { sessionExpiryInterval: 60 } };
  const a = await e.mqtt('a', { ...opts, will: { topic: 'wd/a', qos: 1, properties: { willDelayInterval: 10 } } });
  a.drop();
  await settle();
  t.mock.timers.tick(9_999);
  assert.equal(await watcher.quiet(), true);
  t.mock.timers.tick(1);
  assert.equal((await watcher.publishPacket()).topic, 'wd/a');

  const b = await e.mqtt('b', { ...opts, will: { topic: 'wd/b', qos: 1, properties: { willDelayInterval: 10 } } });
  b.drop();
  await settle();
  t.mock.timers.tick(5_000);
  await e.mqtt('b', opts); // back in time, without a will
  t.mock.timers.tick(60_000);
  assert.equal(await watcher.quiet(), true);
});

test('a session that ends before its will delay publishes the will when it ends [MQTT-3.1.3-9]', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW });
  const e = engine();
  t.after(() => e.stop());
  const watcher = await e.mqtt('watcher');
  await watcher.subscribe('early/#', 1);
  const c = await e.mqtt('c', { cleanStart: false, properties: { sessionExpiryInterval: 5 }, will: { topic: 'early/c', qos: 1, properties: { willDelayInterval: 100 } } });
  c.drop();
  await settle();
  t.mock.timers.tick(4_999);
  assert.equal(await watcher.quiet(), true);
  t.mock.timers.tick(1);
  assert.equal((await watcher.publishPacket()).topic, 'early/c');
  assert.equal(e.app().router.sessions.has('c'), false);
});

test('Session Expiry Interval: resumed within it, gone after it [MQTT-3.1.2-23]', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW });
  const e = engine();
  t.after(() => e.stop());
  const opts = { cleanStart: false, properties: { sessionExpiryInterval: 30 } };
  const first = e.open();
  assert.equal((await first.connect({ clientId: 's', ...opts })).sessionPresent, false);
  await first.subscribe('exp/t', 1);
  await first.disconnect();
  t.mock.timers.tick(29_000);
  const second = e.open();
  assert.equal((await second.connect({ clientId: 's', ...opts })).sessionPresent, true);
  await second.disconnect();
  t.mock.timers.tick(30_000);
  assert.equal(e.app().router.sessions.has('s'), false);
  assert.equal(e.app().router.trie.size, 0); // its subscription went with it
  const third = e.open();
  assert.equal((await third.connect({ clientId: 's', ...opts })).sessionPresent, false);
});

test('clean start discards the session and what it queued [MQTT-3.1.2-4]', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const c = await e.mqtt('c', { cleanStart: false, properties: { sessionExpiryInterval: 60 } });
  await c.subscribe('cs', 1);
  await c.disconnect();
  e.broker.publish('default', 'cs', 'queued', { qos: 1 });
  assert.equal(e.app().router.sessions.get('c')!.queued, 1);
  const again = e.open();
  assert.equal((await again.connect({ clientId: 'c', cleanStart: true })).sessionPresent, false);
  assert.equal(await again.quiet(), true);
  assert.equal(e.app().router.sessions.get('c')!.subscriptions.size, 0);
});

test('takeover: the old connection gets DISCONNECT 0x8E, the new one holds the session [MQTT-3.1.4-3]', async (t) => {
  const closes: string[] = [];
  const e = engine({}, { hooks: { onConnectionClose: (c, reason) => closes.push(`${c.clientId}:${reason}`) } });
  t.after(() => e.stop());
  const old = await e.mqtt('dup', { cleanStart: false, properties: { sessionExpiryInterval: 60 } });
  await old.subscribe('tk', 1);
  const now = e.open();
  assert.equal((await now.connect({ clientId: 'dup', cleanStart: false, properties: { sessionExpiryInterval: 60 } })).sessionPresent, true);
  const d = await old.expect(PacketType.DISCONNECT);
  assert.equal(d.reasonCode, 0x8e);
  await old.whenClosed();
  e.broker.publish('default', 'tk', 'to the new one', { qos: 1 });
  assert.deepEqual(await now.payloads(1), ['to the new one']);
  assert.deepEqual(closes, ['dup:taken-over']);

  const s1 = await e.stomp('agent');
  const s2 = await e.stomp('agent');
  const err = await s1.expect('ERROR');
  assert.equal(err.headers.message, 'session taken over');
  await s2.subscribe('/topic/tk', 'x');
  e.broker.publish('default', 'tk', 'stomp too');
  assert.equal((await s2.message()).body.toString(), 'stomp too');
});

test('broker-initiated closes: disconnectClient sends 0x98, stop sends 0x8B (v5) and a STOMP ERROR', async () => {
  const e = engine();
  const kicked = await e.mqtt('kicked');
  assert.equal(e.broker.disconnectClient('default', 'kicked'), true);
  assert.equal((await kicked.expect(PacketType.DISCONNECT)).reasonCode, 0x98);
  assert.equal(e.broker.disconnectClient('default', 'kicked'), false);
  const v5 = await e.mqtt('v5');
  const v4 = await e.mqtt('v4', { level: 4 });
  const st = await e.stomp('st');
  await e.stop();
  assert.equal((await v5.expect(PacketType.DISCONNECT)).reasonCode, 0x8b);
  assert.equal(await v4.whenClosed(), 'end');
  assert.equal(v4.received.length, 0); // 3.1.1 has no DISCONNECT from the server
  assert.equal((await st.expect('ERROR')).headers.message, 'server shutting down');
  // A stopping broker refuses new connections.
  const late = e.open();
  assert.equal(await late.whenClosed(), 'destroy');
});

test('in-process connections go through admission: limits.maxConnections and maxConnectionsPerAddress apply', async (t) => {
  const e = engine({ limits: { maxConnections: 2, maxConnectionsPerAddress: 1 } });
  t.after(() => e.stop());
  const a = e.open(5, { remoteAddress: 'A' });
  const a2 = e.open(5, { remoteAddress: 'A' });
  assert.equal(await a2.whenClosed(), 'destroy');
  const b = e.open(5, { remoteAddress: 'B' });
  const c = e.open(5, { remoteAddress: 'C' });
  assert.equal(await c.whenClosed(), 'destroy');
  assert.equal((await a.connect({ clientId: 'a' })).reasonCode, 0);
  await a.disconnect();
  await settle(); // the close is counted once the transport reports it
  const c2 = e.open(5, { remoteAddress: 'C' });
  assert.equal((await c2.connect({ clientId: 'c' })).reasonCode, 0);
  assert.equal(b.closed, null);
});
