/**
 * Broker-owned topics through the core, across protocols: the $monitor tap, direct messages
 * ($inbox, $request/clients) and the dead-letter channel ($dlq). (Development mode: the profile
 * is the password when it names one.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engine } from '../helpers/memory.js';

interface Copy {
  client: string;
  direction: 'published' | 'delivered';
  topic: string;
  payload: string;
  from: string;
}

const copy = (p: { payload: Buffer }): Copy => JSON.parse(p.payload.toString()) as Copy;

test('$monitor: one copy per message published or delivered, even with exact and wildcard monitor subscriptions', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const admin = await e.mqtt('admin', { password: 'admin' });
  await admin.subscribe(['$monitor/agent', '$monitor/+'], 1);
  const agent = await e.mqtt('agent');
  await agent.subscribe(['m/#', 'm/+'], 1); // overlapping: one delivery, one copy
  await agent.publish('m/x', 'hello', { qos: 1 });
  await agent.publishPacket();
  const copies = (await admin.publishes(2)).map(copy);
  assert.deepEqual(copies.map((c) => [c.client, c.direction, c.topic, c.payload]), [['agent', 'published', 'm/x', 'hello'], ['agent', 'delivered', 'm/x', 'hello']]);
  assert.equal(await admin.quiet(), true);
});

test('$monitor follows STOMP clients too: one copy per delivery although STOMP sends one MESSAGE per subscription', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const admin = await e.mqtt('admin', { password: 'admin' });
  await admin.subscribe('$monitor/+', 1);
  const st = await e.stomp('st');
  await st.subscribe('/topic/s/#', 'a');
  await st.subscribe('/topic/s/x', 'b');
  e.broker.publish('default', 's/x', 'twice', { from: 'backend' });
  assert.equal((await st.messages(2)).length, 2);
  const c = copy(await admin.publishPacket());
  assert.deepEqual([c.client, c.direction, c.payload, c.from], ['st', 'delivered', 'twice', 'backend']);
  await st.publish('/topic/s/y', 'sent'); // and back to its own subscription
  assert.deepEqual((await admin.publishes(2)).map((p) => copy(p).direction), ['published', 'delivered']);
  assert.equal((await st.messages(1))[0]!.body.toString(), 'sent');
  assert.equal(await admin.quiet(), true);
});

test('$monitor: nobody sees a client they do not outrank', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  const peer = await e.mqtt('peer'); // an AGENT
  await peer.subscribe('$monitor/+', 1);
  const svc = await e.mqtt('svc', { password: 'service' });
  await svc.subscribe('$monitor/boss', 1);
  const boss = await e.mqtt('boss', { password: 'admin' });
  const agent = await e.mqtt('agent');
  await boss.publish('x', 'by admin', { qos: 1 });
  await agent.publish('x', 'by agent', { qos: 1 });
  assert.equal(await peer.quiet(), true);
  assert.equal(await svc.quiet(), true);
});

test('direct messages: $inbox/<id> reaches that client across protocols, waits in a parked session, is dead-lettered for nobody', async (t) => {
  const dropped: string[] = [];
  const e = engine({}, { hooks: { onMessageDropped: (msg, reason, to) => dropped.push(`${reason}:${msg.topic}:${to ?? ''}`) } });
  t.after(() => e.stop());
  const dlq = await e.mqtt('dlq', { password: 'service' });
  await dlq.subscribe('$dlq/#', 1);
  const bob = await e.mqtt('bob', { cleanStart: false, properties: { sessionExpiryInterval: 600 } });
  await bob.subscribe('$inbox/bob/#', 1);
  const alice = await e.stomp('alice');
  await alice.publish('/topic/$inbox/bob/chat', 'hi bob');
  const p = await bob.publishPacket();
  assert.deepEqual([p.topic, p.payload.toString()], ['$inbox/bob/chat', 'hi bob']);
  await bob.disconnect();

  const carol = await e.mqtt('carol');
  assert.equal(await carol.publish('$inbox/bob', 'while away', { qos: 1 }), 0);
  assert.equal(await carol.publish('$inbox/nobody', 'lost', { qos: 1 }), 0x10); // nobody received it
  const letter = await dlq.publishPacket();
  assert.equal(letter.topic, '$dlq/no-subscribers/$inbox/nobody');
  assert.deepEqual(dropped, ['no-subscribers:$inbox/nobody:']);
  const back = e.open();
  await back.connect({ clientId: 'bob', cleanStart: false, properties: { sessionExpiryInterval: 600 } });
  assert.deepEqual(await back.payloads(1), ['while away']);
});

test('$request/clients answers on the Response Topic with the clients the caller may see', async (t) => {
  const e = engine();
  t.after(() => e.stop());
  await e.mqtt('hidden-admin', { password: 'admin' });
  await e.stomp('visible');
  const caller = await e.mqtt('caller');
  await caller.subscribe('users/caller/replies', 1);
  await caller.publish('$request/clients', '', { qos: 1, properties: { responseTopic: 'users/caller/replies', correlationData: Buffer.from('q1') } });
  const answer = await caller.publishPacket();
  assert.equal(answer.properties.correlationData?.toString(), 'q1');
  const { clients } = JSON.parse(answer.payload.toString()) as { clients: Array<{ clientId: string; protocol: string; online: boolean }> };
  assert.deepEqual(clients.map((c) => `${c.clientId}/${c.protocol}/${c.online}`).sort(), ['caller/mqtt/true', 'visible/stomp/true']);
});

test('dead letters: every lettered drop is published once to $dlq/<reason>/<topic> and kept in memory', async (t) => {
  const e = engine({ limits: { maxQueuedMessages: 1 } });
  t.after(() => e.stop());
  const dlq = await e.stomp('dlq');
  await dlq.subscribe('/topic/$dlq/#', 'd');
  const parked = await e.mqtt('parked', { cleanStart: false, properties: { sessionExpiryInterval: 600 } });
  await parked.subscribe('dl/#', 2);
  await parked.disconnect();
  e.broker.publish('default', 'dl/a', 'kept', { qos: 2 });
  e.broker.publish('default', 'dl/b', 'overflow', { qos: 2, from: 'backend' });
  e.broker.publish('default', 'dl/c', 'qos 0 offline: not lettered', { qos: 0 });
  const m = await dlq.message();
  assert.equal(m.headers.destination, '/topic/$dlq/queue-full/dl/b');
  const body = JSON.parse(m.body.toString()) as { reason: string; to: string; from: string; payload: string; qos: number };
  assert.deepEqual([body.reason, body.to, body.from, body.payload, body.qos], ['queue-full', 'parked', 'backend', 'overflow', 2]);
  assert.equal(await dlq.quiet(), true);
  const dl = e.app().deadLetters;
  assert.equal(dl.count, 1);
  assert.deepEqual([...dl.recent].map((x) => `${x.reason}:${x.msg.topic}:${x.to ?? ''}`), ['queue-full:dl/b:parked']);
});
