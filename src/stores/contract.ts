/**
 * The contract every store backend passes, one suite per interface (as aedes-persistence's
 * abstract suite does). A backend's test file calls `storesContract(name, factory)`; `factory`
 * opens a fresh, empty backend, and `reopen` (persistent backends) closes it and opens the same
 * data again, so each suite also checks that what was written is read back after a restart.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeliveryRecord, MessageRecord, Stores } from './types.js';

export interface StoresFactory {
  open(): Promise<Stores>;
  /** Close `s` and open the same data again (memory: return `s` itself). */
  reopen(s: Stores): Promise<Stores>;
}

const sender = { clientId: 'pub-1', app: 'app', profile: 'SERVICE' };

function msg(topic: string, payload: string, extra: Partial<MessageRecord> = {}): MessageRecord {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, meta: null, expiresAt: 0, sender, ...extra };
}

function delivery(topic: string, payload: string): DeliveryRecord {
  return { msg: msg(topic, payload), qos: 1, retain: false, subscriptionIds: null, group: null };
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const meta = { login: 'c1', profile: 'AGENT', protocol: 'mqtt', expiry: 3600, disconnectedAt: 0 };

export function storesContract(name: string, f: StoresFactory): void {
  describe(`${name} stores`, () => {
    test('sessions: everything a persistent session holds is read back, in order', async () => {
      let s = await f.open();
      const st = s.sessions;
      st.putSession('app', 'c1', meta);
      st.putSubscription('app', 'c1', { raw: 'a/#', filter: 'a/#', group: null, qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 7 });
      st.putSubscription('app', 'c1', { raw: '$share/g/b', filter: 'b', group: 'g', qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 0, subscriptionId: 0 });
      st.putSubscription('app', 'c1', { raw: 'a/#', filter: 'a/#', group: null, qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 8 }); // replaced
      st.putSubscription('app', 'c1', { raw: 'gone', filter: 'gone', group: null, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
      st.deleteSubscription('app', 'c1', 'gone');
      for (let i = 0; i < 5; i++) st.enqueue('app', 'c1', delivery('a/q', `m${i}`));
      st.dequeue('app', 'c1');
      st.dequeue('app', 'c1');
      st.putInflight('app', 'c1', { id: 3, delivery: delivery('a/f', 'f1'), phase: 'sent' });
      st.putInflight('app', 'c1', { id: 4, delivery: delivery('a/f', 'f2'), phase: 'sent' });
      st.putInflight('app', 'c1', { id: 3, delivery: delivery('a/f', 'f1'), phase: 'received' }); // QoS 2 moved on
      st.deleteInflight('app', 'c1', 4);
      st.putInbound('app', 'c1', 11);
      st.putInbound('app', 'c1', 12);
      st.deleteInbound('app', 'c1', 11);
      st.putWill('app', 'c1', { msg: msg('w', 'bye', { retain: true, meta: { contentType: 'text/plain', correlationData: Buffer.from([0, 1]), userProperties: [['k', 'v']] } }), delay: 30 });
      st.putSession('app', 'c1', { ...meta, disconnectedAt: 1234 });
      st.putSession('other', 'c1', meta); // another application's namesake
      await s.flush();
      s = await f.reopen(s);
      const [r, ...more] = await all(s.sessions.sessions('app'));
      assert.equal(more.length, 0);
      assert.equal(r!.clientId, 'c1');
      assert.equal(r!.disconnectedAt, 1234);
      assert.equal(r!.expiry, 3600);
      assert.deepEqual(
        r!.subscriptions.map((x) => [x.raw, x.qos, x.subscriptionId, x.group]).sort(),
        [['$share/g/b', 2, 0, 'g'], ['a/#', 2, 8, null]],
      );
      assert.equal(r!.queued, 3);
      const page = await s.sessions.queuePage('app', 'c1', 1, 10);
      assert.deepEqual(page.map((d) => d.msg.payload.toString()), ['m3', 'm4']);
      assert.deepEqual(r!.inflight.map((x) => [x.id, x.phase, x.delivery.msg.payload.toString()]), [[3, 'received', 'f1']]);
      assert.deepEqual(r!.inbound, [12]);
      assert.equal(r!.will!.delay, 30);
      assert.deepEqual(r!.will!.msg.meta, { contentType: 'text/plain', correlationData: Buffer.from([0, 1]), userProperties: [['k', 'v']] });
      assert.deepEqual(r!.will!.msg.sender, sender);
      assert.equal(r!.will!.msg.retain, true);
      s.sessions.deleteSession('app', 'c1');
      s.sessions.deleteSession('app', 'c1'); // idempotent
      await s.flush();
      assert.equal((await all(s.sessions.sessions('app'))).length, 0);
      assert.equal((await all(s.sessions.sessions('other'))).length, 1);
      await s.close();
    });

    test('sessions: a large queue is read in pages', async () => {
      let s = await f.open();
      s.sessions.putSession('app', 'big', meta);
      for (let i = 0; i < 2500; i++) s.sessions.enqueue('app', 'big', delivery('t', String(i)));
      for (let i = 0; i < 1200; i++) s.sessions.dequeue('app', 'big');
      await s.flush();
      s = await f.reopen(s);
      const seen: string[] = [];
      for (let offset = 0; ; offset += 500) {
        const page = await s.sessions.queuePage('app', 'big', offset, 500);
        if (page.length === 0) break;
        assert.ok(page.length <= 500);
        seen.push(...page.map((d) => d.msg.payload.toString()));
      }
      assert.equal(seen.length, 1300);
      assert.equal(seen[0], '1200');
      assert.equal(seen.at(-1), '2499');
      await s.close();
    });

    test('retained: set, replace, clear, per application', async () => {
      let s = await f.open();
      s.retained.putRetained('app', msg('a', '1', { retain: true }));
      s.retained.putRetained('app', msg('a', '2', { retain: true }));
      s.retained.putRetained('app', msg('b', '1', { retain: true, expiresAt: 99 }));
      s.retained.putRetained('app', msg('c', '1', { retain: true }));
      s.retained.putRetained('app', msg('c', '', { retain: true })); // cleared [MQTT-3.3.1-6]
      s.retained.putRetained('app', msg('never', '', { retain: true })); // clearing nothing
      s.retained.putRetained('other', msg('a', 'x', { retain: true }));
      await s.flush();
      s = await f.reopen(s);
      const got = (await all(s.retained.retained('app'))).map((m) => [m.topic, m.payload.toString(), m.expiresAt]).sort();
      assert.deepEqual(got, [['a', '2', 0], ['b', '1', 99]]);
      assert.equal((await all(s.retained.retained('other'))).length, 1);
      await s.close();
    });

    test('queues: messages stay until removed, with their attempts, in order', async () => {
      let s = await f.open();
      const q = s.queues;
      const a = q.append('app', '$queue/jobs', 'jobs', msg('$queue/jobs', 'a'));
      const b = q.append('app', '$queue/jobs', 'jobs', msg('$queue/jobs', 'b'));
      const c = q.append('app', '$queue/jobs', 'jobs', msg('$queue/jobs', 'c'));
      q.append('app', 'up/+', 'g', msg('up/1', 'x'));
      assert.ok(a < b && b < c);
      q.remove('app', b);
      q.attempted('app', c, 2);
      await s.flush();
      s = await f.reopen(s);
      const queues = await all(s.queues.queues('app'));
      const jobs = queues.find((x) => x.name === 'jobs')!;
      assert.equal(jobs.filter, '$queue/jobs');
      assert.deepEqual(jobs.messages.map((m) => [m.msg.payload.toString(), m.attempts]), [['a', 0], ['c', 2]]);
      assert.equal(queues.find((x) => x.name === 'g')!.messages.length, 1);
      assert.equal((await all(s.queues.queues('other'))).length, 0);
      await s.close();
    });

    test('dead letters: newest first, filters, pages, purge', async () => {
      let s = await f.open();
      const d = s.deadLetters;
      const now = Date.now();
      for (let i = 0; i < 10; i++) d.addDeadLetter({ app: 'app', reason: i % 2 === 0 ? 'queue-full' : 'expired', to: `c${i % 3}`, time: now - 10 + i, msg: msg(`t/${i}`, String(i)) });
      d.addDeadLetter({ app: 'other', reason: 'expired', to: null, time: now, msg: msg('x', 'x') });
      await s.flush();
      s = await f.reopen(s);
      const first = await s.deadLetters.deadLetters('app', {}, 0, 4);
      assert.deepEqual(first.map((x) => x.msg.payload.toString()), ['9', '8', '7', '6']);
      const next = await s.deadLetters.deadLetters('app', {}, first.at(-1)!.id, 4);
      assert.deepEqual(next.map((x) => x.msg.payload.toString()), ['5', '4', '3', '2']);
      const full = await s.deadLetters.deadLetters('app', { reason: 'queue-full', topic: 't/+' }, 0, 100);
      assert.deepEqual(full.map((x) => x.msg.payload.toString()), ['8', '6', '4', '2', '0']);
      assert.deepEqual((await s.deadLetters.deadLetters('app', { to: 'c1' }, 0, 100)).map((x) => x.msg.payload.toString()), ['7', '4', '1']);
      assert.equal(await s.deadLetters.purgeDeadLetters('app', { reason: 'expired' }, [first[0]!.id]), 1);
      assert.equal(await s.deadLetters.purgeDeadLetters('app', { reason: 'expired' }), 4);
      assert.equal((await s.deadLetters.deadLetters('app', {}, 0, 100)).length, 5);
      assert.equal((await s.deadLetters.deadLetters('other', {}, 0, 100)).length, 1);
      await s.close();
    });
  });
}
