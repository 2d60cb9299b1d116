/**
 * The durable scenarios: QoS 1, `pairs` publishers to `pairs` persistent-session subscribers
 * (publisher i -> bench/durable/i -> subscriber i; MQTT 3.1.1, clean session false), with every
 * other subscriber offline while publishing (its messages wait in the broker's store).
 *
 * Timeline, on a fresh broker started with its persistence on (brokers.ts, `durable`):
 *   1. the subscribers connect and subscribe; the offline half sends DISCONNECT
 *   2. the publishers publish as fast as `window` unacknowledged PUBLISHes each allow:
 *      warm-up, then the measurement window (acknowledged publishes/s = PUBACKs received in it,
 *      PUBACK latency, the broker's fsync/fdatasync calls, /proc/PID/io write_bytes and syscw)
 *   3. publishing stops; every PUBACK is awaited
 *   4. the offline subscribers reconnect (same client ids, clean session false) and everything is
 *      drained to the last delivery: "total" runs from the first PUBLISH to the last delivery.
 * "lost" counts acknowledged publishes that never reached their subscriber (by sequence number).
 *
 * The generator is this process (raw sockets, mqtt-client.ts), on the generator core.
 */
import { readFileSync } from 'node:fs';
import { usage } from './brokers.js';
import type { Usage } from './brokers.js';
import { MiniMqtt, Pipeline, publishTemplate, Seen } from './mqtt-client.js';
import type { Ctx, Figure } from './scenarios.js';
import { syncCounter, syncCounterTool } from './syscount.js';
import type { SyncCount } from './syscount.js';

export interface DurableLoad {
  size: number;
  pairs: number;
  /** PUBLISHes without PUBACK per publisher. */
  window: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let runSeq = 0;

interface Io {
  writeBytes: number;
  syscw: number;
  wchar: number;
}

/** /proc/PID/io (every thread of the process): what it wrote to storage and its write calls. */
function io(pid: number): Io | null {
  try {
    const t = readFileSync(`/proc/${pid}/io`, 'utf8');
    const v = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? NaN);
    return { writeBytes: v('write_bytes'), syscw: v('syscw'), wchar: v('wchar') };
  } catch {
    return null;
  }
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const fmt = (v: number): string => Math.round(v).toLocaleString('en-US');
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** What each broker does with the messages (the notes column). */
const PERSISTENCE: Record<string, string> = {
  switchboard: 'SQLite store, durability sync: PUBACK after the WAL commit is fsynced (group commit per event-loop turn)',
  mosquitto: 'persistence true: the in-memory state is written to mosquitto.db only on autosave (autosave_interval, 1800 s) and at shutdown; it does not write or fsync per message',
  nats: 'JetStream file store (MQTT sessions and QoS 1 messages in streams): written per message; nats-server 2.9 fsyncs on its sync interval (2 min), not per message',
};

export async function durable(ctx: Ctx, load: DurableLoad): Promise<Figure> {
  const b = ctx.broker;
  if (b.name === 'aedes') throw new Error('skipped: the Aedes peer runs with its default in-memory persistence (no store configured)');
  const tag = `sb${process.pid % 10000}d${++runSeq}`;
  const t = ctx.timing;
  const topic = (i: number): string => `bench/durable/${i}`;
  const offline = (i: number): boolean => i % 2 === 1;
  const subs: MiniMqtt[] = [];
  const pubs: Pipeline[] = [];
  const seen: Seen[] = Array.from({ length: load.pairs }, () => new Seen());
  let lastDelivery = 0;
  const attach = (c: MiniMqtt, i: number): void => {
    c.onPublish = (buf, start, end) => {
      if (end - start >= 4) seen[i]!.add(buf.readUInt32LE(start));
      lastDelivery = performance.now();
    };
  };
  const counter = await syncCounter(b.pid).catch(() => null);
  try {
    // 1. subscribers: persistent sessions; the offline half leaves with DISCONNECT.
    for (let i = 0; i < load.pairs; i++) {
      const c = await MiniMqtt.connect({ port: b.port, clientId: `${tag}-s${i}`, clean: false }, (x) => attach(x, i));
      await c.subscribe(topic(i), 1);
      subs.push(c);
    }
    await Promise.all(subs.filter((_, i) => offline(i)).map((c) => c.disconnect()));
    await sleep(200);
    // 2. publishers (clean sessions).
    const seqs = Array.from({ length: load.pairs }, () => 0);
    for (let i = 0; i < load.pairs; i++) {
      const c = await MiniMqtt.connect({ port: b.port, clientId: `${tag}-p${i}`, clean: true });
      pubs.push(new Pipeline(c, publishTemplate(topic(i), load.size), load.window, () => ++seqs[i]!));
    }
    const acked = (): number => pubs.reduce((a, p) => a + p.acked, 0);
    const tStart = performance.now();
    for (const p of pubs) p.start();
    await sleep(t.warmMs);
    if (b.exited) throw new Error(b.exited);
    let syncErr: string | null = null;
    if (counter) await counter.enable().catch((err: Error) => (syncErr = err.message));
    const a0 = acked();
    const io0 = io(b.pid);
    const u0: Usage = usage(b.pid);
    const c0 = cpuMs();
    const w0 = performance.now();
    for (const p of pubs) p.record = true;
    await sleep(t.windowMs);
    for (const p of pubs) p.record = false;
    const w1 = performance.now();
    const a1 = acked();
    const io1 = io(b.pid);
    const u1: Usage = usage(b.pid);
    const c1 = cpuMs();
    let sync: SyncCount | null = null;
    if (counter && syncErr === null) {
      sync = await counter.finish();
      if (!sync) syncErr = counter.error;
    }
    // 3. stop; wait for every PUBACK.
    for (const p of pubs) p.stop();
    const sent = pubs.reduce((a, p) => a + p.sent, 0);
    const ackUntil = performance.now() + Math.max(5000, t.maxDrainMs / 3);
    while (acked() < sent && performance.now() < ackUntil && !b.exited) await sleep(5);
    const pubEnd = performance.now();
    const allAcked = acked();
    // 4. the offline half comes back; drain everything.
    const backlog = (): number => subs.reduce((a, _, i) => a + (offline(i) ? pubs[i]!.acked - seen[i]!.unique : 0), 0);
    const queuedAtReconnect = backlog();
    const tReconnect = performance.now();
    let noSession = 0;
    for (let i = 0; i < load.pairs; i++) {
      if (!offline(i)) continue;
      const c = await MiniMqtt.connect({ port: b.port, clientId: `${tag}-s${i}`, clean: false }, (x) => attach(x, i));
      if (!c.sessionPresent) noSession++;
      subs[i] = c;
    }
    const expected = allAcked;
    const uniq = (): number => seen.reduce((a, s) => a + s.unique, 0);
    const quietMs = Math.max(t.quietMs, 3000);
    let last = uniq();
    let movedAt = performance.now();
    let timedOut = false;
    while (last < expected) {
      await sleep(5);
      const r = uniq();
      if (r !== last) {
        last = r;
        movedAt = performance.now();
      } else if (performance.now() - movedAt > quietMs) break;
      if (performance.now() - tReconnect > t.maxDrainMs) {
        timedOut = performance.now() - movedAt <= quietMs;
        break;
      }
      if (b.exited) throw new Error(b.exited);
    }
    const received = uniq();
    const dups = seen.reduce((a, s) => a + s.dups, 0);
    const lost = timedOut ? 0 : Math.max(0, expected - received);
    const end = Math.max(lastDelivery, pubEnd);

    // Figures.
    const winS = (w1 - w0) / 1000;
    const rate = (a1 - a0) / winS;
    const lat = pubs.flatMap((p) => p.lat);
    const msgs = a1 - a0;
    const cols: Record<string, string> = {};
    cols['PUBACK p50 / p99 ms'] = `${pct(lat, 50).toFixed(2)} / ${pct(lat, 99).toFixed(2)}`;
    if (sync) cols['fsync/s'] = `${fmt((sync.fsync + sync.fdatasync) / winS)}${sync.tool === 'strace' ? ' (strace)' : ''}`;
    else cols['fsync/s'] = `n/a${syncErr ? ` (${syncErr})` : ` (${syncCounterTool().why})`}`;
    if (io0 && io1 && msgs > 0) {
      cols['disk bytes/msg'] = ((io1.writeBytes - io0.writeBytes) / msgs).toFixed(0);
      cols['syscw/s'] = fmt((io1.syscw - io0.syscw) / winS);
    } else {
      cols['disk bytes/msg'] = 'n/a';
      cols['syscw/s'] = 'n/a';
    }
    const drainS = (end - tReconnect) / 1000;
    cols['total s (drain s)'] = `${((end - tStart) / 1000).toFixed(1)} (${drainS.toFixed(1)})`;
    cols['queued -> drain msgs/s'] = `${fmt(queuedAtReconnect)} -> ${drainS > 0 ? fmt(queuedAtReconnect / drainS) : '-'}`;
    const note: string[] = [];
    note.push(`${fmt(sent)} published (${fmt(allAcked)} acknowledged), ${fmt(received)} delivered`);
    if (sync) note.push(`${fmt(sync.fsync)} fsync + ${fmt(sync.fdatasync)} fdatasync in the window = ${((sync.fsync + sync.fdatasync) / Math.max(1, msgs)).toFixed(3)} per message`);
    if (io0 && io1) note.push(`${((io1.writeBytes - io0.writeBytes) / 2 ** 20).toFixed(1)} MB written in the window`);
    if (allAcked < sent) note.push(`**${fmt(sent - allAcked)} PUBLISHes never acknowledged**`);
    if (noSession > 0) note.push(`**${noSession} reconnecting subscribers found no session**`);
    if (dups > 0) note.push(`${fmt(dups)} duplicates`);
    if (timedOut) note.push(`${fmt(expected - received)} still arriving after the ${t.maxDrainMs / 1000} s drain (not counted as lost)`);
    const persistence = PERSISTENCE[b.name];
    if (persistence) note.push(persistence);
    return {
      value: rate,
      text: fmt(rate),
      lost,
      brokerPct: ((u1.cpuSeconds - u0.cpuSeconds) / winS) * 100,
      genPct: ((c1 - c0) / (w1 - w0)) * 100,
      columns: cols,
      note: note.join('; '),
    };
  } finally {
    counter?.kill();
    for (const p of pubs) p.conn.destroy();
    for (const s of subs) s.destroy();
  }
}
