/**
 * The second security review (an AGENT key holder probing what the first round left): each test
 * replays one finding with real clients and fails on the code before its fix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, grantedQos, publishReason } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { APP_KEY, contactCentre, KEYS } from '../helpers/apps.js';
import { routerOf, applicationOf } from '../../src/internal.js';
import type { IClientOptions } from 'mqtt';

type P = keyof typeof KEYS;

let b: RunningBroker;
before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [contactCentre()] });
});
after(() => b.stop());

const login = (id: string, profile: P, extra: IClientOptions = {}): Promise<MqttClient> =>
  connect(b.url('mqtt'), { protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS[profile], ...extra });

describe('memory an AGENT can make the broker hold', () => {
  test('topics are bounded (mqtt.maxTopicLength 4096) and long ones are not kept in the match cache', async () => {
    const a = await login('agent-long', 'AGENT');
    const gone = new Promise<number | undefined>((r) => a.once('disconnect', (p) => r(p.reasonCode)));
    a.publish(`users/agent-long/${'x'.repeat(5000)}`, 'x', { qos: 0 });
    assert.equal(await gone, 0x90); // Topic Name invalid
    await end(a);
    const router = routerOf(b.broker, 'cc');
    const c = await login('agent-long2', 'AGENT');
    for (let i = 0; i < 20; i++) await publishReason(c, `users/agent-long2/${String(i).padStart(3000, 'y')}`, 'x');
    assert.ok(router.trie.cachedTopics < 20, `${router.trie.cachedTopics} long topics cached`);
    await end(c);
  });

  test('a STOMP transaction counts the headers of the frames it holds', async () => {
    const rb = await startBroker({ listen: ['stomp://127.0.0.1:0'], applications: [contactCentre()], limits: { maxQueuedBytes: 64 * 1024 } });
    try {
      const st = await stompOverTcp(rb.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'svc-tx2', passcode: KEYS.SERVICE } });
      const err = new Promise<string>((r) => (st.onStompError = (f) => r(f.headers.message!)));
      const tx = st.begin('big-headers');
      const headers: Record<string, string> = { transaction: tx.id };
      for (let i = 0; i < 4; i++) headers[`h${i}`] = 'v'.repeat(8000);
      // Empty bodies: 32 KB of headers each; the third frame passes 64 KB.
      for (let i = 0; i < 3; i++) st.publish({ destination: '/topic/x', body: '', headers });
      assert.equal(await err, 'quota exceeded');
      await st.deactivate();
    } finally {
      await rb.stop();
    }
  });

  test('a will is memory held for the client: past the budget a CONNECT with a will gets 0x97', async () => {
    const rb = await startBroker({ applications: [contactCentre()] });
    try {
      const router = routerOf(rb.broker, 'cc');
      router.budget.limit = router.budget.used + 100_000;
      const will = (id: string) => ({ topic: `users/${id}/status`, payload: Buffer.alloc(60_000, 1), qos: 1 as const, retain: false, properties: { willDelayInterval: 600 } });
      const opts = (id: string): IClientOptions => ({ protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS.AGENT, clean: false, properties: { sessionExpiryInterval: 600 }, will: will(id) });
      const first = await connect(rb.url('mqtt'), opts('w-1'));
      const second = await connect(rb.url('mqtt'), opts('w-2')); // accepted: the budget was not spent yet
      await assert.rejects(connect(rb.url('mqtt'), opts('w-3')), (err: { code?: number }) => err.code === 0x97);
      assert.ok(router.budget.used > 120_000, 'the two wills are charged');
      await end(first, second);
    } finally {
      await rb.stop();
    }
  });
});

describe('stalls', () => {
  test('$request/clients: once per second per client, and the answer carries the caller as `from`', async () => {
    const a = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'agent-rq', username: APP_KEY, password: KEYS.AGENT });
    await a.client.subscribeAsync('$inbox/agent-rq/#', { qos: 1 });
    const ask = () => publishReason(a.client, '$request/clients', '', { properties: { responseTopic: '$inbox/agent-rq/list' } });
    assert.equal(await ask(), 0);
    assert.equal(await ask(), 0x10); // too soon: no answer
    const answer = await a.inbox.next();
    assert.equal(answer.packet.properties?.userProperties?.from, 'agent-rq');
    assert.ok(await a.inbox.none(150));
    await end(a.client);
  });

  test('the same filter many times in one SUBSCRIBE replays presence and retained messages once', async () => {
    const watchers = await Promise.all(['rp-1', 'rp-2', 'rp-3'].map((id) => login(id, 'AGENT')));
    const a = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'agent-rp', username: APP_KEY, password: KEYS.AGENT });
    const known = applicationOf(b.broker, 'cc').presence.list(routerOf(b.broker, 'cc').sessions.get('agent-rp')!).length;
    const filters = Array.from({ length: 200 }, () => '$presence/+');
    assert.deepEqual(new Set(await grantedQos(a.client, filters)), new Set([1]));
    await a.inbox.take(known); // each known client's state once...
    assert.ok(await a.inbox.none(150), 'presence states replayed once per copy of the filter'); // ...not 200 times
    await end(a.client, ...watchers);
  });
});

describe('identities and groups', () => {
  test('a SERVICE takes its client id back from an AGENT squatting on it (online or parked)', async () => {
    const squat = await login('svc-squat', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 600 } });
    const kicked = new Promise<number | undefined>((r) => squat.once('disconnect', (p) => r(p.reasonCode)));
    const svc = await connectWithInbox(b.url('mqtt'), { protocolVersion: 5, clientId: 'svc-squat', username: APP_KEY, password: KEYS.SERVICE });
    assert.equal(svc.sessionPresent, false); // the squatter's session is discarded, not resumed
    assert.equal(await kicked, 0x8e);
    // And the other way round stays refused.
    await assert.rejects(login('svc-squat', 'AGENT'), (err: { code?: number }) => err.code === 0x85);
    await end(svc.client, squat);
  });

  test('an AGENT may not join a shared group, even on a topic it may read', async () => {
    const a = await login('agent-share', 'AGENT');
    assert.deepEqual(await grantedQos(a, ['$share/archive/announcements/#', 'announcements/#']), [0x87, 1]);
    await end(a);
  });

  test('STOMP reply-to must be a topic name: a wildcard is refused', async () => {
    const st = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'agent-rt', passcode: KEYS.AGENT } });
    const err = new Promise<string>((r) => (st.onStompError = (f) => r(f.headers.message!)));
    st.publish({ destination: '/topic/$inbox/agent-2', body: 'x', headers: { 'reply-to': '/topic/$inbox/agent-2/#' } });
    assert.equal(await err, 'invalid destination');
    await st.deactivate();
  });
});
