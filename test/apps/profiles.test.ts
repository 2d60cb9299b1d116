/** Applications, login, profiles, permissions, monitoring, direct messages, presence, dead letters. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, grantedQos, Inbox, publishReason } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { publishWithReceipt, stompOverTcp, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import type { ApplicationConfig } from '../../src/config/types.js';

const APP_KEY = 'my_app_secret_key';
const KEYS = {
  AGENT: 'my_agent_secret_key',
  SUPER_AGENT: 'my_super_agent_secret_key',
  SERVICE: 'my_service_secret_key',
  ADMIN: 'my_admin_secret_key',
} as const;
const JWT_SECRET = 'jwt-test-secret';

function app(id: string, appKey: string, extra: Partial<ApplicationConfig> = {}): ApplicationConfig {
  return {
    id,
    appKey,
    profileKeys: { ...KEYS },
    duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'reject', ADMIN: 'reject' },
    acl: [{ permission: 'allow', action: 'all', topic: 'team/#', profiles: ['AGENT', 'SUPER_AGENT'] }],
    grants: {},
    presenceTopics: ['rooms/#'],
    jwt: { hs256Secret: JWT_SECRET },
    ...extra,
  };
}

let b: RunningBroker;
let url: string;
before(async () => {
  b = await startBroker({
    listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'],
    applications: [app('cc', APP_KEY), app('other', 'other_app_key')],
  });
  url = b.url('mqtt');
});
after(() => b.stop());

type P = keyof typeof KEYS;
const login = (id: string, profile: P, extra: Record<string, unknown> = {}, appKey = APP_KEY): Promise<MqttClient> =>
  connect(url, { protocolVersion: 5, clientId: id, username: appKey, password: KEYS[profile], ...extra });

function jwt(claims: Record<string, unknown>, secret = JWT_SECRET): string {
  const enc = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

async function refusedWith(opts: Record<string, unknown>): Promise<number | undefined> {
  try {
    const c = await connect(url, { protocolVersion: 5, ...opts });
    await end(c);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('login', () => {
  test('profile keys log in; a wrong key gets CONNACK 0x86; an unknown app 0x86', async () => {
    const c = await login('ok-agent', 'AGENT');
    await end(c);
    assert.equal(await refusedWith({ clientId: 'bad', username: APP_KEY, password: 'nope' }), 0x86);
    assert.equal(await refusedWith({ clientId: 'bad2', username: 'no_such_app', password: KEYS.AGENT }), 0x86);
  });

  test('3.1.1 refusal uses return code 4', async () => {
    try {
      await connect(url, { protocolVersion: 4, clientId: 'bad311', username: APP_KEY, password: 'nope' });
      assert.fail('connected');
    } catch (err) {
      assert.equal((err as { code?: number }).code, 4);
    }
  });

  test('JWT: accepted, expired and wrong signature refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = jwt({ sub: 'jwt-agent', app: 'cc', profile: 'agent', exp: now + 60 });
    const c = await connect(url, { protocolVersion: 5, clientId: 'jwt-agent', username: APP_KEY, password: good });
    await end(c);
    const expired = jwt({ sub: 'jwt-agent', app: 'cc', profile: 'agent', exp: now - 60 });
    assert.equal(await refusedWith({ clientId: 'jwt-agent', username: APP_KEY, password: expired }), 0x86);
    const forged = jwt({ sub: 'jwt-agent', app: 'cc', profile: 'admin', exp: now + 60 }, 'wrong-secret');
    assert.equal(await refusedWith({ clientId: 'jwt-agent', username: APP_KEY, password: forged }), 0x86);
  });

  test('duplicate login: agents take over, services are rejected', async () => {
    const s1 = await login('svc-dup', 'SERVICE');
    assert.equal(await refusedWith({ clientId: 'svc-dup', username: APP_KEY, password: KEYS.SERVICE }), 0x87);
    assert.ok(s1.connected);
    await end(s1);
  });

  test('STOMP login: host = app key, login, passcode', async () => {
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'stomp-agent', passcode: KEYS.AGENT } });
    await s.deactivate();
    await assert.rejects(stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'x', passcode: 'wrong' } }), /bad login or passcode/);
  });
});

describe('permissions', () => {
  test('AGENT: own topics and granted topics yes, others no (PUBACK/SUBACK 0x87)', async () => {
    const a = await login('agent-p', 'AGENT');
    assert.equal(await publishReason(a, 'users/agent-p/status', 'x'), 0x10);
    assert.equal(await publishReason(a, 'team/x', 'x'), 0x10);
    assert.equal(await publishReason(a, 'broadcast/all', 'x'), 0x87);
    assert.deepEqual(await grantedQos(a, ['users/agent-p/#', 'broadcast/#', '$inbox/someone-else/#']), [1, 0x87, 0x87]);
    await end(a);
  });

  test('SERVICE may broadcast and subscribe to shared subscriptions; AGENT may not', async () => {
    const s = await login('svc-p', 'SERVICE');
    const a = await login('agent-p2', 'AGENT');
    assert.deepEqual(await grantedQos(s, ['$share/backend/uplink/#']), [1]);
    assert.deepEqual(await grantedQos(a, ['$share/backend/uplink/#']), [0x87]);
    await end(s, a);
  });

  test('STOMP: a denied SEND is an ERROR', async () => {
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'stomp-deny', passcode: KEYS.AGENT } });
    const err = new Promise<string>((r) => (s.onStompError = (f) => r(f.headers.message!)));
    s.publish({ destination: '/topic/broadcast/all', body: 'x' });
    assert.equal(await err, 'not authorized');
    await s.deactivate();
  });

  test('config reload changes permissions without a restart', async () => {
    const a = await login('agent-reload', 'AGENT');
    assert.equal(await publishReason(a, 'reload/x', 'x'), 0x87);
    const cfg = structuredClone(b.broker.applications.get('cc')!.config!);
    cfg.acl = [...cfg.acl, { permission: 'allow', action: 'publish', topic: 'reload/#' }];
    b.broker.applications.get('cc')!.reconfigure(cfg);
    assert.equal(await publishReason(a, 'reload/x', 'x'), 0x10);
    await end(a);
  });
});

describe('monitoring', () => {
  test('SUPER_AGENT monitors an AGENT: copies of published and delivered messages, in order', async () => {
    const sup = await login('sup-m', 'SUPER_AGENT');
    const watch = new Inbox(sup);
    await sup.subscribeAsync('$monitor/agent-m', { qos: 1 });
    const agent = await login('agent-m', 'AGENT');
    await agent.subscribeAsync('$inbox/agent-m/#', { qos: 1 });
    const svc = await login('svc-m', 'SERVICE');
    await agent.publishAsync('users/agent-m/one', '1', { qos: 1 });
    await svc.publishAsync('$inbox/agent-m', 'hello agent', { qos: 1 });
    await agent.publishAsync('users/agent-m/two', '2', { qos: 1 });
    const copies = (await watch.take(3)).map((m) => JSON.parse(m.payload.toString()) as { direction: string; topic: string; payload: string });
    assert.deepEqual(copies.map((c) => [c.direction, c.topic, c.payload]), [
      ['published', 'users/agent-m/one', '1'],
      ['delivered', '$inbox/agent-m', 'hello agent'],
      ['published', 'users/agent-m/two', '2'],
    ]);
    await end(sup, agent, svc);
  });

  test('matrix: AGENT may not monitor; SERVICE sees SUPER_AGENT; nobody below sees ADMIN', async () => {
    const a = await login('agent-mx', 'AGENT');
    assert.deepEqual(await grantedQos(a, ['$monitor/+']), [0x87]);
    const svc = await login('svc-mx', 'SERVICE');
    const watch = new Inbox(svc);
    await svc.subscribeAsync('$monitor/+', { qos: 0 });
    const admin = await login('admin-mx', 'ADMIN');
    const sup = await login('sup-mx', 'SUPER_AGENT');
    await admin.publishAsync('admin/secret', 'hidden', { qos: 1 });
    await sup.publishAsync('users/sup-mx/x', 'visible', { qos: 1 });
    const m = JSON.parse((await watch.next()).payload.toString()) as { client: string; payload: string };
    assert.equal(m.client, 'sup-mx'); // the ADMIN's publish came first but was not copied
    assert.equal(m.payload, 'visible');
    await end(a, svc, admin, sup);
  });
});

describe('direct messages and dead letters', () => {
  test('online, offline with a session (queued), unknown (dead letter + 0x10)', async () => {
    const svc = await login('svc-d', 'SERVICE');
    const dlq = new Inbox(svc);
    await svc.subscribeAsync('$dlq/#', { qos: 1 });
    const bob = await login('bob', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 300 } });
    const bobIn = new Inbox(bob);
    await bob.subscribeAsync('$inbox/bob/#', { qos: 1 });
    const alice = await login('alice', 'AGENT');
    await alice.publishAsync('$inbox/bob/chat', 'hi bob', { qos: 1 });
    const got = await bobIn.next();
    assert.equal(got.payload.toString(), 'hi bob');
    assert.deepEqual({ ...got.packet.properties?.userProperties }, { from: 'alice' });
    await bob.endAsync();
    await alice.publishAsync('$inbox/bob/chat', 'while away', { qos: 1 });
    const { client: bob2, inbox: bob2In } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'bob', username: APP_KEY, password: KEYS.AGENT, clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal((await bob2In.next()).payload.toString(), 'while away');
    assert.equal(await publishReason(alice, '$inbox/nobody', 'lost'), 0x10);
    const letter = JSON.parse((await dlq.next()).payload.toString()) as { reason: string; originalTopic: string; from: string };
    assert.deepEqual([letter.reason, letter.originalTopic, letter.from], ['no-subscribers', '$inbox/nobody', 'alice']);
    await end(svc, bob2, alice);
  });

  test('STOMP and MQTT clients exchange direct messages; the sender is stamped as from', async () => {
    const m = await login('mq-direct', 'AGENT');
    const mIn = new Inbox(m);
    await m.subscribeAsync('$inbox/mq-direct/#', { qos: 1 });
    const s = await stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'st-direct', passcode: KEYS.AGENT } });
    const sIn = new StompInbox();
    await subscribeWithReceipt(s, '/topic/$inbox/st-direct/#', sIn);
    await publishWithReceipt(s, '/topic/$inbox/mq-direct', 'from stomp');
    const got = await mIn.next();
    assert.equal(got.payload.toString(), 'from stomp');
    assert.deepEqual({ ...got.packet.properties?.userProperties }, { from: 'st-direct' });
    await m.publishAsync('$inbox/st-direct', 'from mqtt', { qos: 1 });
    const back = await sIn.next();
    assert.equal(back.body, 'from mqtt');
    assert.equal(back.headers.from, 'mq-direct');
    await s.deactivate();
    await end(m);
  });

  test('$request/clients answers with the clients the caller may see', async () => {
    const admin = await login('admin-list', 'ADMIN');
    const a = await login('agent-list', 'AGENT');
    const inbox = new Inbox(a);
    await a.subscribeAsync('$inbox/agent-list/#', { qos: 1 });
    await a.publishAsync('$request/clients', '', { qos: 1, properties: { responseTopic: '$inbox/agent-list/clients', correlationData: Buffer.from('q1') } });
    const reply = await inbox.next();
    const list = (JSON.parse(reply.payload.toString()) as { clients: Array<{ clientId: string }> }).clients.map((c) => c.clientId);
    assert.ok(list.includes('agent-list'));
    assert.ok(!list.includes('admin-list'));
    assert.equal(Buffer.from(reply.packet.properties!.correlationData!).toString(), 'q1');
    await end(admin, a);
  });
});

describe('presence', () => {
  test('online, clean disconnect and dropped connection', async () => {
    const w = await login('presence-watch', 'SUPER_AGENT');
    const inbox = new Inbox(w);
    await w.subscribeAsync('$presence/pr-agent', { qos: 1 });
    const a = await login('pr-agent', 'AGENT');
    const on = JSON.parse((await inbox.next()).payload.toString()) as { online: boolean; profile: string; protocol: string };
    assert.deepEqual([on.online, on.profile, on.protocol], [true, 'AGENT', 'mqtt']);
    await a.endAsync();
    const off = JSON.parse((await inbox.next()).payload.toString()) as { online: boolean; reason: string };
    assert.deepEqual([off.online, off.reason], [false, 'clean']);
    const a2 = await login('pr-agent', 'AGENT');
    await inbox.next();
    a2.stream.destroy();
    const dropped = JSON.parse((await inbox.next()).payload.toString()) as { reason: string };
    assert.equal(dropped.reason, 'dropped');
    await end(w, a2);
  });

  test('$members announces joins and leaves with a count', async () => {
    const w = await login('members-watch', 'ADMIN');
    const inbox = new Inbox(w);
    await w.subscribeAsync('$members/rooms/+', { qos: 1 });
    const a = await login('member-a', 'AGENT', {});
    assert.deepEqual(await grantedQos(a, ['rooms/lobby']), [0x87]); // agents need a grant for rooms/...
    const admin2 = await login('member-b', 'ADMIN');
    await admin2.subscribeAsync('rooms/lobby', { qos: 0 });
    const ev = JSON.parse((await inbox.next()).payload.toString()) as { event: string; client: string; count: number };
    assert.deepEqual([ev.event, ev.client, ev.count], ['join', 'member-b', 1]);
    await admin2.unsubscribeAsync('rooms/lobby');
    const ev2 = JSON.parse((await inbox.next()).payload.toString()) as { event: string; count: number };
    assert.deepEqual([ev2.event, ev2.count], ['leave', 0]);
    await end(w, a, admin2);
  });
});

describe('isolation', () => {
  test('clients of one application never see another application', async () => {
    const x = await connect(url, { protocolVersion: 5, clientId: 'iso', username: 'other_app_key', password: KEYS.ADMIN });
    const xIn = new Inbox(x);
    await x.subscribeAsync('#', { qos: 1 });
    const y = await login('iso', 'ADMIN'); // same client id, other application: no takeover
    await y.publishAsync('shared/topic', 'cc only', { qos: 1 });
    await x.publishAsync('shared/sentinel', 'other', { qos: 1 });
    assert.equal((await xIn.next()).payload.toString(), 'other');
    assert.ok(x.connected && y.connected);
    await end(x, y);
  });
});
