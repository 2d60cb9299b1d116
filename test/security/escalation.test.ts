/**
 * The security review, replayed: an attacker holding only the AGENT key of the contact-centre
 * example (plus `%u` rules and `duplicateLogin: reject` for SERVICE and ADMIN) tries to read
 * others' messages, take over SERVICE and ADMIN sessions and forge announcements. Each test
 * is one finding of the review, with real clients (MQTT.js, @stomp/stompjs, raw sockets).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, grantedQos, Inbox, publishReason } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { stompOverTcp, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import { APP_KEY, contactCentre, KEYS } from '../helpers/apps.js';
import type { IClientOptions } from 'mqtt';

type P = keyof typeof KEYS;


let b: RunningBroker;
let url: string;
before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [contactCentre()] });
  url = b.url('mqtt');
});
after(() => b.stop());

const login = (id: string, profile: P, extra: IClientOptions = {}): Promise<MqttClient> =>
  connect(url, { protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS[profile], ...extra });

/** The CONNACK reason of a refused login (0 when it connected). */
async function connackOf(id: string, profile: P, extra: IClientOptions = {}): Promise<number | undefined> {
  try {
    const c = await login(id, profile, extra);
    await end(c);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

const stompLogin = (id: string, profile: P) => stompOverTcp(b.port('stomp'), { connectHeaders: { host: APP_KEY, login: id, passcode: KEYS[profile] } });

describe('1. wildcards in client ids and logins', () => {
  test('MQTT client ids "#", "+", "a/b" are refused (v5 0x85, 3.1.1 code 2)', async () => {
    for (const id of ['#', '+', 'agent/#', 'a/b', '+/x']) assert.equal(await connackOf(id, 'AGENT'), 0x85, id);
    await assert.rejects(connect(url, { protocolVersion: 4, clientId: '#', username: APP_KEY, password: KEYS.AGENT }), (err: { code?: number }) => err.code === 2);
  });

  test('a STOMP login "#" gets an ERROR and nothing of $inbox/#', async () => {
    await assert.rejects(stompLogin('#', 'AGENT'), /invalid client identifier/);
  });

  test('an agent "#" cannot read another agent\'s inbox (the review\'s attack, end to end)', async () => {
    const victim = await connectWithInbox(url, { protocolVersion: 5, clientId: 'victim', username: APP_KEY, password: KEYS.AGENT });
    await victim.client.subscribeAsync('$inbox/victim/#', { qos: 1 });
    const svc = await login('svc-dm', 'SERVICE');
    assert.equal(await publishReason(svc, '$inbox/victim', 'for the victim only'), 0);
    assert.equal((await victim.inbox.next()).payload.toString(), 'for the victim only');
    assert.equal(await connackOf('#', 'AGENT'), 0x85);
    await end(victim.client, svc);
  });
});

describe('2. takeover across profiles', () => {
  test('an AGENT using a SERVICE\'s client id is refused (0x85); the SERVICE stays connected', async () => {
    const svc = await login('svc-1', 'SERVICE');
    let kicked = false;
    svc.on('disconnect', () => (kicked = true));
    assert.equal(await connackOf('svc-1', 'AGENT'), 0x85);
    assert.equal(await connackOf('svc-1', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 60 } }), 0x85);
    assert.ok(svc.connected && !kicked);
    // Same profile: the holder's policy (reject) applies.
    assert.equal(await connackOf('svc-1', 'SERVICE'), 0x87);
    await end(svc);
  });

  test('an ADMIN\'s parked persistent session is neither resumed nor replaced by an AGENT', async () => {
    const admin = await login('admin-1', 'ADMIN', { clean: false, properties: { sessionExpiryInterval: 300 } });
    await admin.subscribeAsync('#', { qos: 1 });
    await end(admin);
    assert.equal(await connackOf('admin-1', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 300 } }), 0x85);
    assert.equal(await connackOf('admin-1', 'AGENT', { clean: true }), 0x85);
    const back = await connectWithInbox(url, { protocolVersion: 5, clientId: 'admin-1', username: APP_KEY, password: KEYS.ADMIN, clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(back.sessionPresent, true);
    await back.client.endAsync(true, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
  });

  test('STOMP: an AGENT login with a SERVICE\'s id gets ERROR "wrong profile registered"', async () => {
    const svc = await login('svc-2', 'SERVICE');
    await assert.rejects(stompLogin('svc-2', 'AGENT'), /wrong profile registered/);
    assert.ok(svc.connected);
    await end(svc);
  });

  test('a resumed session keeps only the subscriptions its client may still hold', async () => {
    const a = await login('agent-resume', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 300 } });
    await a.subscribeAsync('announcements/#', { qos: 1 });
    await end(a);
    const app = b.broker.applications.get('cc')!;
    const cfg = structuredClone(app.config!);
    app.reconfigure({ ...cfg, grants: {} }); // announcements/# is no longer granted to agents
    try {
      const again = await login('agent-resume', 'AGENT', { clean: false, properties: { sessionExpiryInterval: 300 } });
      assert.equal(b.broker.listClients('cc').find((c) => c.clientId === 'agent-resume')?.subscriptions, 0);
      await again.endAsync(true, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    } finally {
      app.reconfigure(cfg);
    }
  });
});

describe('3. wills are publishes', () => {
  test('a will on a topic the AGENT may not publish is refused at CONNECT (0x87 / 5)', async () => {
    const sup = await login('sup-will', 'SUPER_AGENT');
    const seen = new Inbox(sup);
    await sup.subscribeAsync('announcements/#', { qos: 1 });
    const will = { topic: 'announcements/team', payload: Buffer.from('forged'), qos: 1 as const, retain: true };
    assert.equal(await connackOf('agent-will', 'AGENT', { will }), 0x87);
    await assert.rejects(connect(url, { protocolVersion: 4, clientId: 'agent-will', username: APP_KEY, password: KEYS.AGENT, will }), (err: { code?: number }) => err.code === 5);
    for (const topic of ['$dlq/queue-full/x', '$members/rooms/1', '$SYS/broker/version', '$presence/victim']) {
      assert.equal(await connackOf('agent-will2', 'AGENT', { will: { ...will, topic } }), 0x87, topic);
    }
    assert.ok(await seen.none(100));
    assert.equal(b.broker.applications.get('cc')!.router.retained.get('announcements/team'), undefined);
    await end(sup);
  });

  test('a will allowed at CONNECT is authorised again when it fires (rules reloaded meanwhile)', async () => {
    const admin = await login('admin-watch', 'ADMIN');
    const seen = new Inbox(admin);
    await admin.subscribeAsync('users/#', { qos: 1 });
    const app = b.broker.applications.get('cc')!;
    const cfg = structuredClone(app.config!);
    const dropWithWill = async (id: string): Promise<void> => {
      const c = await login(id, 'AGENT', { will: { topic: `users/${id}/status`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      const closed = new Promise((r) => c.once('close', () => r(undefined)));
      c.stream.destroy(); // not a clean DISCONNECT: the will fires
      await closed;
    };
    await dropWithWill('agent-w1');
    assert.equal((await seen.next()).topic, 'users/agent-w1/status'); // control: it fires
    app.reconfigure({ ...cfg, acl: [{ permission: 'deny', action: 'publish', topic: 'users/#' }, ...cfg.acl] });
    try {
      const c = await login('agent-w2', 'AGENT', { will: { topic: 'users/agent-w2/status', payload: Buffer.from('gone'), qos: 1, retain: false } });
      // Allowed when it connected? No: the reload came first here, so CONNECT is refused.
      await end(c).catch(() => undefined);
    } catch (err) {
      assert.equal((err as { code?: number }).code, 0x87);
    }
    app.reconfigure(cfg);
    const c3 = await login('agent-w3', 'AGENT', { will: { topic: 'users/agent-w3/status', payload: Buffer.from('gone'), qos: 1, retain: false } });
    app.reconfigure({ ...cfg, acl: [{ permission: 'deny', action: 'publish', topic: 'users/#' }, ...cfg.acl] });
    try {
      const closed = new Promise((r) => c3.once('close', () => r(undefined)));
      c3.stream.destroy();
      await closed;
      assert.ok(await seen.none(200), 'the will was published after its permission was withdrawn');
    } finally {
      app.reconfigure(cfg);
      await end(admin);
    }
  });
});

describe('5. $request/clients answers only where the caller may publish', () => {
  test('a Response Topic the AGENT may not publish gets no answer; its own inbox does', async () => {
    const sup = await login('sup-req', 'SUPER_AGENT');
    const seen = new Inbox(sup);
    await sup.subscribeAsync('announcements/#', { qos: 1 });
    const a = await connectWithInbox(url, { protocolVersion: 5, clientId: 'agent-req', username: APP_KEY, password: KEYS.AGENT });
    await a.client.subscribeAsync('$inbox/agent-req/#', { qos: 1 });
    const forged = await publishReason(a.client, '$request/clients', '', { properties: { responseTopic: 'announcements/team', correlationData: Buffer.from('x') } });
    assert.equal(forged, 0x10);
    assert.ok(await seen.none(150));
    await publishReason(a.client, '$request/clients', '', { properties: { responseTopic: '$inbox/agent-req/clients', correlationData: Buffer.from('c1') } });
    const answer = await a.inbox.next();
    assert.equal(answer.topic, '$inbox/agent-req/clients');
    assert.equal(answer.packet.properties?.correlationData?.toString(), 'c1');
    await end(sup, a.client);
  });
});

describe('6. shared subscriptions are authorised by their inner filter', () => {
  test('a SERVICE may not read $inbox, $SYS or $monitor through $share', async () => {
    const s = await login('svc-share', 'SERVICE');
    assert.deepEqual(await grantedQos(s, ['$share/g/$inbox/#', '$share/g/$SYS/#', '$share/h/$monitor/+', '$share/h/$presence/+', '$share/g/$dlq/#']), [0x87, 0x87, 0x87, 0x87, 0x87]);
    assert.deepEqual(await grantedQos(s, ['$share/g/calls/#', '$share/jobs/$queue/jobs', '$share/u/uplink/+']), [1, 1, 1]);
    await end(s);
  });
});

describe('7. retained messages and subscriptions are bounded', () => {
  test('limits.maxRetained: the publish that would store one too many gets 0x97; replace and clear still work', async () => {
    const rb = await startBroker({ applications: [contactCentre()], limits: { maxRetained: 3, maxRetainedPerClient: 100 } });
    try {
      const s = await connect(rb.url('mqtt'), { protocolVersion: 5, clientId: 'svc-r', username: APP_KEY, password: KEYS.SERVICE });
      const retain = (t: string, m: string) => new Promise<number>((resolve) => {
        s.publish(t, m, { qos: 1, retain: true }, (_e, p) => resolve((p as { reasonCode?: number } | undefined)?.reasonCode ?? 0));
      });
      for (const t of ['r/1', 'r/2', 'r/3']) assert.notEqual(await retain(t, 'x'), 0x97);
      assert.equal(await retain('r/4', 'x'), 0x97);
      assert.notEqual(await retain('r/1', 'replaced'), 0x97);
      assert.notEqual(await retain('r/2', ''), 0x97); // clear
      assert.notEqual(await retain('r/4', 'x'), 0x97); // room again
      assert.equal(rb.broker.applications.get('cc')!.router.retained.size, 3);
      await end(s);
    } finally {
      await rb.stop();
    }
  });

  test('limits.maxRetainedPerClient and limits.maxSubscriptionsPerClient', async () => {
    const rb = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [contactCentre()], limits: { maxRetainedPerClient: 2, maxSubscriptionsPerClient: 3 } });
    try {
      const mk = (id: string) => connect(rb.url('mqtt'), { protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS.AGENT });
      const a = await mk('agent-lim');
      const other = await mk('agent-lim2');
      assert.equal(await publishReason(a, 'users/agent-lim/1', 'x', { properties: {} }).catch(() => -1), 0x10);
      const retain = (c: MqttClient, t: string) => new Promise<number>((resolve) => c.publish(t, 'x', { qos: 1, retain: true }, (_e, p) => resolve((p as { reasonCode?: number } | undefined)?.reasonCode ?? 0)));
      assert.notEqual(await retain(a, 'users/agent-lim/a'), 0x97);
      assert.notEqual(await retain(a, 'users/agent-lim/b'), 0x97);
      assert.equal(await retain(a, 'users/agent-lim/c'), 0x97);
      assert.notEqual(await retain(other, 'users/agent-lim2/a'), 0x97);
      assert.deepEqual(await grantedQos(a, ['users/agent-lim/1', 'users/agent-lim/2', 'users/agent-lim/3', 'users/agent-lim/4']), [1, 1, 1, 0x97]);
      assert.deepEqual(await grantedQos(a, ['users/agent-lim/1']), [1]); // replacing one is fine
      const st = await stompOverTcp(rb.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'stomp-lim', passcode: KEYS.AGENT } });
      const inbox = new StompInbox();
      for (let i = 1; i <= 3; i++) await subscribeWithReceipt(st, `/topic/users/stomp-lim/${i}`, inbox);
      const err = new Promise<string>((r) => (st.onStompError = (f) => r(f.headers.message!)));
      st.subscribe('/topic/users/stomp-lim/4', inbox.onMessage);
      assert.equal(await err, 'quota exceeded');
      await st.deactivate();
      await end(a, other);
    } finally {
      await rb.stop();
    }
  });
});

describe('8. offline sessions and the memory budget', () => {
  test('limits.maxPersistentSessions: one AGENT key cannot park unlimited sessions', async () => {
    const rb = await startBroker({ applications: [contactCentre()], limits: { maxPersistentSessions: 2 } });
    try {
      const mk = (id: string, persistent: boolean) =>
        connect(rb.url('mqtt'), { protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS.AGENT, clean: !persistent, ...(persistent ? { properties: { sessionExpiryInterval: 600 } } : {}) });
      await end(await mk('p1', true), await mk('p2', true));
      await assert.rejects(mk('p3', true), (err: { code?: number }) => err.code === 0x97);
      await assert.rejects(connect(rb.url('mqtt'), { protocolVersion: 4, clientId: 'p3', username: APP_KEY, password: KEYS.AGENT, clean: false }), (err: { code?: number }) => err.code === 3);
      await end(await mk('p4', false)); // clean sessions are not counted
      await end(await mk('p1', true)); // resuming one is
    } finally {
      await rb.stop();
    }
  });

  test('limits.maxStoredBytesPerApp bounds what all offline sessions of an application hold', async () => {
    const rb = await startBroker({ applications: [contactCentre()], limits: { maxStoredBytesPerApp: 10_000 } });
    try {
      const mqttUrl = rb.url('mqtt');
      const park = async (id: string) => {
        const c = await connect(mqttUrl, { protocolVersion: 5, clientId: id, username: APP_KEY, password: KEYS.AGENT, clean: false, properties: { sessionExpiryInterval: 600 } });
        await c.subscribeAsync(`$inbox/${id}/#`, { qos: 1 });
        await end(c);
      };
      await park('q1');
      await park('q2');
      const svc = await connect(mqttUrl, { protocolVersion: 5, clientId: 'svc-q', username: APP_KEY, password: KEYS.SERVICE });
      const payload = Buffer.alloc(1000, 1);
      for (let i = 0; i < 8; i++) await svc.publishAsync('$inbox/q1/x', payload, { qos: 1 });
      for (let i = 0; i < 8; i++) await svc.publishAsync('$inbox/q2/x', payload, { qos: 1 });
      const router = rb.broker.applications.get('cc')!.router;
      assert.ok(router.storedBytes <= 10_000, `queued ${router.storedBytes}`);
      assert.ok(router.stats.droppedByReason['queue-full'] >= 6);
      await end(svc);
    } finally {
      await rb.stop();
    }
  });

  test('limits.memoryBudget: past it QoS 1 gets 0x97, QoS 0 is dropped and counted, and it recovers', async () => {
    const rb = await startBroker({ applications: [contactCentre()], limits: { memoryBudget: 1024 * 1024, maxRetainedPerClient: 10_000 } });
    try {
      const mqttUrl = rb.url('mqtt');
      const svc = await connect(mqttUrl, { protocolVersion: 5, clientId: 'svc-b', username: APP_KEY, password: KEYS.SERVICE });
      const sub = await connectWithInbox(mqttUrl, { protocolVersion: 5, clientId: 'admin-b', username: APP_KEY, password: KEYS.ADMIN });
      await sub.client.subscribeAsync('live/#', { qos: 1 });
      const big = Buffer.alloc(200 * 1024, 7);
      for (let i = 0; i < 6; i++) await svc.publishAsync(`store/${i}`, big, { qos: 1, retain: true });
      assert.equal(await publishReason(svc, 'live/a', 'refused'), 0x97);
      await svc.publishAsync('live/b', 'dropped', { qos: 0 });
      assert.ok(await sub.inbox.none(150));
      const router = rb.broker.applications.get('cc')!.router;
      assert.ok(router.stats.droppedByReason.overload >= 1);
      for (let i = 0; i < 6; i++) await svc.publishAsync(`store/${i}`, '', { qos: 1, retain: true }); // free it
      assert.equal(await publishReason(svc, 'live/c', 'accepted'), 0);
      assert.equal((await sub.inbox.next()).payload.toString(), 'accepted');
      await end(svc, sub.client);
    } finally {
      await rb.stop();
    }
  });
});

describe('STOMP frames go through the same policy', () => {
  test('a transaction holds at most limits.maxQueuedMessages frames', async () => {
    const rb = await startBroker({ listen: ['stomp://127.0.0.1:0'], applications: [contactCentre()], limits: { maxQueuedMessages: 5 } });
    try {
      const st = await stompOverTcp(rb.port('stomp'), { connectHeaders: { host: APP_KEY, login: 'svc-tx', passcode: KEYS.SERVICE } });
      const err = new Promise<string>((r) => (st.onStompError = (f) => r(f.headers.message!)));
      const tx = st.begin('t1');
      for (let i = 0; i < 6; i++) st.publish({ destination: '/topic/x', body: String(i), headers: { transaction: tx.id } });
      assert.equal(await err, 'quota exceeded');
      await st.deactivate();
    } finally {
      await rb.stop();
    }
  });
});
