/** STOMP with @stomp/stompjs over WebSocket and TCP; cross-protocol with MQTT.js. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';
import { publishWithReceipt, stompOverTcp, stompOverWs, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import type { Client } from '@stomp/stompjs';

let b: RunningBroker;
before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0', 'ws://127.0.0.1:0/stomp', 'ws://127.0.0.1:0/mqtt'] });
});
after(() => b.stop());

const transports: Array<[string, () => Promise<Client>]> = [
  ['WebSocket', () => stompOverWs(b.addrs.find((a) => a.path === '/stomp')!.url)],
  ['TCP', () => stompOverTcp(b.port('stomp'))],
];

for (const [name, open] of transports) {
  describe(`stomp.js over ${name}`, () => {
    test('topic publish/subscribe with headers', async () => {
      const a = await open();
      const c = await open();
      const inbox = new StompInbox();
      await subscribeWithReceipt(c, `/topic/sj/${name}`, inbox);
      await publishWithReceipt(a, `/topic/sj/${name}`, 'hello', { 'content-type': 'text/plain', 'x-custom': 'yes' });
      const m = await inbox.next();
      assert.equal(m.body, 'hello');
      assert.equal(m.headers['content-type'], 'text/plain');
      assert.equal(m.headers['x-custom'], 'yes');
      assert.equal(m.headers.destination, `/topic/sj/${name}`);
      assert.ok(m.headers['message-id']);
      await Promise.all([a.deactivate(), c.deactivate()]);
    });

    test('wildcard subscription with + and #', async () => {
      const c = await open();
      const inbox = new StompInbox();
      await subscribeWithReceipt(c, `/topic/wc${name}/+/x/#`, inbox);
      await publishWithReceipt(c, `/topic/wc${name}/a/x/b/c`, 'deep');
      assert.equal((await inbox.next()).body, 'deep');
      await c.deactivate();
    });

    test('binary body with NUL bytes survives (content-length)', async () => {
      const c = await open();
      const inbox = new StompInbox();
      await subscribeWithReceipt(c, `/topic/bin/${name}`, inbox);
      const bytes = new Uint8Array([0, 1, 0, 255, 10, 0]);
      await publishWithReceipt(c, `/topic/bin/${name}`, bytes);
      const m = await inbox.next();
      assert.deepEqual(Buffer.from(m.binaryBody), Buffer.from(bytes));
      await c.deactivate();
    });

    test('queue: competing consumers, round robin; held while no consumer', async () => {
      const p = await open();
      await publishWithReceipt(p, `/queue/jobs-${name}`, 'early'); // no consumer yet: held
      const c1 = await open();
      const c2 = await open();
      const i1 = new StompInbox();
      const i2 = new StompInbox();
      await subscribeWithReceipt(c1, `/queue/jobs-${name}`, i1);
      assert.equal((await i1.next()).body, 'early');
      await subscribeWithReceipt(c2, `/queue/jobs-${name}`, i2);
      for (let i = 0; i < 4; i++) await publishWithReceipt(p, `/queue/jobs-${name}`, `job${i}`);
      const got = [(await i1.next()).body, (await i1.next()).body, (await i2.next()).body, (await i2.next()).body].sort();
      assert.deepEqual(got, ['job0', 'job1', 'job2', 'job3']);
      await Promise.all([p.deactivate(), c1.deactivate(), c2.deactivate()]);
    });
  });
}

describe('cross-protocol', () => {
  test('MQTT -> STOMP and STOMP -> MQTT with binary payloads and mapped headers', async () => {
    const s = await stompOverTcp(b.port('stomp'));
    const m = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'xp-mqtt' });
    const sInbox = new StompInbox();
    const mInbox = new Inbox(m);
    await subscribeWithReceipt(s, '/topic/xp/to-stomp', sInbox);
    await m.subscribeAsync('xp/to-mqtt', { qos: 1 });
    const payload = Buffer.from([0, 0x41, 0, 0xff]);
    await m.publishAsync('xp/to-stomp', payload, {
      qos: 1,
      properties: { contentType: 'application/x-bin', userProperties: { k: 'v' }, responseTopic: 'xp/reply', correlationData: Buffer.from('c-1') },
    });
    const sm = await sInbox.next();
    assert.deepEqual(Buffer.from(sm.binaryBody), payload);
    assert.equal(sm.headers['content-type'], 'application/x-bin');
    assert.equal(sm.headers.k, 'v');
    assert.equal(sm.headers['reply-to'], '/topic/xp/reply');
    assert.equal(sm.headers['correlation-id'], 'c-1');
    assert.equal(sm.headers.from, 'xp-mqtt');
    await publishWithReceipt(s, '/topic/xp/to-mqtt', new Uint8Array([1, 0, 2]), { 'x-a': 'b', 'reply-to': '/topic/xp/back', 'correlation-id': 'c-2' });
    const mm = await mInbox.next();
    assert.deepEqual(mm.payload, Buffer.from([1, 0, 2]));
    const props = mm.packet.properties!;
    assert.equal(props.contentType, 'application/octet-stream');
    assert.equal(props.responseTopic, 'xp/back');
    assert.equal(Buffer.from(props.correlationData!).toString(), 'c-2');
    assert.equal((props.userProperties as Record<string, string>)['x-a'], 'b');
    await s.deactivate();
    await end(m);
  });

  test('a STOMP queue and an MQTT 5 shared subscription are one group', async () => {
    const s = await stompOverTcp(b.port('stomp'));
    const m = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'xq-mqtt' });
    const sInbox = new StompInbox();
    const mInbox = new Inbox(m);
    await subscribeWithReceipt(s, '/queue/mixed', sInbox);
    await m.subscribeAsync('$share/mixed/$queue/mixed', { qos: 1 });
    for (let i = 0; i < 4; i++) await m.publishAsync('$queue/mixed', `${i}`, { qos: 1 });
    const got = [(await sInbox.next()).body, (await sInbox.next()).body, (await mInbox.next()).payload.toString(), (await mInbox.next()).payload.toString()].sort();
    assert.deepEqual(got, ['0', '1', '2', '3']);
    await s.deactivate();
    await end(m);
  });

  test('retained MQTT messages reach new STOMP subscribers', async () => {
    const m = await connect(b.url('mqtt'), { protocolVersion: 4, clientId: 'xr-mqtt' });
    await m.publishAsync('xr/state', 'on', { qos: 1, retain: true });
    const s = await stompOverTcp(b.port('stomp'));
    const inbox = new StompInbox();
    s.subscribe('/topic/xr/state', inbox.onMessage);
    assert.equal((await inbox.next()).body, 'on');
    await s.deactivate();
    await end(m);
  });
});
