/**
 * The MQTT-SN 1.2 gateway end to end: a real broker in-process (MQTT, STOMP and MQTT-SN
 * listeners), the independent test client (client.ts), mosquitto_pub / mosquitto_sub and a
 * STOMP subscriber on the other side, the same payload bytes everywhere.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import { createBroker } from '../../src/broker.js';
import type { DropReason } from '../../src/core/session.js';
import { startBroker, testConfig } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { missingServices, spawnWatched } from '../helpers/services.js';
import type { Proc } from '../helpers/services.js';
import { StompInbox, stompOverTcp } from '../helpers/stomp.js';
import { APP_KEY, KEYS, contactCentre } from '../helpers/apps.js';
import { MqttSnClient, MqttSnRejectedError, MqttSnTimeoutError } from './client.js';

const run = promisify(execFile);
const skip = missingServices('mosquitto_sub', 'mosquitto_pub', 'stdbuf');
const PREDEFINED = { 5: 'sensors/pre' };
/** Bytes that are not text: the gateway must pass them unchanged. */
const BINARY = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x0d]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('MQTT-SN gateway (development mode)', { skip }, () => {
  let b: RunningBroker;
  const drops: Array<{ topic: string; reason: DropReason; receiver: string | null }> = [];
  const clients: MqttSnClient[] = [];
  const procs: Proc[] = [];

  const sn = async (opts: { autoAck?: boolean } = {}): Promise<MqttSnClient> => {
    const c = await MqttSnClient.create({ host: '127.0.0.1', port: b.port('mqttsn'), retryMs: 500, maxRetries: 3, predefinedTopics: PREDEFINED, ...opts });
    clients.push(c);
    return c;
  };
  /** mosquitto_sub printing "<topic> <hex payload>", resolved once subscribed. */
  const mosquittoSub = async (topic: string, qos = 2): Promise<Proc> => {
    const p = spawnWatched('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-q', String(qos), '-t', topic, '-F', 'GOT %t %x']);
    procs.push(p);
    await p.waitFor(/received SUBACK/);
    return p;
  };
  const mosquittoPub = (topic: string, message: string, qos: number, extra: string[] = []): Promise<unknown> =>
    run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-q', String(qos), '-t', topic, '-m', message, ...extra]);

  before(async () => {
    b = await startBroker(
      {
        listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0', 'mqttsn://127.0.0.1:0'],
        mqttsn: { predefinedTopics: ['5=sensors/pre'], retryMs: 200, retries: 2, maxBufferedPerSleeper: 3 },
      },
      { hooks: { onMessageDropped: (msg, reason, receiver) => drops.push({ topic: msg.topic, reason, receiver }) } },
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const p of procs) p.proc.kill();
    await b.stop();
  });

  test('connect, register, publish QoS -1/0/1/2: mosquitto_sub and a STOMP subscriber get the same bytes', async () => {
    const sub = await mosquittoSub('sensors/#');
    const stomp = await stompOverTcp(b.port('stomp'));
    const inbox = new StompInbox();
    stomp.subscribe('/topic/sensors/#', inbox.onMessage);
    await sleep(100);
    const c = await sn();
    await c.connect({ clientId: 'sn-pub', duration: 30 });
    const id = await c.register('sensors/a');
    assert.ok(id > 0);
    assert.equal(await c.register('sensors/a'), id, 'the same name keeps its id');

    await c.publish('sensors/a', BINARY, { qos: 0 });
    await c.publish('sensors/a', Buffer.concat([BINARY, Buffer.from([1])]), { qos: 1 });
    await c.publish('sensors/a', Buffer.concat([BINARY, Buffer.from([2])]), { qos: 2 });
    await MqttSnClient.publishMinusOne('127.0.0.1', b.port('mqttsn'), 5, Buffer.concat([BINARY, Buffer.from([3])]));
    await MqttSnClient.publishMinusOne('127.0.0.1', b.port('mqttsn'), { short: 'sx' }, 'short name');

    const hex = BINARY.toString('hex');
    for (const [topic, h] of [
      ['sensors/a', hex],
      ['sensors/a', `${hex}01`],
      ['sensors/a', `${hex}02`],
      ['sensors/pre', `${hex}03`],
    ] as const) await sub.waitFor(new RegExp(`^GOT ${topic} ${h}$`), 5000, 0);
    for (const suffix of [[], [1], [2], [3]]) {
      const m = await inbox.next(5000);
      assert.deepEqual(Buffer.from(m.binaryBody), Buffer.concat([BINARY, Buffer.from(suffix)]));
    }
    await stomp.deactivate();
    await c.disconnect();
  });

  test('publish errors: unknown topic ids and QoS 2 sent twice', async () => {
    const c = await sn();
    await c.connect({ clientId: 'sn-errors' });
    await assert.rejects(c.publish({ topicId: 999 }, 'x', { qos: 1 }), (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 0x02);
    await assert.rejects(c.publish({ predefined: 77 }, 'x', { qos: 1 }), (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 0x02);
    // The same QoS 2 MsgId twice before PUBREL: routed once.
    const sub = await sn();
    await sub.connect({ clientId: 'sn-errors-sub' });
    await sub.subscribe('dup/t', 2);
    const id = await c.register('dup/t');
    const pkt = { type: 'PUBLISH', flags: { qos: 2, topicIdType: 0 }, topic: id, msgId: 4242, data: Buffer.from('once') } as const;
    c.send(pkt);
    await c.waitFor('PUBREC');
    c.send({ ...pkt, flags: { ...pkt.flags, dup: true } });
    await c.waitFor('PUBREC');
    c.send({ type: 'PUBREL', msgId: 4242 });
    await c.waitFor('PUBCOMP');
    assert.equal((await sub.nextMessage(2000)).payload.toString(), 'once');
    await assert.rejects(sub.nextMessage(500), MqttSnTimeoutError);
  });

  test('subscribe and receive from mosquitto_pub: names at QoS 0/1/2, wildcards with REGISTER, predefined ids, short names', async () => {
    const c = await sn();
    await c.connect({ clientId: 'sn-sub' });
    const named = await c.subscribe('room/1', 2);
    assert.equal(named.returnCode, 0);
    assert.equal(named.grantedQos, 2);
    assert.ok(named.topicId > 0, 'a name without wildcards gets its topic id');
    const wild = await c.subscribe('deep/+/x', 1);
    assert.equal(wild.topicId, 0, '0x0000 for a filter with wildcards');
    const pre = await c.subscribe({ predefined: 5 }, 1);
    assert.equal(pre.topicId, 5);
    await c.subscribe({ short: 'ab' }, 0);

    for (const q of [0, 1, 2]) {
      await mosquittoPub('room/1', `q${q}`, q);
      const m = await c.nextMessage(3000);
      assert.equal(m.payload.toString(), `q${q}`);
      assert.equal(m.topicId, named.topicId);
      assert.equal(m.topic, 'room/1');
      assert.equal(m.qos, q);
    }
    await mosquittoPub('deep/a/x', 'wild', 1);
    const w = await c.nextMessage(3000);
    assert.equal(w.topic, 'deep/a/x', 'the gateway REGISTERed the topic first');
    assert.equal(w.topicIdType, 0);
    assert.equal(w.payload.toString(), 'wild');
    await mosquittoPub('deep/a/x', 'again', 1);
    assert.equal((await c.nextMessage(3000)).topicId, w.topicId, 'registered once');
    await mosquittoPub('sensors/pre', 'predefined', 1);
    const p = await c.nextMessage(3000);
    assert.equal(p.topicIdType, 1);
    assert.equal(p.topicId, 5);
    await mosquittoPub('ab', 'short', 0);
    const s = await c.nextMessage(3000);
    assert.equal(s.topicIdType, 2);
    assert.equal(s.topic, 'ab');

    await c.unsubscribe('room/1');
    await mosquittoPub('room/1', 'gone', 0);
    await assert.rejects(c.nextMessage(500), MqttSnTimeoutError);
    assert.deepEqual(c.unexpected, []);
  });

  test('retained messages follow the SUBACK, REGISTERed first', async () => {
    await mosquittoPub('kept/one', 'retained', 1, ['-r']);
    const c = await sn();
    await c.connect({ clientId: 'sn-retained' });
    await c.subscribe('kept/#', 1);
    const m = await c.nextMessage(3000);
    assert.equal(m.topic, 'kept/one');
    assert.equal(m.retain, true);
    assert.equal(m.payload.toString(), 'retained');
  });

  test('a client that stops answering is lost after Nretry retransmissions: DUP set, its will published', async () => {
    const watcher = await sn();
    await watcher.connect({ clientId: 'sn-watcher' });
    await watcher.subscribe('wills/#', 1);
    const c = await sn({ autoAck: false });
    await c.connect({ clientId: 'sn-mute', duration: 60, will: { topic: 'wills/mute', message: 'mute is gone', qos: 1 } });
    await c.subscribe('to/mute', 1);
    b.broker.publish('default', 'to/mute', 'hello', { qos: 1 });
    const first = await c.nextMessage(2000);
    assert.equal(first.dup, false);
    const again = await c.nextMessage(2000);
    assert.equal(again.dup, true);
    assert.equal(again.msgId, first.msgId);
    const will = await watcher.nextMessage(3000);
    assert.equal(will.topic, 'wills/mute');
    assert.equal(will.payload.toString(), 'mute is gone');
  });

  test('keepalive: silent for 1.5 x Duration, the client is lost and its will published', async () => {
    const watcher = await sn();
    await watcher.connect({ clientId: 'sn-watcher2' });
    await watcher.subscribe('wills/#', 0);
    const c = await sn();
    await c.connect({ clientId: 'sn-silent', duration: 1, will: { topic: 'wills/silent', message: 'bye' } });
    c.close();
    const will = await watcher.nextMessage(4000);
    assert.equal(will.topic, 'wills/silent');
    assert.equal(will.payload.toString(), 'bye');
  });

  test('a clean DISCONNECT publishes no will; WILLTOPICUPD / WILLMSGUPD replace it', async () => {
    const watcher = await sn();
    await watcher.connect({ clientId: 'sn-watcher3' });
    await watcher.subscribe('wills3/#', 0);
    const c = await sn();
    await c.connect({ clientId: 'sn-will-upd', duration: 1, will: { topic: 'wills3/a', message: 'first' } });
    await c.willTopicUpdate({ topic: 'wills3/b' });
    await c.willMessageUpdate('second');
    c.close(); // silent: lost
    const will = await watcher.nextMessage(4000);
    assert.equal(will.topic, 'wills3/b');
    assert.equal(will.payload.toString(), 'second');

    const d = await sn();
    await d.connect({ clientId: 'sn-clean', will: { topic: 'wills3/c', message: 'never' } });
    await d.disconnect();
    await assert.rejects(watcher.nextMessage(800), MqttSnTimeoutError);
  });

  test('sleeping clients: deliveries buffered (at most maxBufferedPerSleeper, the rest dead-lettered), sent on wake before PINGRESP', async () => {
    const c = await sn();
    await c.connect({ clientId: 'sn-sleeper', duration: 30 });
    await c.subscribe('sleep/#', 1);
    await c.sleep(30);
    for (let i = 0; i < 5; i++) b.broker.publish('default', `sleep/${i}`, `m${i}`, { qos: 1 });
    await sleep(100);
    const got = await c.wake();
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [0, 1, 2].map((i) => [`sleep/${i}`, `m${i}`]),
    );
    assert.equal(drops.filter((d) => d.receiver === 'sn-sleeper' && d.reason === 'queue-full').length, 2);
    // Asleep again: buffered again; a CONNECT makes it active and sends what waited.
    b.broker.publish('default', 'sleep/late', 'late', { qos: 1 });
    await sleep(100);
    await c.connect({ clientId: 'sn-sleeper', duration: 30, cleanSession: false });
    const late = await c.nextMessage(3000);
    assert.equal(late.payload.toString(), 'late');
    await c.ping();
  });

  test('malformed datagrams are dropped without an answer or a crash; an unverified address gets nothing (no GWINFO either: discovery is off by default)', async () => {
    const c = await sn();
    await c.connect({ clientId: 'sn-fuzz' });
    for (const raw of ['', '00', '0504', 'ff0c', '020c', '03fe00', '0818000000000000']) c.sendRaw(Buffer.from(raw, 'hex'));
    await c.ping();

    const stranger = await sn();
    stranger.sendRaw(Buffer.from('0216', 'hex')); // PINGREQ without CONNECT
    stranger.sendRaw(Buffer.from('0512000000', 'hex')); // malformed
    await assert.rejects(stranger.nextRaw(500), MqttSnTimeoutError);
    await assert.rejects(MqttSnClient.searchGateway(0, { multicastAddress: '127.0.0.1', port: b.port('mqttsn'), retryMs: 300, retries: 1 }), MqttSnTimeoutError);
    // With mqttsn.advertise on, the unicast port answers SEARCHGW too (test/mqttsn/discovery-netns.test.ts: the group).
    const d = await startBroker({ listen: ['mqttsn://127.0.0.1:0'], mqttsn: { advertise: true, gatewayId: 9, multicastInterface: '127.0.0.1', multicastGroup: '239.255.77.79' } });
    try {
      const gw = await MqttSnClient.searchGateway(0, { multicastAddress: '127.0.0.1', port: d.port('mqttsn'), retryMs: 300, retries: 2 });
      assert.equal(gw.gwId, 9);
    } finally {
      await d.stop();
    }
  });

  test('a CONNECT that is not MQTT-SN 1.2 gets CONNACK 0x03', async () => {
    const c = await sn();
    c.sendRaw(Buffer.from([0x0a, 0x04, 0x04, 0x02, 0x00, 0x3c, 0x61, 0x62, 0x63, 0x64])); // ProtocolId 2
    const ack = await c.nextRaw(2000);
    assert.deepEqual([...ack], [0x03, 0x05, 0x03]);
  });
});

describe('MQTT-SN gateway in an application', { skip }, () => {
  let b: RunningBroker;
  const clients: MqttSnClient[] = [];
  before(async () => {
    b = await startBroker({
      listen: ['mqtt://127.0.0.1:0', 'mqttsn://127.0.0.1:0'],
      applications: [contactCentre()],
      mqttsn: { app: 'cc', profile: 'AGENT' },
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await b.stop();
  });

  test('clients log in as mqttsn.app with mqttsn.profile: an AGENT may publish its own topics, not a broadcast', async () => {
    const sub = spawnWatched('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-V', 'mqttv5', '-i', 'adm', '-u', APP_KEY, '-P', KEYS.ADMIN, '-t', 'users/#', '-F', 'GOT %t %p %P']);
    try {
      await sub.waitFor(/received SUBACK/);
      const c = await MqttSnClient.create({ host: '127.0.0.1', port: b.port('mqttsn'), retryMs: 500 });
      clients.push(c);
      await c.connect({ clientId: 'sensor-1' });
      await c.publish('users/sensor-1/temp', '21.5', { qos: 1 });
      await sub.waitFor(/^GOT users\/sensor-1\/temp 21\.5 from:sensor-1$/, 5000, 0);
      await assert.rejects(c.publish('announcements/team', 'hi all', { qos: 1 }), (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 0x03);
      const listed = b.broker.listClients('cc').find((x) => x.clientId === 'sensor-1');
      assert.equal(listed?.protocol, 'mqttsn');
      assert.equal(listed?.profile, 'AGENT');
    } finally {
      sub.proc.kill();
    }
  });
});

test('configuration: applications without mqttsn.app, or without the profile key, are refused at start', () => {
  const listen = ['mqttsn://127.0.0.1:0'];
  assert.throws(() => createBroker(testConfig({ listen, applications: [contactCentre()] })), /mqttsn\.app/);
  assert.throws(() => createBroker(testConfig({ listen, applications: [contactCentre()], mqttsn: { app: 'nope' } })), /mqttsn\.app/);
  const noAgentKey = contactCentre({ profileKeys: { SERVICE: KEYS.SERVICE } });
  assert.throws(() => createBroker(testConfig({ listen, applications: [noAgentKey], mqttsn: { app: 'cc' } })), /mqttsn\.profile/);
  assert.throws(() => createBroker(testConfig({ listen, mqttsn: { predefinedTopics: ['1=a', '1=b'] } })), /mqttsn\.predefinedTopics/);
});

test('the UDP socket is closed when the broker stops', async () => {
  const b = await startBroker({ listen: ['mqttsn://127.0.0.1:0'] });
  const port = b.port('mqttsn');
  await b.stop();
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => s.bind(port, '127.0.0.1', () => resolve()).once('error', reject));
  s.close();
});

test('the gateway counts in /metrics: datagrams, malformed ones, rate-limited ones', async () => {
  const b = await startBroker({ listen: ['mqttsn://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt'], mqttsn: { datagramsPerSecond: 5 } });
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const port = b.port('mqttsn');
    // Ten datagrams at once from one address: five pass the rate limit, and are not MQTT-SN.
    for (let i = 0; i < 10; i++) s.send(Buffer.from('ffff', 'hex'), port, '127.0.0.1');
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${b.port('ws')}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    for (let i = 0; i < 100 && (await metric('switchboard_mqttsn_udp_dropped_total')) + (await metric('switchboard_mqttsn_malformed_total')) < 10; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await metric('switchboard_mqttsn_malformed_total'), 5);
    assert.equal(await metric('switchboard_mqttsn_udp_dropped_total'), 5);
    assert.equal(await metric('switchboard_mqttsn_datagrams_in_total'), 5);
  } finally {
    s.close();
    await b.stop();
  }
});
