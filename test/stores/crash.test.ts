/**
 * Crash test: the real `switchboard` process on the SQLite store (durability sync) is killed with
 * SIGKILL at random moments while real clients publish, several rounds, and started again on the
 * same data directory. Publishers: mqtt.js (QoS 1 and QoS 2, persistent sessions that reconnect
 * and resend by themselves) and paho-mqtt (QoS 1 and QoS 2, one process per round). Subscribers:
 * one persistent session online throughout (it reconnects), one offline until the end. Every
 * message whose PUBACK/PUBCOMP arrived must be delivered to both: QoS 1 at least once, QoS 2
 * exactly once, in order per publisher. Retained messages acknowledged are all there; STOMP queue
 * messages acknowledged with a RECEIPT reach exactly one consumer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { MAIN, testEnv } from '../helpers/cli.js';
import { stompOverTcp } from '../helpers/stomp.js';
import type { IMessage } from '../helpers/stomp.js';

const ROUNDS = 3;
const log = process.env.CRASH_DEBUG ? (...a: unknown[]) => console.error(...a) : () => undefined;
const PYTHON = '/usr/bin/python3';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** The broker as a user runs it, on fixed ports (clients reconnect to the same address). */
async function startSwitchboard(dir: string, mqttPort: number, stompPort: number): Promise<ChildProcess> {
  const args = [MAIN, '--listen', `mqtt://127.0.0.1:${mqttPort}`, '--listen', `stomp://127.0.0.1:${stompPort}`, '--data-dir', dir, '--log-level', 'warn'];
  const proc = spawn(process.execPath, args, { env: testEnv({ SWITCHBOARD_STORE_TYPE: 'sqlite', SWITCHBOARD_STORE_DURABILITY: 'sync', SWITCHBOARD_LIMITS_MAX_QUEUED_MESSAGES: '1000000' }), stdio: ['ignore', 'pipe', 'pipe'] });
  // Never outlive the test, even one cancelled by its timeout.
  const reap = (): void => void proc.kill('SIGKILL');
  process.once('exit', reap);
  proc.once('exit', () => process.off('exit', reap));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if ((out.match(/listening /g) ?? []).length >= 2) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`switchboard exited ${code}: ${err}`)));
  });
  return proc;
}

function kill9(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

/** An mqtt.js publisher in a persistent session: numbered messages, `acked` once PUBACK/PUBCOMP came. */
class JsPublisher {
  readonly acked = new Set<number>();
  private next = 0;
  private running = true;
  private readonly pending = new Set<Promise<void>>();
  readonly done: Promise<void>;
  constructor(
    readonly client: MqttClient,
    readonly topic: string,
    readonly qos: 1 | 2,
    retain = false,
    max = Infinity,
  ) {
    this.done = (async () => {
      while (this.running && this.next < max) {
        const n = this.next++;
        const p: Promise<void> = client.publishAsync(retain ? `${topic}/${n}` : topic, String(n), { qos, retain }).then(
          () => void this.acked.add(n),
          () => undefined,
        );
        this.pending.add(p);
        void p.finally(() => this.pending.delete(p));
        if (this.pending.size >= 10) await Promise.race(this.pending);
      }
    })();
  }
  get pendingCount(): number {
    return this.pending.size;
  }
  get sent(): number {
    return this.next;
  }
  /** Stop sending; wait until what was sent is acknowledged (resent after a restart by mqtt.js). */
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    await Promise.all(this.pending);
  }
}

/** paho-mqtt (Debian python3-paho-mqtt): publishes from `start`, prints "A <n>" on PUBACK/PUBCOMP; exits when the connection drops. */
const PAHO = `
import sys, os, paho.mqtt.client as mqtt
port, topic, qos, start, cid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
c = mqtt.Client(client_id=cid, clean_session=True)
c.max_inflight_messages_set(10)
state = {'n': start, 'mids': {}}
def send():
    n = state['n']; state['n'] += 1
    info = c.publish(topic, str(n), qos=qos)
    state['mids'][info.mid] = n
def on_connect(c, u, f, rc):
    for _ in range(10): send()
def on_publish(c, u, mid):
    n = state['mids'].pop(mid, None)
    if n is not None:
        sys.stdout.write('A %d\\n' % n); sys.stdout.flush()
    send()
def on_disconnect(c, u, rc):
    sys.stdout.write('S %d\\n' % state['n']); sys.stdout.flush()
    os._exit(0)
c.on_connect = on_connect; c.on_publish = on_publish; c.on_disconnect = on_disconnect
c.connect('127.0.0.1', port, 60)
c.loop_forever()
`;

class PahoPublisher {
  readonly acked = new Set<number>();
  next = 0;
  private proc: ChildProcess | null = null;
  constructor(
    readonly topic: string,
    readonly qos: 1 | 2,
    readonly clientId: string,
  ) {}
  /** One process per round; numbers continue after the last one sent. */
  start(port: number): void {
    const proc = spawn(PYTHON, ['-c', PAHO, String(port), this.topic, String(this.qos), String(this.next), this.clientId], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [k, v] = l.split(' ');
        if (k === 'A') this.acked.add(Number(v));
        if (k === 'S') this.next = Math.max(this.next, Number(v));
      }
    });
    this.proc = proc;
  }
  /** Wait for the process to notice the broker is gone (or stop it). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    this.next = Math.max(this.next, ...this.acked, -1) + 1 + 20; // numbers it may have sent unacknowledged are skipped
  }
}

/** Received payload numbers per topic. */
function recorder(client: MqttClient): Map<string, number[]> {
  const got = new Map<string, number[]>();
  client.on('message', (topic, payload) => {
    let l = got.get(topic);
    if (l === undefined) got.set(topic, (l = []));
    l.push(Number(payload.toString()));
  });
  return got;
}

/** Resolves when `check` holds, re-checked on every message of `client` (rejects after `ms`). */
function until(client: MqttClient, check: () => boolean, what: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const t = setTimeout(() => {
      client.off('message', on);
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const on = (): void => {
      if (!check()) return;
      clearTimeout(t);
      client.off('message', on);
      resolve();
    };
    client.on('message', on);
  });
}

function connected(c: MqttClient): Promise<void> {
  return c.connected ? Promise.resolve() : new Promise((r) => c.once('connect', () => r()));
}

test('SIGKILL at random moments: every acknowledged message is delivered after the restart (QoS 1 at least once, QoS 2 exactly once, in order); retained and STOMP queue messages kept', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-crash-'));
  const mqttPort = await freePort();
  const stompPort = await freePort();
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const persistent = { clean: false, reconnectPeriod: 100, connectTimeout: 5000, resubscribe: false } as const;
  let broker = await startSwitchboard(dir, mqttPort, stompPort);
  try {
    // Subscribers: both persistent, QoS 2; "off" stays away until the end.
    const offline = await mqtt.connectAsync(url, { ...persistent, clientId: 'crash-off', protocolVersion: 4, reconnectPeriod: 0 });
    await offline.subscribeAsync('crash/#', { qos: 2 });
    await offline.endAsync();
    const online = await mqtt.connectAsync(url, { ...persistent, clientId: 'crash-on', protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await online.subscribeAsync('crash/#', { qos: 2 });
    const onlineGot = recorder(online);

    const js1 = new JsPublisher(await mqtt.connectAsync(url, { ...persistent, clientId: 'crash-js1', protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } }), 'crash/js1', 1);
    const js2 = new JsPublisher(await mqtt.connectAsync(url, { ...persistent, clientId: 'crash-js2', protocolVersion: 4 }), 'crash/js2', 2);
    const kept = new JsPublisher(await mqtt.connectAsync(url, { ...persistent, clientId: 'crash-retained', protocolVersion: 4 }), 'crash-retained', 1, true, 500); // under limits.maxRetainedPerClient
    const py1 = new PahoPublisher('crash/py1', 1, 'crash-py1');
    const py2 = new PahoPublisher('crash/py2', 2, 'crash-py2');
    // STOMP: jobs sent with receipts (a new producer per round); a consumer that never acknowledges holds some in flight.
    const receipted = new Set<number>();
    let job = 0;

    for (let round = 0; round < ROUNDS; round++) {
      log('round', round);
      py1.start(mqttPort);
      py2.start(mqttPort);
      const producer = await stompOverTcp(stompPort, { connectHeaders: { login: 'crash-producer' }, reconnectDelay: 0 });
      const holder = await stompOverTcp(stompPort, { connectHeaders: { login: 'crash-holder' }, reconnectDelay: 0 });
      holder.subscribe('/queue/crash-jobs', () => undefined, { ack: 'client-individual' });
      let producing = true;
      const producing$ = (async () => {
        while (producing) {
          const n = job++;
          const receipt = `r${n}`;
          const got = new Promise<void>((r) => producer.watchForReceipt(receipt, () => r()));
          try {
            producer.publish({ destination: '/queue/crash-jobs', body: String(n), headers: { receipt } });
          } catch {
            break; // the connection is gone
          }
          await Promise.race([got.then(() => void receipted.add(n)), new Promise((r) => setTimeout(r, 2000))]);
        }
      })();
      // Run for a random while, then kill -9.
      await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 800)));
      await kill9(broker);
      log('killed', js1.sent, js1.acked.size, 'js2', js2.sent, js2.acked.size);
      producing = false;
      await producing$;
      log('producer stopped');
      await Promise.all([producer.deactivate(), holder.deactivate()]);
      await Promise.all([py1.stop(), py2.stop()]);
      log('paho stopped');
      broker = await startSwitchboard(dir, mqttPort, stompPort);
    }

    // The mqtt.js publishers reconnect and finish what they had sent; the paho ones are done.
    log('stopping js');
    const dbg = setInterval(() => log([js1, js2, kept].map((p) => `${p.topic} connected=${p.client.connected} pending=${p.pendingCount} sent=${p.sent} acked=${p.acked.size} out=${Object.keys((p.client as unknown as { outgoing: object }).outgoing).length}`).join(' | ')), 2000);
    await Promise.all([js1.stop(), js2.stop(), kept.stop()]);
    clearInterval(dbg);
    log('js stopped', js1.acked.size, js2.acked.size, kept.acked.size, py1.acked.size, py2.acked.size);
    await connected(online);
    for (const p of [js1, js2, kept, py1, py2]) assert.ok(p.acked.size > 0, `${p.topic}: some messages acknowledged`);

    const all = [js1, js2, py1, py2];
    const covered = (got: Map<string, number[]>): boolean => all.every((p) => [...p.acked].every((n) => got.get(p.topic)?.includes(n)));
    const missing = (got: Map<string, number[]>): string => all.map((p) => `${p.topic}: ${[...p.acked].filter((n) => !got.get(p.topic)?.includes(n)).length} of ${p.acked.size} missing, ${got.get(p.topic)?.length ?? 0} received`).join('; ');
    await until(online, () => covered(onlineGot), 'the online subscriber to receive every acknowledged message').catch((e: Error) => {
      throw new Error(`${e.message}: ${missing(onlineGot)}`);
    });
    log('online covered');
    // Listening before the CONNACK: queued messages follow it at once.
    const back = mqtt.connect(url, { ...persistent, clientId: 'crash-off', protocolVersion: 4, reconnectPeriod: 0 });
    const offGot = recorder(back);
    await connected(back);
    const drainStart = Date.now();
    await until(back, () => covered(offGot), 'the offline subscriber to receive every acknowledged message', 90_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${missing(offGot)}`);
    });
    log('offline drained in', Date.now() - drainStart, 'ms', [...offGot.values()].reduce((a, l) => a + l.length, 0), 'messages');

    for (const [who, got] of [['online', onlineGot], ['offline', offGot]] as const) {
      for (const p of all) {
        const seq = got.get(p.topic) ?? [];
        // In order per publisher: first arrivals increase (a QoS 1 resend may repeat an earlier one).
        const first = seq.filter((n, i) => seq.indexOf(n) === i);
        assert.deepEqual(first, [...first].sort((a, b) => a - b), `${who} ${p.topic}: in order`);
        if (p.qos === 2) assert.equal(first.length, seq.length, `${who} ${p.topic}: QoS 2 exactly once (got ${seq.length - first.length} duplicates)`);
      }
    }

    // Retained: every acknowledged one is served.
    const fresh = await mqtt.connectAsync(url, { clientId: 'crash-fresh', reconnectPeriod: 0 });
    const retained = new Set<number>();
    fresh.on('message', (topic, payload, packet) => {
      if (packet.retain) retained.add(Number(payload.toString()));
    });
    await fresh.subscribeAsync('crash-retained/#', { qos: 1 });
    await until(fresh, () => [...kept.acked].every((n) => retained.has(n)), 'every acknowledged retained message');
    assert.ok(retained.size <= kept.sent, 'nothing retained that was not published');

    // STOMP: two consumers drain the queue; every receipted job reaches exactly one of them.
    assert.ok(receipted.size > 0, 'some STOMP SENDs got their RECEIPT');
    const received = new Map<number, string[]>();
    const consumers = await Promise.all(['crash-c1', 'crash-c2'].map((login) => stompOverTcp(stompPort, { connectHeaders: { login }, reconnectDelay: 0 })));
    const allIn = new Promise<void>((resolve) => {
      const on = (who: string) => (m: IMessage) => {
        const n = Number(m.body);
        received.set(n, [...(received.get(n) ?? []), who]);
        m.ack();
        if ([...receipted].every((x) => received.has(x))) resolve();
      };
      consumers.forEach((c, i) => c.subscribe('/queue/crash-jobs', on(`c${i + 1}`), { ack: 'client-individual' }));
    });
    await Promise.race([allIn, new Promise((_, reject) => setTimeout(() => reject(new Error(`receipted jobs missing: ${[...receipted].filter((x) => !received.has(x)).length}`)), 30_000))]);
    for (const n of receipted) assert.equal(received.get(n)?.length, 1, `job ${n} delivered to exactly one consumer`);
    await Promise.all(consumers.map((c) => c.deactivate()));
    await Promise.all([online, back, fresh, js1.client, js2.client, kept.client].map((c) => c.endAsync()));
  } finally {
    await kill9(broker);
    rmSync(dir, { recursive: true, force: true });
  }
});
