/**
 * MQTT timers over real sockets, with the broker's clock injected (core/clock.ts): Will Delay
 * Interval, Session Expiry Interval, keepalive, connect timeout. Time moves only when a test
 * advances the ManualClock, so nothing here sleeps for a timer; the wire is real.
 *
 * The last tests run a broker on the system clock: delays longer than setTimeout can wait
 * (2^31-1 ms, 24.8 days) must not fire at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, connectWithInbox, end, Inbox } from '../helpers/mqtt.js';
import { connectV4, connectV5, RawClient, readPacket } from '../helpers/raw.js';
import { ManualClock, SWEEP_MS } from '../../src/core/clock.js';
import type { Router } from '../../src/core/router.js';

const DAY_S = 24 * 3600;

/** Resolve once `cond()` holds (the broker handles a socket's close a few turns after the client). */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A few event-loop turns: what the broker wrote after a clock step has reached the client. */
const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/**
 * MQTT.js pings on real time while the broker judges silence on its own clock: clients of the
 * clock-driven broker ask for no keepalive, so advancing the clock never times them out.
 */
const quiet = (url: string, opts: Parameters<typeof connect>[1] = {}): ReturnType<typeof connect> => connect(url, { ...opts, keepalive: 0 });

const will = (topic: string, delay: number) => ({
  topic,
  payload: Buffer.from('gone'),
  qos: 1 as const,
  retain: false,
  properties: { willDelayInterval: delay },
});

describe('on an injected clock', () => {
  const clock = new ManualClock();
  let b: RunningBroker;
  let router: Router;
  before(async () => {
    b = await startBroker({ listen: ['mqtt://127.0.0.1:0'], mqtt: { maxSessionExpiry: 0xffffffff, connectTimeoutMs: 10_000 } }, { clock });
    router = [...b.broker.applications.values()][0]!.router;
  });
  after(() => b.stop());

  /** The broker saw the client go: its session is parked (or gone). */
  const parked = (id: string): Promise<void> =>
    until(() => {
      const s = router.sessions.get(id);
      return s === undefined || s.link === null;
    });

  test('the will waits for its delay, to the millisecond [MQTT-3.1.3-9]', async () => {
    const watcher = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wd/+', { qos: 1 });
    const c = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-1', will: will('wd/1', 10), properties: { sessionExpiryInterval: 60 } });
    c.stream.destroy();
    await parked('wd-1');
    clock.advance(9_999);
    assert.equal(await inbox.none(50), true);
    clock.advance(1);
    const m = await inbox.next();
    assert.equal(m.topic, 'wd/1');
    await end(watcher, c);
  });

  test('reconnecting within the delay cancels the will', async () => {
    const watcher = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-watch2' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wd2/+', { qos: 1 });
    const opts = { protocolVersion: 5 as const, clientId: 'wd-2', clean: false, will: will('wd2/x', 10), properties: { sessionExpiryInterval: 60 } };
    const c = await quiet(b.url('mqtt'), opts);
    c.stream.destroy();
    await parked('wd-2');
    clock.advance(5_000);
    const again = await quiet(b.url('mqtt'), { ...opts, will: undefined });
    clock.advance(120_000); // well past the delay: nothing
    assert.equal(await inbox.none(50), true);
    await again.publishAsync('wd2/sentinel', 'still here', { qos: 1 });
    assert.equal((await inbox.next()).topic, 'wd2/sentinel');
    await end(watcher, again);
  });

  test('a session ends after its expiry interval, not before [MQTT-3.1.2-23]', async () => {
    const opts = { protocolVersion: 5 as const, clientId: 'exp-1', clean: false, properties: { sessionExpiryInterval: 30 } };
    const c = await quiet(b.url('mqtt'), opts);
    await c.subscribeAsync('exp1/t', { qos: 1 });
    await c.endAsync();
    await parked('exp-1');
    clock.advance(29_999);
    const quick = await connectWithInbox(b.url('mqtt'), { ...opts, keepalive: 0 });
    assert.equal(quick.sessionPresent, true);
    await quick.client.endAsync();
    await parked('exp-1');
    clock.advance(29_999);
    assert.equal(router.sessions.has('exp-1'), true);
    clock.advance(1);
    assert.equal(router.sessions.has('exp-1'), false);
    const late = await connectWithInbox(b.url('mqtt'), { ...opts, keepalive: 0 });
    assert.equal(late.sessionPresent, false);
    await end(late.client);
  });

  test('a 30-day Session Expiry Interval lasts 30 days, past what setTimeout can wait [MQTT-3.1.2-23]', async () => {
    const opts = { protocolVersion: 5 as const, clientId: 'exp-30d', clean: false, properties: { sessionExpiryInterval: 30 * DAY_S } };
    const c = await quiet(b.url('mqtt'), opts);
    await c.subscribeAsync('exp30/t', { qos: 1 });
    await c.endAsync();
    await parked('exp-30d');
    clock.advance(29 * DAY_S * 1000);
    const back = await connectWithInbox(b.url('mqtt'), { ...opts, keepalive: 0 });
    assert.equal(back.sessionPresent, true);
    await back.client.endAsync();
    await parked('exp-30d');
    clock.advance(30 * DAY_S * 1000 - 1);
    assert.equal(router.sessions.has('exp-30d'), true);
    clock.advance(1);
    assert.equal(router.sessions.has('exp-30d'), false);
  });

  test('a 30-day Will Delay Interval waits 30 days [MQTT-3.1.3-9]', async () => {
    const watcher = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-watch30' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wd30/+', { qos: 1 });
    const c = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'wd-30d', will: will('wd30/x', 30 * DAY_S), properties: { sessionExpiryInterval: 60 * DAY_S } });
    c.stream.destroy();
    await parked('wd-30d');
    clock.advance(30 * DAY_S * 1000 - 1);
    assert.equal(await inbox.none(50), true);
    clock.advance(1);
    assert.equal((await inbox.next()).topic, 'wd30/x');
    await end(watcher, c);
  });

  test('keepalive: a silent v5 client gets DISCONNECT 0x8D after 1.5 x keepalive, at most one sweep period late [MQTT-3.1.2-24]', async () => {
    const c = await RawClient.connect(b.port('mqtt'));
    c.send(connectV5('sleepy-5', 10));
    await readPacket(c); // CONNACK
    clock.advance(14_999);
    await flush();
    assert.equal(c.closed, false, 'closed before 1.5 x keepalive');
    clock.advance(SWEEP_MS + 1);
    const rest = await c.untilClose();
    assert.equal(rest[0], 0xe0);
    assert.equal(rest[2], 0x8d);
  });

  test('keepalive: any packet restarts the wait; a silent 3.1.1 client is closed without DISCONNECT [MQTT-3.1.2-24]', async () => {
    const c = await RawClient.connect(b.port('mqtt'));
    c.send(connectV4('sleepy-4', 10));
    await readPacket(c);
    for (let i = 0; i < 4; i++) {
      clock.advance(14_000);
      c.send('c0 00'); // PINGREQ
      assert.deepEqual(await readPacket(c), Buffer.from('d000', 'hex')); // [MQTT-3.12.4-1]
    }
    clock.advance(14_999);
    await flush();
    assert.equal(c.closed, false);
    clock.advance(SWEEP_MS + 1);
    assert.equal((await c.untilClose()).length, 0);
  });

  test('keepalive 0: never timed out', async () => {
    const c = await RawClient.connect(b.port('mqtt'));
    c.send(connectV5('awake-0', 0));
    await readPacket(c);
    clock.advance(365 * DAY_S * 1000);
    await flush();
    assert.equal(c.closed, false);
    c.end();
  });

  test('connect timeout: no CONNECT within mqtt.connectTimeoutMs of the accept is closed, trickled bytes or not; a CONNECT stops it', async () => {
    const pending = router.sweep.pending;
    const silent = await RawClient.connect(b.port('mqtt'));
    const trickle = await RawClient.connect(b.port('mqtt'));
    await until(() => router.sweep.pending === pending + 2); // both accepted: a connect-timeout deadline each
    trickle.send('10'); // the first byte of a CONNECT, and no more
    clock.advance(9_999);
    await flush();
    assert.equal(silent.closed || trickle.closed, false);
    clock.advance(1);
    assert.equal((await silent.untilClose()).length, 0);
    assert.equal((await trickle.untilClose()).length, 0);
    const prompt = await RawClient.connect(b.port('mqtt'));
    prompt.send(connectV5('prompt', 0));
    await readPacket(prompt);
    clock.advance(60_000);
    await flush();
    assert.equal(prompt.closed, false);
    prompt.end();
  });

  test('presence `since` and a keepalive timeout come from the broker clock', async () => {
    const w = await quiet(b.url('mqtt'), { protocolVersion: 5, clientId: 'pres-watch' });
    const inbox = new Inbox(w);
    await w.subscribeAsync('$presence/sleepy-p', { qos: 1 });
    const c = await RawClient.connect(b.port('mqtt'));
    c.send(connectV5('sleepy-p', 2));
    await readPacket(c);
    const on = JSON.parse((await inbox.next()).payload.toString()) as { online: boolean; since: string | number };
    assert.equal(on.online, true);
    assert.equal(new Date(on.since).getTime(), clock.now());
    clock.advance(3_000 + SWEEP_MS);
    const off = JSON.parse((await inbox.next()).payload.toString()) as { online: boolean; reason: string };
    assert.deepEqual([off.online, off.reason], [false, 'keepalive-timeout']);
    await c.untilClose();
    await end(w);
  });
});

describe('on the system clock: delays longer than setTimeout can wait (2^31-1 ms) do not fire at once', () => {
  let b: RunningBroker;
  before(async () => {
    b = await startBroker({ listen: ['mqtt://127.0.0.1:0'], mqtt: { maxSessionExpiry: 0xffffffff } });
  });
  after(() => b.stop());

  test('a 30-day session is still there after its client disconnects [MQTT-3.1.2-23]', async () => {
    const opts = { protocolVersion: 5 as const, clientId: 'long-30d', clean: false, properties: { sessionExpiryInterval: 30 * DAY_S } };
    const c = await connect(b.url('mqtt'), opts);
    await c.subscribeAsync('long/t', { qos: 1 });
    await c.endAsync();
    await new Promise((r) => setTimeout(r, 50)); // a 2,592,000,000 ms setTimeout fires after 1 ms
    const again = await connectWithInbox(b.url('mqtt'), opts);
    assert.equal(again.sessionPresent, true);
    await end(again.client);
  });

  test('a 3.1.1 persistent session under a 30-day mqtt.maxSessionExpiry is kept too', async () => {
    const b2 = await startBroker({ listen: ['mqtt://127.0.0.1:0'], mqtt: { maxSessionExpiry: 30 * DAY_S } });
    try {
      const opts = { protocolVersion: 4 as const, clientId: 'long-311', clean: false };
      const c = await connect(b2.url('mqtt'), opts);
      await c.subscribeAsync('long311/t', { qos: 1 });
      await c.endAsync();
      await new Promise((r) => setTimeout(r, 50));
      const again = await connectWithInbox(b2.url('mqtt'), opts);
      assert.equal(again.sessionPresent, true);
      await end(again.client);
    } finally {
      await b2.stop();
    }
  });

  test('a 30-day will delay does not publish the will at once [MQTT-3.1.3-9]', async () => {
    const watcher = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'long-watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('longwill/+', { qos: 1 });
    const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'long-will', will: will('longwill/x', 30 * DAY_S), properties: { sessionExpiryInterval: 60 * DAY_S } });
    c.stream.destroy();
    assert.equal(await inbox.none(200), true);
    await end(watcher, c);
  });
});
