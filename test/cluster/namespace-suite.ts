/**
 * Every `$` namespace across two nodes (README "Cluster", the table of namespaces): one test per
 * row, real MQTT and STOMP clients placed on both nodes. Run over the workers' mesh
 * (namespaces.test.ts) and over Redis (redis.test.ts): one host and many behave the same.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IMessage } from '@stomp/stompjs';
import { publishWithReceipt, StompInbox, subscribeWithReceipt } from '../helpers/stomp.js';
import { publishReason } from '../helpers/mqtt.js';
import type { Inbox } from '../helpers/mqtt.js';
import { eventually, json } from './helpers.js';
import type { Placer } from './helpers.js';

export interface SuiteContext {
  /** Places clients on node 0 or node 1. */
  d: Placer;
  /** Every node's id (as in `$SYS/broker/<node>/...`); clients are placed on the first two. */
  nodes: string[];
}

export function namespaceSuite(ctx: () => SuiteContext): void {
  /** Everything `inbox` receives within `ms` (after the expected ones were taken). */
  async function drain(inbox: Inbox, ms = 300): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      try {
        const m = await inbox.next(ms);
        out.push(`${m.topic} ${m.payload.toString()}`);
      } catch {
        return out;
      }
    }
  }

  async function stompDrain(inbox: StompInbox, ms = 300): Promise<IMessage[]> {
    const out: IMessage[] = [];
    for (;;) {
      try {
        out.push(await inbox.next(ms));
      } catch {
        return out;
      }
    }
  }

  describe('$inbox and $dlq', () => {
    test('a direct message reaches its recipient once, from either worker, MQTT QoS 0/1 and STOMP; nothing is dead-lettered', async () => {
      const { client: w0, inbox: dlq0 } = await ctx().d.mqtt(0, 'dm-dlq-0', 'SERVICE');
      await w0.subscribeAsync('$dlq/#', { qos: 1 });
      const { client: w1, inbox: dlq1 } = await ctx().d.mqtt(1, 'dm-dlq-1', 'SERVICE');
      await w1.subscribeAsync('$dlq/#', { qos: 1 });
      const { client: r, inbox: rIn } = await ctx().d.mqtt(0, 'dm-r', 'AGENT');
      await r.subscribeAsync('$inbox/dm-r/#', { qos: 1 });
      const { client: far } = await ctx().d.mqtt(1, 'dm-far', 'AGENT'); // the other worker
      const { client: near } = await ctx().d.mqtt(0, 'dm-near', 'AGENT'); // the recipient's worker
      await far.publishAsync('$inbox/dm-r', 'far q0', { qos: 0 });
      await far.publishAsync('$inbox/dm-r', 'far q1', { qos: 1 });
      await near.publishAsync('$inbox/dm-r', 'near q1', { qos: 1 });
      const s0 = await ctx().d.stomp(0, 'dm-stomp-0', 'AGENT');
      const s1 = await ctx().d.stomp(1, 'dm-stomp-1', 'AGENT');
      await publishWithReceipt(s0, '/topic/$inbox/dm-r', 'stomp a');
      await publishWithReceipt(s1, '/topic/$inbox/dm-r', 'stomp b');
      const got = [...(await rIn.take(5)).map((m) => `${m.topic} ${m.payload.toString()}`), ...(await drain(rIn))];
      assert.deepEqual(got.sort(), ['$inbox/dm-r far q0', '$inbox/dm-r far q1', '$inbox/dm-r near q1', '$inbox/dm-r stomp a', '$inbox/dm-r stomp b']);
      assert.deepEqual(await drain(dlq0, 100), [], 'dead letters on worker 0');
      assert.deepEqual(await drain(dlq1, 100), [], 'dead letters on worker 1');
    });

    test('to a parked session on the other worker: queued there (with or without an inbox subscription), not dead-lettered', async () => {
      const { client: w, inbox: dlq } = await ctx().d.mqtt(0, 'pk-dlq', 'SERVICE');
      await w.subscribeAsync('$dlq/#', { qos: 1 });
      const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };
      const { client: a } = await ctx().d.mqtt(0, 'pk-a', 'AGENT', persistent);
      await a.subscribeAsync('$inbox/pk-a/#', { qos: 1 });
      await a.endAsync();
      const { client: b } = await ctx().d.mqtt(0, 'pk-b', 'AGENT', persistent); // parked without subscribing
      await b.endAsync();
      const { client: sender } = await ctx().d.mqtt(1, 'pk-sender', 'AGENT');
      await sender.publishAsync('$inbox/pk-a', 'while away', { qos: 1 });
      await sender.publishAsync('$inbox/pk-b', 'while away', { qos: 1 });
      const { inbox: aIn, sessionPresent: aPresent } = await ctx().d.mqtt(0, 'pk-a', 'AGENT', persistent);
      assert.equal(aPresent, true);
      assert.deepEqual((await aIn.take(1)).map((m) => m.payload.toString()), ['while away']);
      const { inbox: bIn, sessionPresent: bPresent } = await ctx().d.mqtt(0, 'pk-b', 'AGENT', persistent);
      assert.equal(bPresent, true);
      assert.deepEqual((await bIn.take(1)).map((m) => m.payload.toString()), ['while away']);
      assert.deepEqual(await drain(aIn), []);
      assert.deepEqual(await drain(bIn, 50), []);
      assert.deepEqual(await drain(dlq, 50), []);
    });

    test('to nobody: one dead letter, decided by the publishing worker, seen once by watchers on both workers; 0x10', async () => {
      const { client: w0, inbox: dlq0 } = await ctx().d.mqtt(0, 'nb-dlq-0', 'SERVICE');
      await w0.subscribeAsync('$dlq/#', { qos: 1 });
      const { client: w1, inbox: dlq1 } = await ctx().d.mqtt(1, 'nb-dlq-1', 'SERVICE');
      await w1.subscribeAsync('$dlq/#', { qos: 1 });
      for (const side of [0, 1] as const) {
        const { client: p } = await ctx().d.mqtt(side, `nb-pub-${side}`, 'AGENT');
        assert.equal(await publishReason(p, '$inbox/nobody-here', `lost ${side}`), 0x10);
        for (const inbox of [dlq0, dlq1]) {
          const letter = json<{ reason: string; originalTopic: string; from: string; payload: string }>(await inbox.next());
          assert.deepEqual([letter.reason, letter.originalTopic, letter.from, letter.payload], ['no-subscribers', '$inbox/nobody-here', `nb-pub-${side}`, `lost ${side}`]);
        }
      }
      assert.deepEqual(await drain(dlq0), []);
      assert.deepEqual(await drain(dlq1, 50), []);
    });

    test('a drop decided on one worker (a QoS 1 message to a full offline queue) is one dead letter for watchers on both', async () => {
      const { client: w0, inbox: dlq0 } = await ctx().d.mqtt(0, 'qf-dlq-0', 'SERVICE');
      await w0.subscribeAsync('$dlq/queue-full/#', { qos: 1 });
      const { client: w1, inbox: dlq1 } = await ctx().d.mqtt(1, 'qf-dlq-1', 'SERVICE');
      await w1.subscribeAsync('$dlq/queue-full/#', { qos: 1 });
      // A parked session with a queue of at most limits.maxQueuedMessages (1,000): 1,001 messages overflow it once.
      const { client: slow } = await ctx().d.mqtt(1, 'qf-slow', 'ADMIN', { clean: false, properties: { sessionExpiryInterval: 300 } });
      await slow.subscribeAsync('qf/t', { qos: 1 });
      await slow.endAsync();
      const { client: p } = await ctx().d.mqtt(0, 'qf-pub', 'ADMIN');
      for (let i = 0; i <= 1000; i++) p.publish('qf/t', `m${i}`, { qos: 1 });
      await p.publishAsync('qf/sentinel', 'x', { qos: 1 });
      for (const inbox of [dlq0, dlq1]) {
        const letter = json<{ reason: string; to: string; payload: string }>(await inbox.next(5000));
        assert.deepEqual([letter.reason, letter.to, letter.payload], ['queue-full', 'qf-slow', 'm1000']);
      }
      assert.deepEqual(await drain(dlq0), []);
      assert.deepEqual(await drain(dlq1, 50), []);
    });
  });

  describe('$monitor', () => {
    test('a watcher on one worker sees, once and in order, what a client on the other publishes and receives', async () => {
      const { client: sup, inbox: watch } = await ctx().d.mqtt(0, 'mon-sup', 'SUPER_AGENT');
      await sup.subscribeAsync('$monitor/mon-ag', { qos: 1 });
      const { client: ag, inbox: agIn } = await ctx().d.mqtt(1, 'mon-ag', 'AGENT');
      await ag.subscribeAsync('$inbox/mon-ag/#', { qos: 1 });
      const { client: svc } = await ctx().d.mqtt(0, 'mon-svc', 'SERVICE');
      await ag.publishAsync('users/mon-ag/one', '1', { qos: 1 });
      await svc.publishAsync('$inbox/mon-ag', 'hello agent', { qos: 1 });
      await agIn.next(); // delivered on the other node before the agent publishes again
      await ag.publishAsync('users/mon-ag/two', '2', { qos: 1 });
      const copies = (await watch.take(3)).map((m) => json<{ direction: string; topic: string; payload: string }>(m));
      assert.deepEqual(copies.map((c) => [c.direction, c.topic, c.payload]), [
        ['published', 'users/mon-ag/one', '1'],
        ['delivered', '$inbox/mon-ag', 'hello agent'],
        ['published', 'users/mon-ag/two', '2'],
      ]);
      assert.deepEqual(await drain(watch), []);
    });

    test('$monitor/+ across workers keeps the rank rules: a SERVICE sees a SUPER_AGENT, not an ADMIN', async () => {
      const { client: svc, inbox: watch } = await ctx().d.mqtt(0, 'mx-svc', 'SERVICE');
      await svc.subscribeAsync('$monitor/+', { qos: 1 });
      const { client: admin } = await ctx().d.mqtt(1, 'mx-admin', 'ADMIN');
      const { client: sup } = await ctx().d.mqtt(1, 'mx-sup', 'SUPER_AGENT');
      await admin.publishAsync('admin/secret', 'hidden', { qos: 1 });
      await sup.publishAsync('users/mx-sup/x', 'visible', { qos: 1 });
      const m = json<{ client: string; payload: string; direction: string }>(await watch.next());
      assert.deepEqual([m.client, m.payload, m.direction], ['mx-sup', 'visible', 'published']);
      assert.deepEqual(await drain(watch), []);
    });
  });

  describe('$presence and $members', () => {
    test('presence changes of a client on one worker reach watchers on both; a late subscriber gets the current state', async () => {
      const { client: w0, inbox: in0 } = await ctx().d.mqtt(0, 'pr-w0', 'SUPER_AGENT');
      await w0.subscribeAsync('$presence/pr-x', { qos: 1 });
      const { client: w1, inbox: in1 } = await ctx().d.mqtt(1, 'pr-w1', 'SUPER_AGENT');
      await w1.subscribeAsync('$presence/pr-x', { qos: 1 });
      const { client: x } = await ctx().d.mqtt(1, 'pr-x', 'AGENT');
      for (const inbox of [in0, in1]) {
        const on = json<{ client: string; online: boolean; profile: string }>(await inbox.next());
        assert.deepEqual([on.client, on.online, on.profile], ['pr-x', true, 'AGENT']);
      }
      const { client: late, inbox: lateIn } = await ctx().d.mqtt(0, 'pr-late', 'AGENT');
      await late.subscribeAsync('$presence/pr-x', { qos: 1 });
      const cur = await lateIn.next();
      assert.equal(cur.packet.retain, true);
      assert.equal(json<{ online: boolean }>(cur).online, true);
      await x.endAsync();
      for (const inbox of [in0, in1, lateIn]) {
        const off = json<{ online: boolean; reason: string }>(await inbox.next());
        assert.deepEqual([off.online, off.reason], [false, 'clean']);
      }
      assert.deepEqual(await drain(in0), []);
      assert.deepEqual(await drain(in1, 50), []);
    });

    test('$members counts the subscribers of the whole cluster, each event once on every worker', async () => {
      const { client: w0, inbox: in0 } = await ctx().d.mqtt(0, 'mb-w0', 'ADMIN');
      await w0.subscribeAsync('$members/rooms/+', { qos: 1 });
      const { client: w1, inbox: in1 } = await ctx().d.mqtt(1, 'mb-w1', 'ADMIN');
      await w1.subscribeAsync('$members/rooms/+', { qos: 1 });
      const { client: m1 } = await ctx().d.mqtt(1, 'mb-1', 'ADMIN');
      const { client: m0 } = await ctx().d.mqtt(0, 'mb-0', 'ADMIN');
      const expect = async (want: Array<[string, string, number]>): Promise<void> => {
        for (const inbox of [in0, in1]) {
          const got = (await inbox.take(want.length)).map((m) => json<{ event: string; client: string; count: number }>(m)).map((e): [string, string, number] => [e.event, e.client, e.count]);
          assert.deepEqual(got, want);
        }
      };
      await m1.subscribeAsync('rooms/lobby', { qos: 0 });
      await expect([['join', 'mb-1', 1]]);
      await m0.subscribeAsync('rooms/lobby', { qos: 0 });
      await expect([['join', 'mb-0', 2]]);
      await m1.unsubscribeAsync('rooms/lobby');
      await expect([['leave', 'mb-1', 1]]);
      await m0.endAsync();
      await expect([['leave', 'mb-0', 0]]);
      assert.deepEqual(await drain(in0), []);
      assert.deepEqual(await drain(in1, 50), []);
    });
  });

  describe('$request/clients', () => {
    test('answers with the clients of every worker, each once, ADMINs hidden from an AGENT', async () => {
      const { client: a, inbox } = await ctx().d.mqtt(0, 'rq-a', 'AGENT');
      await a.subscribeAsync('$inbox/rq-a/#', { qos: 1 });
      await ctx().d.mqtt(1, 'rq-b', 'AGENT');
      await ctx().d.mqtt(1, 'rq-admin', 'ADMIN');
      const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };
      const { client: parked } = await ctx().d.mqtt(1, 'rq-parked', 'AGENT', persistent);
      await parked.endAsync();
      let list: Array<{ clientId: string; online: boolean; profile: string; node?: string }> = [];
      // One request per second per client is answered: ask again after that.
      await eventually(async () => {
        await a.publishAsync('$request/clients', '', { qos: 1, properties: { responseTopic: '$inbox/rq-a/clients', correlationData: Buffer.from('q') } });
        list = json<{ clients: typeof list }>(await inbox.next()).clients;
        if (list.some((c) => c.clientId === 'rq-parked' && !c.online)) return true;
        await new Promise((r) => setTimeout(r, 1000));
        return false;
      }, 'the parked session is listed', 6000);
      const ids = list.map((c) => c.clientId).filter((c) => c.startsWith('rq-')).sort();
      assert.deepEqual(ids, ['rq-a', 'rq-b', 'rq-parked']);
      const b = list.find((c) => c.clientId === 'rq-b')!;
      const me = list.find((c) => c.clientId === 'rq-a')!;
      assert.equal(b.online, true);
      assert.ok(me.node !== undefined && b.node !== undefined && me.node !== b.node, 'each entry names its worker');
    });
  });

  describe('$SYS', () => {
    test('each node publishes under $SYS/broker/<node>/...; nobody overwrites another', async () => {
      const { client: c, inbox } = await ctx().d.mqtt(0, 'sys-watch', 'ADMIN');
      await c.subscribeAsync('$SYS/broker/+/version', { qos: 0 });
      const nodes = ctx().nodes;
      const topics = (await inbox.take(nodes.length)).map((m) => m.topic).sort();
      assert.deepEqual(topics, nodes.map((n) => `$SYS/broker/${n}/version`).sort());
      await c.subscribeAsync('$SYS/broker/+/clients/connected', { qos: 0 });
      const seen = new Set<string>();
      await eventually(async () => {
        const m = await inbox.next(3000);
        if (ctx().nodes.some((n) => m.topic === `$SYS/broker/${n}/clients/connected`)) seen.add(m.topic);
        return seen.size === ctx().nodes.length;
      }, 'every node reports its connected clients', 5000);
      await c.unsubscribeAsync(['$SYS/broker/+/version', '$SYS/broker/+/clients/connected']);
    });
  });

  describe('$queue and $share', () => {
    test('a STOMP queue with consumers on both workers: each message to exactly one consumer', async () => {
      const consumers = [await ctx().d.stomp(0, 'q-c0', 'SERVICE'), await ctx().d.stomp(1, 'q-c1', 'SERVICE')];
      const inboxes = [new StompInbox(), new StompInbox()];
      for (let i = 0; i < 2; i++) await subscribeWithReceipt(consumers[i]!, '/queue/cl-jobs', inboxes[i]!);
      const producer = await ctx().d.stomp(0, 'q-prod', 'SERVICE');
      for (let i = 0; i < 20; i++) await publishWithReceipt(producer, '/queue/cl-jobs', `job ${i}`);
      const per = [await stompDrain(inboxes[0]!), await stompDrain(inboxes[1]!, 50)];
      const all = [...per[0]!, ...per[1]!].map((m) => m.body).sort();
      assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => `job ${i}`).sort());
      assert.ok(per[0]!.length > 0 && per[1]!.length > 0, `both consumers served: ${per[0]!.length} / ${per[1]!.length}`);
    });

    test('a queue without consumers holds each message once; a consumer on the other worker gets the backlog', async () => {
      // Both workers know the queue (a consumer came and went on each).
      for (const side of [0, 1] as const) {
        const c = await ctx().d.stomp(side, `qh-early-${side}`, 'SERVICE');
        await subscribeWithReceipt(c, '/queue/cl-held', new StompInbox());
        await c.deactivate();
      }
      const producer = await ctx().d.stomp(0, 'qh-prod', 'SERVICE');
      for (let i = 0; i < 5; i++) await publishWithReceipt(producer, '/queue/cl-held', `held ${i}`);
      const far = await ctx().d.stomp(1, 'qh-far', 'SERVICE');
      const farIn = new StompInbox();
      await subscribeWithReceipt(far, '/queue/cl-held', farIn);
      const got = await Promise.all(Array.from({ length: 5 }, () => farIn.next()));
      assert.deepEqual(got.map((m) => m.body), [0, 1, 2, 3, 4].map((i) => `held ${i}`));
      const near = await ctx().d.stomp(0, 'qh-near', 'SERVICE');
      const nearIn = new StompInbox();
      await subscribeWithReceipt(near, '/queue/cl-held', nearIn);
      assert.deepEqual(await stompDrain(nearIn), [], 'nothing held twice');
      assert.deepEqual(await stompDrain(farIn, 50), []);
    });

    test('an MQTT shared subscription with members on both workers delivers each message once', async () => {
      const { client: s0, inbox: in0 } = await ctx().d.mqtt(0, 'sh-0', 'SERVICE');
      await s0.subscribeAsync('$share/cl-g/sh/+', { qos: 1 });
      const { client: s1, inbox: in1 } = await ctx().d.mqtt(1, 'sh-1', 'SERVICE');
      await s1.subscribeAsync('$share/cl-g/sh/+', { qos: 1 });
      const { client: p } = await ctx().d.mqtt(0, 'sh-pub', 'SERVICE');
      for (let i = 0; i < 20; i++) await p.publishAsync(`sh/${i}`, `m${i}`, { qos: 1 });
      const got = [await drain(in0), await drain(in1, 50)];
      const all = [...got[0]!, ...got[1]!].sort();
      assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => `sh/${i} m${i}`).sort());
      assert.ok(got[0]!.length > 0 && got[1]!.length > 0, `both members served: ${got[0]!.length} / ${got[1]!.length}`);
    });
  });
}
