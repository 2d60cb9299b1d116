import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from './session.js';
import type { Delivery, DropReason, Inflight, SessionJournal, SessionLink, SessionOwner, WillMessage } from './session.js';
import { createMessage, messageSize } from './message.js';
import type { Message, QoS } from './message.js';

const msg = (topic: string, payload = 'x', qos: QoS = 1, expiresAt = 0): Message => createMessage(topic, Buffer.from(payload), qos, false, null, expiresAt, null);

interface Harness {
  session: Session;
  drops: string[];
  owner: SessionOwner & { charged: number; budget: number; taps: string[] };
}

function harness(limits = { maxQueuedMessages: 100, maxQueuedBytes: 1_000_000 }, budget = Number.MAX_SAFE_INTEGER): Harness {
  const drops: string[] = [];
  const owner = {
    charged: 0,
    budget,
    taps: [] as string[],
    tap: null as SessionOwner['tap'],
    outByQos: [0, 0, 0] as [number, number, number],
    outBytesByQos: [0, 0, 0] as [number, number, number],
    charge(bytes: number, force = false): boolean {
      if (!force && owner.charged + bytes > owner.budget) return false;
      owner.charged += bytes;
      return true;
    },
    release(bytes: number): void {
      owner.charged -= bytes;
    },
    loadQueue(s: Session): void {
      s.loaded([]);
    },
    queueDone(): void {},
  };
  owner.tap = (s, m, q) => owner.taps.push(`${s.clientId}:${m.topic}:${q}`);
  const session = new Session('c', limits, (s, m, r: DropReason) => drops.push(`${r}:${m.topic}:${s?.clientId ?? ''}`), owner);
  return { session, drops, owner };
}

function link(): SessionLink & { got: string[]; closed: string[] } {
  const l = {
    got: [] as string[],
    closed: [] as string[],
    deliver(m: Message, qos: QoS, retain: boolean) {
      l.got.push(`${m.topic}:${qos}:${retain}`);
    },
    close(reason: string) {
      l.closed.push(reason);
    },
    pump() {},
  };
  return l;
}

test('delivery ids start at 1, are unique among those in flight, and wrap past 65535 skipping ids in use', () => {
  const { session } = harness();
  const a = session.begin(msg('a'), 1, false, null, null);
  const b = session.begin(msg('b'), 1, false, null, null);
  assert.deepEqual([a, b], [1, 2]);
  session.settle(a);
  const filler = msg('f');
  let sequential = true;
  for (let i = 3; i <= 65535; i++) if (session.begin(filler, 1, false, null, null) !== i) sequential = false;
  assert.equal(sequential, true);
  // 65535 was the last; 1 is free again, 2 is still in flight.
  assert.equal(session.begin(msg('wrap'), 1, false, null, null), 1);
  assert.equal(session.inflightCount, 65535);
  assert.equal(session.begin(msg('full'), 1, false, null, null), 0); // every id in use: not recorded
  assert.equal(session.inflightCount, 65535);
  session.settle(300);
  assert.equal(session.begin(msg('gap'), 1, false, null, null), 300); // the only free id
});

test('in-flight phases: sent, then received (QoS 2 after PUBREC); settle forgets and returns the delivery', () => {
  const { session } = harness();
  const m = msg('t', 'x', 2);
  const id = session.begin(m, 2, true, [4], null);
  assert.deepEqual(session.inflight(id), { msg: m, qos: 2, retain: true, subscriptionIds: [4], group: null, phase: 'sent' });
  session.markReceived(id);
  assert.equal(session.inflight(id)?.phase, 'received');
  session.markReceived(999); // unknown: nothing happens
  const done = session.settle(id);
  assert.equal(done?.msg, m);
  assert.equal(session.inflight(id), undefined);
  assert.equal(session.settle(id), undefined);
  assert.equal(session.inflightCount, 0);
});

test('in-flight entries come back in the order they were sent (resend on resume)', () => {
  const { session } = harness();
  for (const t of ['a', 'b', 'c']) session.begin(msg(t), 1, false, null, null);
  session.settle(2);
  session.begin(msg('d'), 1, false, null, null);
  assert.deepEqual([...session.inflightEntries()].map(([id, e]) => `${id}:${e.msg.topic}`), ['1:a', '3:c', '4:d']);
});

test('the queue is bounded in messages, in bytes and by the owner budget; overflow is reported and counted', () => {
  // Messages are counted at their full size (messageSize: payload, topic, overhead).
  const d = (t: string, payload: string): Delivery => ({ msg: msg(t, payload), qos: 1, retain: false, subscriptionIds: null, group: null });
  const size = (t: string, payload: string): number => messageSize(msg(t, payload));
  const bound = size('a', '1234') + size('b', '123456');
  const { session, drops, owner } = harness({ maxQueuedMessages: 3, maxQueuedBytes: bound + size('e', '') });
  assert.equal(session.enqueue(d('a', '1234')), true);
  assert.equal(session.enqueue(d('b', '123456')), true);
  assert.equal(session.enqueue(d('c', '12')), false); // one byte more than the room left
  assert.equal(session.enqueue(d('e', '')), true); // exactly at the bound
  assert.equal(session.enqueue(d('f', '')), false); // 4 messages > 3
  assert.deepEqual(drops, ['queue-full:c:c', 'queue-full:f:c']);
  assert.equal(session.dropped, 2);
  assert.deepEqual([session.queued, session.queuedBytes, owner.charged], [3, bound + size('e', ''), bound + size('e', '')]);

  const tight = harness({ maxQueuedMessages: 100, maxQueuedBytes: 1000 }, size('a', '12345'));
  assert.equal(tight.session.enqueue(d('a', '12345')), true);
  assert.equal(tight.session.enqueue(d('b', '1')), false); // the application's budget is spent
  assert.deepEqual(tight.drops, ['queue-full:b:c']);
});

test('dequeue returns deliveries in order, skips (and reports) expired ones, and releases their bytes', () => {
  const { session, drops, owner } = harness();
  const now = 1_000;
  for (const [t, exp] of [['a', 0], ['old', 999], ['edge', 1000], ['b', 2000]] as const) session.enqueue({ msg: msg(t, 'xx', 1, exp), qos: 1, retain: false, subscriptionIds: null, group: null });
  assert.equal(owner.charged, ['a', 'old', 'edge', 'b'].reduce((n, t) => n + messageSize(msg(t, 'xx', 1)), 0));
  assert.equal(session.dequeue(now)?.msg.topic, 'a');
  assert.equal(session.dequeue(now)?.msg.topic, 'b');
  assert.equal(session.dequeue(now), undefined);
  assert.deepEqual(drops, ['expired:old:c', 'expired:edge:c']);
  assert.deepEqual([session.queued, session.queuedBytes, owner.charged], [0, 0, 0]);
});

test('deliver: to the link when online; offline QoS 0 is dropped as offline, QoS 1/2 queued; a monitored session is tapped once', () => {
  const { session, drops, owner } = harness();
  session.deliver(msg('q0', 'x', 0), 0, false, null, null);
  session.deliver(msg('q1'), 1, true, null, null);
  assert.deepEqual(drops, ['offline:q0:c']);
  assert.equal(session.queued, 1);
  const l = link();
  session.link = l;
  session.monitored = true;
  session.deliver(msg('live'), 1, false, null, null);
  assert.deepEqual(l.got, ['live:1:false']);
  assert.deepEqual(owner.taps, ['c:live:1']);
  assert.equal(session.online, true);
});

test('inbound exactly-once ids are remembered until released [MQTT-4.3.3-9]', () => {
  const { session } = harness();
  assert.equal(session.hasInbound(7), false);
  session.addInbound(7);
  session.addInbound(8);
  assert.equal(session.hasInbound(7), true);
  assert.equal(session.inboundCount, 2);
  session.releaseInbound(7);
  session.releaseInbound(7);
  assert.deepEqual([...session.inboundIds()], [8]);
});

test('drain takes in-flight then queued deliveries, releases the queued bytes and resets delivery ids', () => {
  const { session, owner } = harness();
  session.begin(msg('f1'), 1, false, null, null);
  session.begin(msg('f2'), 2, false, null, null);
  session.markReceived(2);
  session.enqueue({ msg: msg('q1', 'abc'), qos: 1, retain: false, subscriptionIds: null, group: null });
  session.addInbound(5);
  const out = session.drain();
  assert.deepEqual(out.map((d) => d.msg.topic), ['f1', 'f2', 'q1']);
  assert.deepEqual([session.inflightCount, session.queued, session.queuedBytes, session.inboundCount, owner.charged], [0, 0, 0, 0, 0]);
  assert.equal(session.begin(msg('again'), 1, false, null, null), 1);
});

test('the journal receives every change of the session, in order', () => {
  const { session } = harness({ maxQueuedMessages: 1, maxQueuedBytes: 100 });
  const log: string[] = [];
  const journal: SessionJournal = {
    enqueued: (s, d) => log.push(`enqueued ${s.clientId} ${d.msg.topic}`),
    dequeued: (s) => log.push(`dequeued ${s.clientId}`),
    inflightSet: (_s, id, e: Inflight) => log.push(`inflight ${id} ${e.phase}`),
    inflightDeleted: (_s, id) => log.push(`settled ${id}`),
    inboundSet: (_s, id, present) => log.push(`inbound ${id} ${present}`),
    willSet: (_s, w: WillMessage | null) => log.push(`will ${w === null ? 'none' : w.msg.topic}`),
  };
  session.journal = journal;
  const will: WillMessage = { msg: msg('w'), delay: 5 };
  session.setWill(will);
  session.setWill(will); // unchanged: not journaled again
  session.enqueue({ msg: msg('q'), qos: 1, retain: false, subscriptionIds: null, group: null });
  session.enqueue({ msg: msg('overflow'), qos: 1, retain: false, subscriptionIds: null, group: null }); // dropped: not journaled
  const d = session.dequeue(0)!;
  const id = session.begin(d.msg, 2, false, null, null);
  session.markReceived(id);
  session.markReceived(id); // already received: not journaled again
  session.settle(id);
  session.settle(id);
  session.addInbound(9);
  session.releaseInbound(9);
  session.releaseInbound(9); // not held: not journaled
  session.setWill(null);
  assert.deepEqual(log, [
    'will w',
    'enqueued c q',
    'dequeued c',
    'inflight 1 sent',
    'inflight 1 received',
    'settled 1',
    'inbound 9 true',
    'inbound 9 false',
    'will none',
  ]);
});
