/** MQTT 3.1.1 and 5.0 end to end with MQTT.js over TCP: QoS, retained, sessions, wills. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { client, connect, connectWithInbox, end, Inbox, publishReason } from '../helpers/mqtt.js';

let b: RunningBroker;
let url: string;
before(async () => {
  b = await startBroker({ mqtt: { maxSessionExpiry: 3600 } });
  url = b.url('mqtt');
});
after(() => b.stop());

for (const protocolVersion of [4, 5] as const) {
  describe(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'}`, () => {
    const v = protocolVersion;
    const id = (s: string): string => `${s}-v${v}`;

    test('QoS 0, 1 and 2 in both directions, downgraded to the granted QoS [MQTT-3.8.4-8]', async () => {
      const sub = await connect(url, { protocolVersion: v, clientId: id('qsub') });
      const pub = await connect(url, { protocolVersion: v, clientId: id('qpub') });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync(`q${v}/two`, { qos: 2 });
      await sub.subscribeAsync(`q${v}/one`, { qos: 1 });
      for (const qos of [0, 1, 2] as const) {
        await pub.publishAsync(`q${v}/two`, `two-${qos}`, { qos });
        const m = await inbox.next();
        assert.equal(m.payload.toString(), `two-${qos}`);
        assert.equal(m.packet.qos, qos);
      }
      await pub.publishAsync(`q${v}/one`, 'one-2', { qos: 2 });
      const m = await inbox.next();
      assert.equal(m.packet.qos, 1);
      await end(sub, pub);
    });

    test('wildcards + and #, and $-topics not matched by leading wildcards [MQTT-4.7.2-1]', async () => {
      const sub = await connect(url, { protocolVersion: v, clientId: id('wsub') });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync([`w${v}/+/x`, `w${v}/deep/#`, '#'], { qos: 0 });
      const pub = await connect(url, { protocolVersion: v, clientId: id('wpub') });
      await pub.publishAsync(`$test/w${v}`, 'dollar', { qos: 1 });
      await pub.publishAsync(`w${v}/a/x`, 'plus', { qos: 1 });
      const first = await inbox.next();
      // '#' and 'w/+/x' overlap: one copy only [MQTT-3.3.4-2]
      assert.equal(first.payload.toString(), 'plus');
      await pub.publishAsync(`w${v}/deep`, 'parent', { qos: 1 });
      assert.equal((await inbox.next()).payload.toString(), 'parent');
      await pub.publishAsync(`w${v}/end`, 'sentinel', { qos: 1 });
      assert.equal((await inbox.next()).payload.toString(), 'sentinel');
      await end(sub, pub);
    });

    test('retained messages: set, replace, clear, delivered on subscribe with retain flag [MQTT-3.3.1-5..9]', async () => {
      const pub = await connect(url, { protocolVersion: v, clientId: id('rpub') });
      const t = `ret${v}/a`;
      await pub.publishAsync(t, 'first', { qos: 1, retain: true });
      await pub.publishAsync(t, 'second', { qos: 1, retain: true });
      const s1 = await connect(url, { protocolVersion: v, clientId: id('rs1') });
      const in1 = new Inbox(s1);
      await s1.subscribeAsync(`ret${v}/#`, { qos: 1 });
      const m = await in1.next();
      assert.equal(m.payload.toString(), 'second');
      assert.equal(m.packet.retain, true);
      // A live publish is delivered with retain 0 to existing subscribers [MQTT-3.3.1-12]
      await pub.publishAsync(t, 'third', { qos: 1, retain: true });
      const live = await in1.next();
      assert.equal(live.payload.toString(), 'third');
      assert.equal(live.packet.retain, false);
      await pub.publishAsync(t, '', { qos: 1, retain: true }); // clear
      await in1.next(); // the empty message is still forwarded
      const s2 = await connect(url, { protocolVersion: v, clientId: id('rs2') });
      const in2 = new Inbox(s2);
      await s2.subscribeAsync(`ret${v}/#`, { qos: 1 });
      await pub.publishAsync(`ret${v}/b`, 'sentinel', { qos: 1 });
      assert.equal((await in2.next()).payload.toString(), 'sentinel');
      await end(pub, s1, s2);
    });

    test('persistent session: QoS 1 queued while offline, session present on resume [MQTT-3.2.2-2]', async () => {
      const opts = v === 5
        ? { protocolVersion: v, clientId: id('pers'), clean: false, properties: { sessionExpiryInterval: 60 } }
        : { protocolVersion: v, clientId: id('pers'), clean: false };
      const s = await connect(url, opts);
      await s.subscribeAsync(`pers${v}/t`, { qos: 1 });
      await s.endAsync();
      const pub = await connect(url, { protocolVersion: v, clientId: id('perspub') });
      for (let i = 0; i < 5; i++) await pub.publishAsync(`pers${v}/t`, `m${i}`, { qos: 1 });
      await pub.publishAsync(`pers${v}/t`, 'q0', { qos: 0 }); // QoS 0 is not queued offline
      const s2 = client(url, opts);
      const inbox = new Inbox(s2);
      const connack = new Promise<{ sessionPresent: boolean }>((r) => s2.once('connect', r));
      s2.connect();
      assert.equal((await connack).sessionPresent, true);
      const got = await inbox.take(5);
      assert.deepEqual(got.map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4']);
      await end(s2, pub);
    });

    test('clean start discards the session [MQTT-3.1.2-4]', async () => {
      const s = await connect(url, v === 5
        ? { protocolVersion: v, clientId: id('clean'), clean: false, properties: { sessionExpiryInterval: 60 } }
        : { protocolVersion: v, clientId: id('clean'), clean: false });
      await s.subscribeAsync(`clean${v}`, { qos: 1 });
      await s.endAsync();
      const s2 = client(url, { protocolVersion: v, clientId: id('clean'), clean: true });
      const ack = new Promise<{ sessionPresent: boolean }>((r) => s2.once('connect', r));
      s2.connect();
      assert.equal((await ack).sessionPresent, false);
      await end(s2);
    });

    test('will message on abnormal close, not on DISCONNECT [MQTT-3.1.2-8, MQTT-3.1.2-10]', async () => {
      const watcher = await connect(url, { protocolVersion: v, clientId: id('willw') });
      const inbox = new Inbox(watcher);
      await watcher.subscribeAsync(`will${v}/#`, { qos: 1 });
      const polite = await connect(url, { protocolVersion: v, clientId: id('polite'), will: { topic: `will${v}/polite`, payload: Buffer.from('x'), qos: 1, retain: false } });
      await polite.endAsync();
      const rude = await connect(url, { protocolVersion: v, clientId: id('rude'), will: { topic: `will${v}/rude`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      rude.stream.destroy();
      const m = await inbox.next();
      assert.equal(m.topic, `will${v}/rude`);
      assert.equal(m.payload.toString(), 'gone');
      await end(watcher, rude);
    });

    test('client takeover closes the old connection', async () => {
      const first = await connect(url, { protocolVersion: v, clientId: id('take') });
      const closed = new Promise<void>((r) => first.once('close', () => r()));
      const disconnectReason = new Promise<number | undefined>((r) => first.once('disconnect', (p) => r(p.reasonCode)));
      const second = await connect(url, { protocolVersion: v, clientId: id('take') });
      await closed;
      if (v === 5) assert.equal(await disconnectReason, 0x8e); // [MQTT-3.1.4-3]
      assert.ok(second.connected);
      await end(first, second);
    });

    test('shared subscriptions deliver each message to one member, round robin', async () => {
      const a = await connect(url, { protocolVersion: v, clientId: id('sha') });
      const c = await connect(url, { protocolVersion: v, clientId: id('shb') });
      const ia = new Inbox(a);
      const ic = new Inbox(c);
      await a.subscribeAsync(`$share/g/jobs${v}/+`, { qos: 1 });
      await c.subscribeAsync(`$share/g/jobs${v}/+`, { qos: 1 });
      const pub = await connect(url, { protocolVersion: v, clientId: id('shpub') });
      for (let i = 0; i < 10; i++) await pub.publishAsync(`jobs${v}/x`, `${i}`, { qos: 1 });
      const ga = await ia.take(5);
      const gc = await ic.take(5);
      const all = [...ga, ...gc].map((m) => Number(m.payload.toString())).sort((x, y) => x - y);
      assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await end(a, c, pub);
    });
  });
}

describe('MQTT 5.0 features', () => {
  test('properties pass through: user properties, content type, response topic, correlation data, payload format', async () => {
    const sub = await connect(url, { protocolVersion: 5, clientId: 'props-sub' });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('props/t', { qos: 1 });
    const pub = await connect(url, { protocolVersion: 5, clientId: 'props-pub' });
    await pub.publishAsync('props/t', 'héllo', {
      qos: 1,
      properties: {
        userProperties: { a: '1', b: ['2', '3'] },
        contentType: 'text/plain',
        responseTopic: 'props/reply',
        correlationData: Buffer.from([1, 2, 3]),
        payloadFormatIndicator: true,
      },
    });
    const m = await inbox.next();
    const p = m.packet.properties!;
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'props/reply');
    assert.deepEqual(Buffer.from(p.correlationData!), Buffer.from([1, 2, 3]));
    assert.equal(p.payloadFormatIndicator, true);
    assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['2', '3'] }); // no 'from' in development mode (see test/apps)
    await end(sub, pub);
  });

  test('No Local, Retain As Published and Retain Handling 2', async () => {
    const c = await connect(url, { protocolVersion: 5, clientId: 'nl' });
    const inbox = new Inbox(c);
    await c.subscribeAsync('nl/t', { qos: 1, nl: true });
    await c.subscribeAsync('nl/rap', { qos: 1, rap: true });
    await c.publishAsync('nl/t', 'own', { qos: 1 });
    await c.publishAsync('nl/rap', 'kept', { qos: 1, retain: true });
    const m = await inbox.next();
    assert.equal(m.payload.toString(), 'kept'); // the own message on nl/t never came
    assert.equal(m.packet.retain, true);
    const d = await connect(url, { protocolVersion: 5, clientId: 'rh2' });
    const di = new Inbox(d);
    await d.subscribeAsync('nl/rap', { qos: 1, rh: 2 });
    await c.publishAsync('nl/rap', '', { qos: 1, retain: true });
    assert.equal((await di.next()).payload.length, 0); // only the live clear, not the retained one
    await end(c, d);
  });

  test('subscription identifiers are returned with matching messages [MQTT-3.3.4-3]', async () => {
    const c = await connect(url, { protocolVersion: 5, clientId: 'subid' });
    const inbox = new Inbox(c);
    await c.subscribeAsync('sid/+', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync('sid/#', { qos: 0, properties: { subscriptionIdentifier: 9 } });
    await c.publishAsync('sid/x', 'v', { qos: 1 });
    const m = await inbox.next();
    const ids = m.packet.properties!.subscriptionIdentifier;
    assert.deepEqual([ids].flat().sort(), [7, 9]);
    await end(c);
  });

  test('topic alias from client to server [MQTT-3.3.2-12]', async () => {
    const sub = await connect(url, { protocolVersion: 5, clientId: 'alias-sub' });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('alias/long/topic', { qos: 1 });
    const pub = await connect(url, { protocolVersion: 5, clientId: 'alias-pub' });
    await pub.publishAsync('alias/long/topic', 'one', { qos: 1, properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 3 } });
    const got = await inbox.take(2);
    assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [['alias/long/topic', 'one'], ['alias/long/topic', 'two']]);
    await end(sub, pub);
  });

  test('message expiry: expired while queued is not delivered; remaining interval is sent [MQTT-3.3.2-6]', async (t) => {
    const opts = { protocolVersion: 5 as const, clientId: 'exp-sub', clean: false, properties: { sessionExpiryInterval: 60 } };
    const s = await connect(url, opts);
    await s.subscribeAsync('exp/t', { qos: 1 });
    await s.endAsync();
    const pub = await connect(url, { protocolVersion: 5, clientId: 'exp-pub' });
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    await pub.publishAsync('exp/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/t', 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
    t.mock.timers.tick(2000);
    const { client: s2, inbox } = await connectWithInbox(url, opts);
    const m = await inbox.next();
    t.mock.timers.reset();
    assert.equal(m.payload.toString(), 'long');
    const left = m.packet.properties!.messageExpiryInterval!;
    assert.ok(left <= 99 && left > 90, `remaining ${left}`);
    await end(s2, pub);
  });

  test('request/response: response information on request [MQTT-3.1.2-28]', async () => {
    const c = client(url, { protocolVersion: 5, clientId: 'rr', properties: { requestResponseInformation: true } });
    const ack = new Promise<{ properties?: { responseInformation?: string } }>((r) => c.once('connect', r));
    c.connect();
    assert.equal((await ack).properties?.responseInformation, '$inbox/rr');
    await end(c);
  });

  test('assigned client identifier for an empty one [MQTT-3.2.2-16]', async () => {
    const c = client(url, { protocolVersion: 5, clientId: '' });
    const ack = new Promise<{ properties?: { assignedClientIdentifier?: string } }>((r) => c.once('connect', r));
    c.connect();
    const id = (await ack).properties?.assignedClientIdentifier;
    assert.ok(id && id.length > 0);
    await end(c);
  });

  test('PUBACK 0x10 when nobody is subscribed', async () => {
    const c = await connect(url, { protocolVersion: 5, clientId: 'nomatch' });
    assert.equal(await publishReason(c, 'nobody/here', 'x'), 0x10);
    await end(c);
  });
});
