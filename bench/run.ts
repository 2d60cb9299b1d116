/**
 * `npm run bench [-- --quick] [-- --brokers switchboard,mosquitto,aedes,nats] [-- --only fanout,pairs]`
 *
 * Runs every scenario against every broker in one run and prints each figure with
 * Switchboard's ratio to each peer, plus CPU seconds and peak RSS per broker and scenario.
 * Writes bench/RESULTS.md (machine, date, tables). Ratios are the headline: absolute numbers
 * drift between runs and machines.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_BROKERS, cores, missing, pinSelf, ROOT, startBroker, usage } from './brokers.js';
import type { BrokerName, RunningBroker } from './brokers.js';
import { blast, Client, drain, histogram, paced } from './load.js';
import type { Kind } from './load.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    brokers: { type: 'string' },
    only: { type: 'string' },
    conns: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const WINDOW = QUICK ? 1500 : 5000;

interface Figure {
  value: number;
  unit: string;
  /** true when bigger is better (throughput), false for latency / memory. */
  higherIsBetter: boolean;
  text?: string;
  lost?: number;
  cpu?: number;
  peakRssMB?: number;
  error?: string;
}

type Scenario = { id: string; title: string; ws?: boolean; floor?: boolean; run: (b: RunningBroker) => Promise<Figure> };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let idSeq = 0;
const nextId = (p: string): string => `${p}-${process.pid}-${idSeq++}`;

async function clients(kind: Kind, port: number, n: number, prefix: string): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => Client.open(kind, port, nextId(prefix))));
    out.push(...batch);
  }
  return out;
}

function closeAll(cs: Client[]): void {
  for (const c of cs) c.close();
}

/** Throughput: deliveries per second measured to the last delivery. */
async function throughput(kind: Kind, b: RunningBroker, o: { pubs: number; subs: number; qos: 0 | 1; size: number; topic: (i: number) => string; filter: (i: number) => string; perPubSubs: 'all' | 'pair' }): Promise<Figure> {
  const port = kind === 'ws' ? b.wsPort! : b.port;
  const subs = await clients(kind, port, o.subs, 'sub');
  for (let i = 0; i < subs.length; i++) {
    subs[i]!.ackQos1 = o.qos === 1;
    await subs[i]!.subscribe(o.filter(i), o.qos);
  }
  const pubs = await clients(kind, port, o.pubs, 'pub');
  await sleep(100);
  const total = (): number => subs.reduce((a, s) => a + s.received, 0);
  const sentBy = pubs.map(() => 0);
  // Messages this publisher has out that subscribers have not received yet.
  const outstanding = (i: number) => (sent: number): number => {
    sentBy[i] = sent;
    if (o.perPubSubs === 'all') return sent - total() / o.subs;
    if (o.subs === o.pubs) return sent - subs[i]!.received;
    return sentBy.reduce((a, b) => a + b, 0) - total();
  };
  const maxOutstanding = o.size > 1024 ? 150 : o.perPubSubs === 'all' || o.subs === o.pubs ? 5000 : 20_000;
  const t0 = performance.now();
  const sentPer = await Promise.all(pubs.map((p, i) => blast(p, o.topic(i), o.size, o.qos, WINDOW, { outstanding: outstanding(i), maxOutstanding })));
  const sent = sentPer.reduce((a, b) => a + b, 0);
  const expected = o.perPubSubs === 'all' ? sent * o.subs : sent;
  await drain(total, expected);
  const received = total();
  const last = Math.max(...subs.map((s) => s.lastAt));
  closeAll(subs);
  closeAll(pubs);
  const rate = received / ((last - t0) / 1000);
  return { value: rate, unit: 'deliveries/s', higherIsBetter: true, lost: Math.max(0, expected - received) };
}

async function latency(b: RunningBroker, o: { pubs: number; subs: number; ratePerPub: number; size: number }): Promise<Figure> {
  const subs = await clients('tcp', b.port, o.subs, 'lsub');
  const h = histogram();
  for (const s of subs) await s.subscribe('bench/lat', 0);
  const pubs = await clients('tcp', b.port, o.pubs, 'lpub');
  // Warm-up at the same rate, not recorded (JIT compilation is not the steady state).
  await paced(pubs, () => 'bench/lat', o.size, o.ratePerPub, 1000);
  await drain(() => subs.reduce((a, s) => a + s.received, 0), Infinity, 300, 3000);
  for (const s of subs) {
    s.received = 0;
    s.latency = h;
  }
  const sent = await paced(pubs, () => 'bench/lat', o.size, o.ratePerPub, WINDOW);
  const total = (): number => subs.reduce((a, s) => a + s.received, 0);
  await drain(total, sent * o.subs);
  const received = total();
  closeAll(subs);
  closeAll(pubs);
  const ms = (q: number): string => (h.getValueAtPercentile(q) / 1000).toFixed(2);
  return {
    value: h.getValueAtPercentile(99) / 1000,
    unit: 'ms p99',
    higherIsBetter: false,
    text: `${ms(50)} / ${ms(99)} / ${ms(99.9)} / ${(h.maxValue / 1000).toFixed(2)}`,
    lost: Math.max(0, sent * o.subs - received),
  };
}

/** Idle connections, each CONNECTed and SUBSCRIBEd: broker RSS per connection. */
async function idle(b: RunningBroker, n: number): Promise<Figure> {
  const before = usage(b.pid).rssKB;
  const cs: Client[] = [];
  const addrs = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'];
  try {
    for (let i = 0; i < n; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, n - i) }, async (_, k) => {
          const c = await Client.open('tcp', b.port, nextId('idle'), addrs[(i + k) % addrs.length]);
          await c.subscribe(`bench/idle/${i + k}`, 0);
          return c;
        }),
      );
      cs.push(...batch);
    }
    await sleep(1000);
    const after = usage(b.pid).rssKB;
    return { value: (after - before) / n, unit: 'KB/conn', higherIsBetter: false, text: `${((after - before) / n).toFixed(2)} KB (${n} conns)` };
  } finally {
    closeAll(cs);
    await sleep(500);
  }
}

/** Connection storm: CONNECT -> CONNACK per second, 100 in flight. */
async function storm(b: RunningBroker, n: number): Promise<Figure> {
  const t0 = performance.now();
  const cs: Client[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      cs.push(await Client.open('tcp', b.port, nextId('storm')));
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  const rate = n / ((performance.now() - t0) / 1000);
  closeAll(cs);
  await sleep(300);
  return { value: rate, unit: 'connects/s', higherIsBetter: true };
}

const FANOUT = { pubs: 1, subs: 20, size: 64, topic: () => 'bench/fanout', filter: () => 'bench/fanout', perPubSubs: 'all' as const };
const idleConns = Number(values.conns ?? (QUICK ? 2000 : 10000));

const SCENARIOS: Scenario[] = [
  { id: 'fanout', title: '1. fan-out 1 -> 20, QoS 0 (deliveries/s)', run: (b) => throughput('tcp', b, { ...FANOUT, qos: 0 }) },
  { id: 'fanout-qos1', title: '1b. fan-out 1 -> 20, QoS 1, window 64 (deliveries/s)', run: (b) => throughput('tcp', b, { ...FANOUT, qos: 1 }) },
  { id: 'fanout1000', title: '2. fan-out 1 -> 1,000 at 50 msg/s = 50k deliveries/s: p50 / p99 / p99.9 / max ms', run: (b) => latency(b, { pubs: 1, subs: 1000, ratePerPub: 50, size: 64 }) },
  { id: 'fanin', title: '3. fan-in 20 -> 1 on bench/# (deliveries/s)', run: (b) => throughput('tcp', b, { pubs: 20, subs: 1, qos: 0, size: 64, topic: (i) => `bench/in/${i}`, filter: () => 'bench/#', perPubSubs: 'pair' }) },
  { id: 'pairs', title: '4. 20 publisher/subscriber pairs (deliveries/s)', run: (b) => throughput('tcp', b, { pubs: 20, subs: 20, qos: 0, size: 64, topic: (i) => `bench/pair/${i}`, filter: (i) => `bench/pair/${i}`, perPubSubs: 'pair' }) },
  { id: 'latency', title: '5. latency, 10 pubs x 10 subs at 50k deliveries/s: p50 / p99 / p99.9 / max ms', run: (b) => latency(b, { pubs: 10, subs: 10, ratePerPub: 500, size: 64 }) },
  { id: 'fanout16k', title: '6. fan-out 1 -> 20, 16 KB payloads (deliveries/s)', run: (b) => throughput('tcp', b, { ...FANOUT, size: 16 * 1024, qos: 0 }) },
  { id: 'idle', title: `7. idle connections (${idleConns}, each subscribed): broker RSS per connection (node-floor = a bare Node net server)`, floor: true, run: (b) => idle(b, idleConns) },
  { id: 'storm', title: '8. connection storm: CONNECT -> CONNACK per second', run: (b) => storm(b, QUICK ? 2000 : 5000) },
  { id: 'ws-fanout', title: '9a. WebSocket fan-out 1 -> 20, QoS 0 (deliveries/s)', ws: true, run: (b) => throughput('ws', b, { ...FANOUT, qos: 0 }) },
  { id: 'ws-pairs', title: '9b. WebSocket 20 pairs (deliveries/s)', ws: true, run: (b) => throughput('ws', b, { pubs: 20, subs: 20, qos: 0, size: 64, topic: (i) => `bench/pair/${i}`, filter: (i) => `bench/pair/${i}`, perPubSubs: 'pair' }) },
];

function fmt(f: Figure | undefined): string {
  if (!f) return '-';
  if (f.error) return `error: ${f.error}`;
  const main = f.text ?? (f.value >= 1000 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2));
  return f.lost ? `${main} (lost ${f.lost.toLocaleString('en-US')})` : main;
}

function ratio(sb: Figure | undefined, peer: Figure | undefined): string {
  if (!sb || !peer || sb.error || peer.error || sb.value <= 0 || peer.value <= 0) return '-';
  const r = sb.higherIsBetter ? sb.value / peer.value : peer.value / sb.value;
  return `${r.toFixed(2)}x`;
}

async function main(): Promise<void> {
  pinSelf();
  const wanted = (values.brokers?.split(',') ?? ALL_BROKERS) as BrokerName[];
  const brokers: BrokerName[] = [];
  for (const b of wanted) {
    const why = missing(b);
    if (why) process.stdout.write(`skipping ${b}: ${why}\n`);
    else brokers.push(b);
  }
  const only = values.only?.split(',');
  const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.id));
  const results = new Map<string, Map<BrokerName, Figure>>();
  for (const s of scenarios) results.set(s.id, new Map());

  const runOrder: BrokerName[] = [...brokers, 'node-floor'];
  for (const name of runOrder) {
    for (const s of scenarios) {
      if (name === 'node-floor' && !s.floor) continue;
      // A fresh broker per scenario: no state or memory carried between measurements.
      let b: RunningBroker | null = null;
      try {
        b = await startBroker(name);
        if (s.ws && b.wsPort === null) continue;
        const u0 = usage(b.pid);
        const f = await s.run(b);
        const u1 = usage(b.pid);
        f.cpu = u1.cpuSeconds - u0.cpuSeconds;
        f.peakRssMB = u1.peakRssKB / 1024;
        results.get(s.id)!.set(name, f);
        process.stdout.write(`${name.padEnd(12)} ${s.id.padEnd(12)} ${fmt(f)}  cpu ${f.cpu.toFixed(2)} s  peak RSS ${f.peakRssMB.toFixed(0)} MB\n`);
      } catch (err) {
        results.get(s.id)!.set(name, { value: 0, unit: '', higherIsBetter: true, error: (err as Error).message.split('\n')[0]! });
        process.stdout.write(`${name.padEnd(12)} ${s.id.padEnd(12)} error: ${(err as Error).message}\n`);
      } finally {
        await b?.stop();
      }
    }
  }

  const peers = brokers.filter((b) => b !== 'switchboard');
  const lines: string[] = [];
  lines.push(`# Benchmark results${QUICK ? ' (quick)' : ''}`, '');
  lines.push(`${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`);
  lines.push(`Brokers pinned to core ${cores - 1}, generator to core 0 (taskset). Window ${WINDOW / 1000} s per scenario, then drained to the last delivery; payload 64 B unless said.`);
  lines.push('Ratio = how many times better Switchboard is (throughput: SB/peer; latency and memory: peer/SB). `npm run bench` reproduces this.', '');
  for (const s of scenarios) {
    const row = results.get(s.id)!;
    if (row.size === 0) continue;
    lines.push(`## ${s.title}`, '');
    lines.push(`| broker | result | CPU s | peak RSS MB |${peers.map((p) => ` SB vs ${p} |`).join('')}`);
    lines.push(`|---|---|---|---|${peers.map(() => '---|').join('')}`);
    for (const name of runOrder) {
      const f = row.get(name);
      if (!f) continue;
      const ratios = name === 'switchboard' ? peers.map((p) => ` ${ratio(f, row.get(p))} |`).join('') : peers.map(() => ' |').join('');
      lines.push(`| ${name} | ${fmt(f)} | ${f.cpu?.toFixed(2) ?? '-'} | ${f.peakRssMB?.toFixed(0) ?? '-'} |${ratios}`);
    }
    lines.push('');
  }
  const md = lines.join('\n');
  process.stdout.write('\n' + md + '\n');
  // Only a full run (every scenario, every broker) replaces RESULTS.md.
  const partial = QUICK || values.only !== undefined || values.brokers !== undefined || values.conns !== undefined;
  writeFileSync(join(ROOT, partial ? 'bench/RESULTS-partial.md' : 'bench/RESULTS.md'), md + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
