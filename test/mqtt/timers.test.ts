/** Will Delay Interval and Session Expiry Interval with real (short) timers. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, Inbox } from '../helpers/mqtt.js';

let b: RunningBroker;
before(async () => {
  b = await startBroker();
});
after(() => b.stop());

const will = (topic: string, delay: number) => ({
  topic,
  payload: Buffer.from('gone'),
  qos: 1 as const,
  retain: false,
  properties: { willDelayInterval: delay },
});

test('the will waits for its delay [MQTT-3.1.3-9]', async () => {
  const watcher = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-watch' });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync('wd/+', { qos: 1 });
  const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-1', will: will('wd/1', 1), properties: { sessionExpiryInterval: 60 } });
  const t0 = Date.now();
  c.stream.destroy();
  const m = await inbox.next(4000);
  assert.equal(m.topic, 'wd/1');
  assert.ok(Date.now() - t0 >= 900, `will after ${Date.now() - t0} ms`);
  await end(watcher, c);
});

test('reconnecting within the delay cancels the will', async () => {
  const watcher = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-watch2' });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync('wd2/+', { qos: 1 });
  const opts = { protocolVersion: 5 as const, clientId: 'wd-2', clean: false, will: will('wd2/x', 1), properties: { sessionExpiryInterval: 60 } };
  const c = await connect(b.url('mqtt'), opts);
  c.stream.destroy();
  const again = await connect(b.url('mqtt'), { ...opts, will: undefined });
  // Absence can only be shown by waiting past the delay; a sentinel proves delivery still works.
  await new Promise((r) => setTimeout(r, 1300));
  await again.publishAsync('wd2/sentinel', 'still here', { qos: 1 });
  assert.equal((await inbox.next()).topic, 'wd2/sentinel');
  await end(watcher, again);
});

test('a session ends after its expiry interval [MQTT-3.1.2-23]', async () => {
  const opts = { protocolVersion: 5 as const, clientId: 'exp-1', clean: false, properties: { sessionExpiryInterval: 1 } };
  const c = await connect(b.url('mqtt'), opts);
  await c.subscribeAsync('exp1/t', { qos: 1 });
  await c.endAsync();
  const quick = await connectWithInbox(b.url('mqtt'), opts);
  assert.equal(quick.sessionPresent, true);
  await quick.client.endAsync();
  await new Promise((r) => setTimeout(r, 1500));
  const late = await connectWithInbox(b.url('mqtt'), opts);
  assert.equal(late.sessionPresent, false);
  await end(late.client);
});
