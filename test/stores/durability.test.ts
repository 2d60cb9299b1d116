/**
 * durability 'sync': an acknowledgement (MQTT PUBACK, STOMP RECEIPT) for a message the broker
 * had to store is sent only once the store says it is durable. A store that commits when told
 * (here: a MemoryStores whose flush waits for the test) shows the order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import { connect, end, parkSession } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { MemoryStores } from '../../src/stores/memory/index.js';
import type { Stores } from '../../src/stores/types.js';

/** MemoryStores whose writes become durable only when `commit()` is called. */
class GatedStores extends MemoryStores implements Stores {
  private waiting: Array<() => void> = [];
  private writes = 0;
  private flushed = 0;
  constructor() {
    super();
    const count = <T extends object>(o: T): T =>
      new Proxy(o, {
        get: (target, key, recv) => {
          const v: unknown = Reflect.get(target, key, recv);
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            if (typeof key === 'string' && /^(put|delete|enqueue|dequeue|append|remove|attempted|add)/.test(key)) this.writes++;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    Object.assign(this, { sessions: count(this.sessions), retained: count(this.retained), queues: count(this.queues) });
  }
  override get dirty(): boolean {
    return this.writes > this.flushed;
  }
  override flush(): Promise<void> {
    const upTo = this.writes;
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.flushed = Math.max(this.flushed, upTo);
        resolve();
      }),
    );
  }
  commit(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }
  get pending(): number {
    return this.waiting.length;
  }
}

/** Poll `cond` each turn of the event loop, failing after `ms`. */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('a PUBACK and a STOMP RECEIPT for stored messages wait for the store; clean deliveries do not', async () => {
  const stores = new GatedStores();
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'] }, { stores });
  try {
    await parkSession(b.url('mqtt'), 'parked', 'gate/#');
    stores.commit();
    const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'gate-pub' });
    let acked = false;
    const ack = pub.publishAsync('gate/x', 'must be stored', { qos: 1 }).then(() => (acked = true));
    await until(() => stores.pending > 0 || acked, 'the broker to wait for the store');
    assert.equal(acked, false, 'PUBACK before the queued message was durable');
    stores.commit();
    await ack;
    // Nothing stored: acknowledged at once.
    await pub.publishAsync('nobody/listens', 'x', { qos: 1 });
    assert.equal(stores.pending, 0);
    // STOMP: a SEND to a queue without consumers is stored; its RECEIPT waits too.
    const st = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'gate-stomp' } });
    let receipted = false;
    st.watchForReceipt('r1', () => (receipted = true));
    st.publish({ destination: '/queue/gated', body: 'job', headers: { receipt: 'r1' } });
    await until(() => stores.pending > 0 || receipted, 'the broker to wait for the store');
    assert.equal(receipted, false, 'RECEIPT before the queued message was durable');
    stores.commit();
    await until(() => receipted, 'the RECEIPT');
    await st.deactivate();
    await end(pub);
  } finally {
    stores.commit();
    await b.stop();
  }
});

test('while a stored message waits for the store, later packets are read and routed; acknowledgements and receipts keep their order', async () => {
  const stores = new GatedStores();
  const b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'] }, { stores });
  try {
    await parkSession(b.url('mqtt'), 'order-parked', 'order/stored');
    stores.commit();
    const watcher = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'order-watch' });
    await watcher.subscribeAsync('order/live', { qos: 1 });
    const live = new Promise<string>((resolve) => watcher.once('message', (_t, p) => resolve(p.toString())));
    // MQTT: the first is stored (its PUBACK waits), the second is not and is routed at once.
    const pub = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'order-pub' });
    const acks: string[] = [];
    const first = pub.publishAsync('order/stored', 'one', { qos: 1 }).then(() => void acks.push('one'));
    const second = pub.publishAsync('order/live', 'two', { qos: 1 }).then(() => void acks.push('two'));
    assert.equal(await live, 'two', 'routed while the first waits for the store');
    assert.deepEqual(acks, [], 'no PUBACK before the stored one is durable');
    stores.commit();
    await Promise.all([first, second]);
    assert.deepEqual(acks, ['one', 'two'], 'PUBACKs in the order of the PUBLISH packets [MQTT-4.6.0-2]');

    // STOMP: a stored SEND's RECEIPT waits; a later SEND's and the DISCONNECT's come after it.
    const st = await stompOverTcp(b.port('stomp'), { connectHeaders: { login: 'order-stomp' } });
    const receipts: string[] = [];
    for (const r of ['s1', 's2']) st.watchForReceipt(r, () => receipts.push(r));
    const live2 = new Promise<string>((resolve) => watcher.once('message', (_t, p) => resolve(p.toString())));
    st.publish({ destination: '/queue/order-jobs', body: 'job', headers: { receipt: 's1' } });
    st.publish({ destination: '/topic/order/live', body: 'three', headers: { receipt: 's2' } });
    assert.equal(await live2, 'three', 'the second SEND was read and routed');
    assert.deepEqual(receipts, []);
    stores.commit();
    await until(() => receipts.length === 2, 'both receipts');
    assert.deepEqual(receipts, ['s1', 's2']);
    await st.deactivate();
    await end(pub, watcher);
  } finally {
    stores.commit();
    await b.stop();
  }
});
