/** The admin facade (broker.admin) against real MQTT.js clients. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox, publishReason } from '../helpers/mqtt.js';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { ApplicationAdmin, ClientSummary } from '../../src/index.js';

const APP_KEY = 'admin_test_app_key';
const KEYS = { AGENT: 'agent_secret_key', SUPER_AGENT: 'super_agent_secret_key', SERVICE: 'service_secret_key', ADMIN: 'admin_secret_key' } as const;

let b: RunningBroker;
let admin: ApplicationAdmin;
before(async () => {
  b = await startBroker({
    applications: [
      {
        id: 'cc',
        appKey: APP_KEY,
        profileKeys: { ...KEYS },
        duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' },
        acl: [],
        grants: {},
        presenceTopics: [],
      },
    ],
  });
  admin = b.broker.admin.app('cc')!;
});
after(() => b.stop());

/** Log in to the application with a profile (MQTT 5 unless told otherwise). */
function login(clientId: string, profile: keyof typeof KEYS, extra: IClientOptions = {}): Promise<MqttClient> {
  return connect(b.url('mqtt'), { protocolVersion: 5, clientId, username: APP_KEY, password: KEYS[profile], ...extra });
}

function userProperty(packet: { properties?: { userProperties?: Record<string, string | string[]> } }, name: string): string | string[] | undefined {
  return packet.properties?.userProperties?.[name];
}

test('list, get and kick a client connected with MQTT.js', async () => {
  const watcher = await login('adm-watch', 'ADMIN');
  const seen = new Inbox(watcher);
  await watcher.subscribeAsync('$presence/adm-1', { qos: 1 });
  const c = await login('adm-1', 'ADMIN', { clean: false, properties: { sessionExpiryInterval: 300 } });
  await c.subscribeAsync('adm/#', { qos: 1 });
  assert.equal(JSON.parse((await seen.next()).payload.toString()).online, true);

  const page = admin.listClients({ prefix: 'adm-1' });
  assert.equal(page.items.length, 1);
  const s = page.items[0]!;
  assert.equal(s.clientId, 'adm-1');
  assert.equal(s.online, true);
  assert.equal(s.app, 'cc');
  assert.equal(s.profile, 'ADMIN');
  assert.equal(s.login, 'adm-1');
  assert.equal(s.protocol, 'mqtt');
  assert.equal(s.transport, 'tcp');
  assert.match(s.remoteAddress ?? '', /127\.0\.0\.1/);
  assert.equal(s.persistent, true);
  assert.equal(s.subscriptions, 1);
  assert.ok(s.connectedAt !== null && Math.abs(Date.now() - s.connectedAt) < 10_000);

  const d = admin.getClient('adm-1');
  assert.equal(d?.session.expiryInterval, 300);
  assert.deepEqual(d?.session.subscriptions.map((x) => [x.filter, x.qos]), [['adm/#', 1]]);

  const gone = new Promise<number | undefined>((r) => c.once('disconnect', (p) => r(p.reasonCode)));
  assert.deepEqual(admin.kick('adm-1'), { ok: true, disconnected: true, sessionEnded: false });
  assert.equal(await gone, 0x98); // administrative action
  const offline = JSON.parse((await seen.next()).payload.toString());
  assert.deepEqual([offline.online, offline.reason], [false, 'kicked']);
  const parked = admin.getClient('adm-1');
  assert.equal(parked?.online, false);
  assert.ok((parked?.session.expiresAt ?? 0) > Date.now());
  assert.equal(admin.kick('adm-1').ok, false); // not connected
  assert.deepEqual(admin.kick('adm-1', { discardSession: true }), { ok: true, disconnected: false, sessionEnded: true });
  assert.equal(admin.getClient('adm-1'), null);
  await end(c, watcher);
});

test('subscribe a client server-side: retained first, then publishes with a sender', async () => {
  assert.deepEqual(admin.publish('srv/state', 'ready', { qos: 1, retain: true }), { ok: true, deliveries: 0 });
  const early = admin.subscribe('adm-2', 'srv/#');
  assert.equal(!early.ok && early.reason, 'unknown-client'); // not connected yet: no session to hold it
  assert.equal(b.broker.subscribeClient('cc', 'adm-2', 'srv/#'), false);

  // An AGENT may not subscribe to srv/# itself; the server-side action is trusted.
  const c = await login('adm-2', 'AGENT');
  const inbox = new Inbox(c);
  assert.deepEqual(admin.subscribe('adm-2', 'srv/#', { qos: 1 }), { ok: true, existed: false, retained: 1 });
  const r = await inbox.next();
  assert.deepEqual([r.topic, r.payload.toString(), r.packet.retain], ['srv/state', 'ready', true]);

  assert.equal(b.broker.publish('cc', 'srv/x', 'from the backend', { qos: 1, from: 'backend' }), 1);
  const m = await inbox.next();
  assert.equal(m.payload.toString(), 'from the backend');
  assert.equal(userProperty(m.packet, 'from'), 'backend');
  assert.throws(() => b.broker.publish('cc', '$SYS/broker/fake', 'x'), (e: unknown) => e instanceof Error && e.name === 'AdminError');

  assert.ok(b.broker.unsubscribeClient('cc', 'adm-2', 'srv/#'));
  assert.equal(b.broker.publish('cc', 'srv/y', 'nobody'), 0);
  assert.equal(admin.deleteRetained('srv/state').ok, true);
  await end(c);
});

test('retained messages: list with a filter, delete', async () => {
  const pub = await login('adm-ret', 'SERVICE');
  await pub.publishAsync('ret/1', 'one', { qos: 1, retain: true });
  await pub.publishAsync('ret/2', 'two', { qos: 1, retain: true });
  const listed = admin.listRetained({ filter: 'ret/#' }).items;
  assert.deepEqual(listed.map((x) => [x.topic, x.from, x.bytes]), [['ret/1', 'adm-ret', 3], ['ret/2', 'adm-ret', 3]]);
  assert.equal(admin.getRetained('ret/2')?.payload.toString(), 'two');
  assert.deepEqual(admin.deleteRetained('ret/1'), { ok: true, existed: true });

  const sub = await login('adm-ret-sub', 'ADMIN');
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('ret/#', { qos: 1 });
  assert.equal((await inbox.next()).topic, 'ret/2');
  assert.ok(await inbox.none(200));
  assert.deepEqual(admin.deleteRetained('ret/2'), { ok: true, existed: true });
  const cleared = await inbox.next(); // subscribers see the clear, as when a client clears it
  assert.deepEqual([cleared.topic, cleared.payload.length], ['ret/2', 0]);
  assert.equal(admin.listRetained({ filter: 'ret/#' }).items.length, 0);
  await end(pub, sub);
});

test('a dead letter replayed to the subscriber it missed', async () => {
  const pub = await login('adm-dl-pub', 'AGENT');
  assert.equal(await publishReason(pub, '$inbox/adm-late', 'are you there?'), 0x10); // nobody received it
  const letters = admin.listDeadLetters({ topic: '$inbox/adm-late' }).items;
  assert.equal(letters.length, 1);
  assert.deepEqual([letters[0]!.reason, letters[0]!.from], ['no-subscribers', 'adm-dl-pub']);

  const late = await login('adm-late', 'AGENT');
  const inbox = new Inbox(late);
  await late.subscribeAsync('$inbox/adm-late/#', { qos: 1 });
  assert.deepEqual(admin.replayDeadLetters({ ids: [letters[0]!.id] }), { ok: true, replayed: 1, deliveries: 1, failed: [] });
  const m = await inbox.next();
  assert.deepEqual([m.topic, m.payload.toString()], ['$inbox/adm-late', 'are you there?']);
  assert.equal(userProperty(m.packet, 'from'), 'adm-dl-pub'); // the original sender
  assert.equal(admin.listDeadLetters({ topic: '$inbox/adm-late' }).items.length, 0);
  await end(pub, late);
});

test('pagination over a few hundred clients', async () => {
  const clients: MqttClient[] = [];
  for (let batch = 0; batch < 6; batch++) {
    clients.push(...(await Promise.all(Array.from({ length: 50 }, (_, i) => login(`pg-${batch * 50 + i}`, 'AGENT', { protocolVersion: 4 })))));
  }
  try {
    const ids: string[] = [];
    let page = admin.listClients({ prefix: 'pg-', limit: 40 });
    assert.ok((page.total ?? 0) >= 300);
    let pages = 1;
    ids.push(...page.items.map((c: ClientSummary) => c.clientId));
    // Clients already listed leave while paging: the rest is still listed once.
    await end(...clients.slice(0, 20));
    const gone = new Set(clients.slice(0, 20).map((c) => c.options.clientId));
    while (page.next !== null) {
      page = admin.listClients({ prefix: 'pg-', limit: 40, cursor: page.next });
      ids.push(...page.items.map((c) => c.clientId));
      pages++;
    }
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 0; i < 300; i++) if (!gone.has(`pg-${i}`)) assert.ok(ids.includes(`pg-${i}`), `pg-${i} listed`);
    assert.ok(pages >= 7);
    for (let i = 0; i < 100 && b.broker.listClients('cc', { prefix: 'pg-', online: true }).length !== 280; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.broker.listClients('cc', { prefix: 'pg-', online: true }).length, 280);
  } finally {
    await end(...clients);
  }
});
