/**
 * The scenarios. Each runs against a fresh broker: connect, warm up, measure over a fixed
 * window, stop publishing, drain to the last delivery, count losses separately.
 */
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { usage } from './brokers.js';
import type { BrokerName, RunningBroker, Usage } from './brokers.js';
import type { Gen, GenPool } from './gen/pool.js';
import type { ClientSpec, OpenResult, PubSpec, RunResult, Transport } from './gen/protocol.js';
import { durable } from './durable.js';
import { GEN_CORE_COUNT, readNofile } from './procs.js';
import { publish } from './wire.js';

export type Metric = 'rate' | 'latency' | 'memory' | 'connrate';

export interface Figure {
  /** Headline number: deliveries/s, p99 ms, KB per connection, connects/s. */
  value: number;
  text: string;
  lost?: number;
  /** Broker CPU seconds (utime + stime) over the whole scenario. */
  cpuS?: number;
  peakRssMB?: number;
  /** Broker and generator CPU, % of their cores, during the window. */
  brokerPct?: number;
  genPct?: number;
  note?: string;
  error?: string;
  /** Extra columns (the scenario's `columns`), by name. */
  columns?: Record<string, string>;
}

export interface Timing {
  warmMs: number;
  windowMs: number;
  latWarmMs: number;
  latWindowMs: number;
  quietMs: number;
  maxDrainMs: number;
  settleMs: number;
}

export interface Ctx {
  broker: RunningBroker;
  pool: GenPool;
  timing: Timing;
  /** Generator processes for throughput scenarios. */
  gens: number;
  outstandingBytes: number;
  /** Set by a scenario while it runs; sampled around the window. */
  window?: { start: Usage; end: Usage; ms: number };
}

export interface Scenario {
  id: string;
  title: string;
  metric: Metric;
  unit: string;
  /** Only these brokers (e.g. 100k connections: Switchboard alone). */
  only?: BrokerName[];
  /** Needs the broker's MQTT-over-WebSocket listener. */
  ws?: boolean;
  /** Also measured on the bare-Node reference server. */
  floor?: boolean;
  /** Also run on these brokers, even when not chosen with --brokers. */
  also?: BrokerName[];
  /** Cluster workers for switchboard-cluster. */
  workers?: number;
  /** Start the brokers with their persistence on (brokers.ts: Switchboard's SQLite store in sync durability, Mosquitto `persistence true`). */
  durable?: boolean;
  /** Extra table columns, filled from Figure.columns. */
  columns?: string[];
  run(ctx: Ctx): Promise<Figure>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let runSeq = 0;

interface Group {
  subs: Array<{ filter: string; qos: 0 | 1 }>;
  /** Each publisher's topic and the group's subscribers that receive it. */
  pubs: Array<{ topic: string; to: number[] }>;
}

interface Load {
  transport: Transport;
  qos: 0 | 1;
  size: number;
  groups: Group[];
  /** Messages/s per publisher (fixed rate, latency recorded); 0 = as fast as flow control allows. */
  rate: number;
}

const fmtRate = (v: number): string => Math.round(v).toLocaleString('en-US');

/** Runs a load: returns summed generator results and the merged latency histogram. */
async function runLoad(ctx: Ctx, load: Load): Promise<{ res: RunResult; hist: Histogram | null; gens: number }> {
  const b = ctx.broker;
  const port = load.transport === 'ws' ? b.ws!.port : b.port;
  const path = b.ws?.path ?? '/mqtt';
  const nGens = Math.max(1, Math.min(ctx.gens, load.groups.length));
  const gens = ctx.pool.get(nGens);
  const tag = `sb${process.pid % 10000}r${++runSeq}`;
  const paced = load.rate > 0;
  const pktLen = publish('bench/x', load.size, load.qos, load.transport === 'ws').buf.length;
  // QoS 1: at most 512 per subscriber, inside default session queues (1,000 in Switchboard
  // and Mosquitto), so a broker is never pushed into dropping what it acknowledged.
  const perSub = Math.max(16, Math.min(load.qos === 1 ? 512 : 8192, Math.floor(ctx.outstandingBytes / pktLen)));
  try {
    // Group g runs on generator g % nGens: a publisher and its subscribers share a process.
    await Promise.all(
      gens.map(async (gen, gi) => {
        const mine = load.groups.filter((_, g) => g % nGens === gi);
        const subSpecs: ClientSpec[] = [];
        const subBase: number[] = [];
        for (const g of mine) {
          subBase.push(subSpecs.length);
          for (const s of g.subs) subSpecs.push({ clientId: `${tag}-g${gi}-s${subSpecs.length}`, filter: s.filter, qos: s.qos });
        }
        const pubSpecs: ClientSpec[] = [];
        for (const g of mine) for (let k = 0; k < g.pubs.length; k++) pubSpecs.push({ clientId: `${tag}-g${gi}-p${pubSpecs.length}`, qos: load.qos });
        const so = await gen.open({ op: 'open', clients: subSpecs, transport: load.transport, port, path, concurrency: 100, timeoutMs: 30_000 });
        if (so.failed > 0) throw new Error(`${so.failed} subscribers failed: ${so.firstError}`);
        const po = await gen.open({ op: 'open', clients: pubSpecs, transport: load.transport, port, path, concurrency: 100, timeoutMs: 30_000 });
        if (po.failed > 0) throw new Error(`${po.failed} publishers failed: ${po.firstError}`);
        const pubs: PubSpec[] = [];
        mine.forEach((g, mi) => {
          // Subscribers fed by several publishers split the per-subscriber budget.
          const feeders = g.subs.map((_, s) => g.pubs.filter((p) => p.to.includes(s)).length);
          for (const p of g.pubs) {
            const fanIn = Math.max(1, ...p.to.map((s) => feeders[s] ?? 1));
            pubs.push({
              conn: po.base + pubs.length,
              topic: p.topic,
              size: load.size,
              qos: load.qos,
              window: 64,
              limit: paced ? 0 : Math.max(8, Math.floor(perSub / fanIn)),
              subs: p.to.map((s) => so.base + subBase[mi]! + s),
              rate: load.rate,
            });
          }
        });
        await gen.flows({ op: 'flows', pubs });
      }),
    );
    await sleep(100);
    const t = ctx.timing;
    const warmMs = paced ? t.latWarmMs : t.warmMs;
    const windowMs = paced ? t.latWindowMs : t.windowMs;
    let start: Usage | null = null;
    let end: Usage | null = null;
    let t0 = 0;
    gens[0]!.onEvent = (e) => {
      if (e.ev === 'window-start') {
        start = usage(b.pid);
        t0 = performance.now();
      } else {
        end = usage(b.pid);
        if (start) ctx.window = { start, end, ms: performance.now() - t0 };
      }
    };
    const results = await Promise.all(gens.map((g) => g.run({ op: 'run', warmMs, windowMs, quietMs: t.quietMs, maxDrainMs: t.maxDrainMs, latency: paced })));
    gens[0]!.onEvent = null;
    const sum: RunResult = { windowDeliveries: 0, windowMs: 0, sent: 0, expected: 0, received: 0, drainMs: 0, drainTimedOut: false, cpuMs: 0, reads: 0, histogram: null };
    let hist: Histogram | null = null;
    for (const r of results) {
      sum.windowDeliveries += r.windowDeliveries;
      sum.windowMs += r.windowMs / results.length;
      sum.sent += r.sent;
      sum.expected += r.expected;
      sum.received += r.received;
      sum.drainMs = Math.max(sum.drainMs, r.drainMs);
      sum.drainTimedOut ||= r.drainTimedOut;
      sum.cpuMs += r.cpuMs;
      sum.reads += r.reads;
      if (r.histogram) {
        const h = decodeFromCompressedBase64(r.histogram);
        if (hist) hist.add(h);
        else hist = h;
      }
    }
    return { res: sum, hist, gens: nGens };
  } finally {
    await Promise.all(gens.map((g) => g.close().catch(() => {})));
  }
}

function windowCpu(ctx: Ctx, res: RunResult, gens: number): Pick<Figure, 'brokerPct' | 'genPct'> {
  const w = ctx.window;
  const out: Pick<Figure, 'brokerPct' | 'genPct'> = { genPct: (res.cpuMs / res.windowMs / Math.min(gens, GEN_CORE_COUNT)) * 100 };
  if (w) out.brokerPct = ((w.end.cpuSeconds - w.start.cpuSeconds) / (w.ms / 1000)) * 100;
  return out;
}

/** Missing deliveries: lost, unless the drain timed out while they were still arriving. */
function losses(res: RunResult, ctx: Ctx): { lost: number; note: string[] } {
  const missing = Math.max(0, res.expected - res.received);
  const note: string[] = [];
  if (res.received > res.expected) note.push(`${res.received - res.expected} duplicates`);
  if (res.drainTimedOut && missing > 0) {
    note.push(`${missing.toLocaleString('en-US')} still arriving after the ${ctx.timing.maxDrainMs / 1000} s drain (backlog, not counted as lost)`);
    return { lost: 0, note };
  }
  if (res.drainMs > 1000) note.push(`drained in ${(res.drainMs / 1000).toFixed(1)} s`);
  return { lost: missing, note };
}

async function throughput(ctx: Ctx, load: Load): Promise<Figure> {
  const { res, gens } = await runLoad(ctx, load);
  const rate = (res.windowDeliveries / res.windowMs) * 1000;
  const { lost, note } = losses(res, ctx);
  const f: Figure = { value: rate, text: fmtRate(rate), lost, ...windowCpu(ctx, res, gens) };
  if (res.reads > 0) note.push(`${(res.windowDeliveries / res.reads).toFixed(1)} msgs/read`);
  if (note.length > 0) f.note = note.join('; ');
  return f;
}

async function latency(ctx: Ctx, load: Load): Promise<Figure> {
  const { res, hist, gens } = await runLoad(ctx, load);
  if (!hist || hist.totalCount === 0) throw new Error('no latency samples');
  const ms = (v: number): string => (v / 1000).toFixed(2);
  const { lost, note } = losses(res, ctx);
  return {
    value: hist.getValueAtPercentile(99) / 1000,
    text: `${ms(hist.getValueAtPercentile(50))} / ${ms(hist.getValueAtPercentile(99))} / ${ms(hist.getValueAtPercentile(99.9))} / ${ms(hist.maxValue)}`,
    lost,
    note: [`${fmtRate((res.windowDeliveries / res.windowMs) * 1000)} deliveries/s, ${hist.totalCount.toLocaleString('en-US')} samples`, ...note].join('; '),
    ...windowCpu(ctx, res, gens),
  };
}

/**
 * Idle connections, each CONNECTed and SUBSCRIBEd: broker RSS per connection.
 *
 * After a warm-up burst (opened and closed), the N connections are opened in four equal steps
 * with RSS read after each. The figure is the least-squares slope of RSS over the four points
 * (the cost of one more connection); the note also gives the plain average (RSS growth / N).
 */
async function idle(ctx: Ctx, n: number): Promise<Figure> {
  const b = ctx.broker;
  const { soft } = readNofile(b.pid);
  if (soft * b.workers < n + 100 * b.workers) {
    throw new Error(`skipped: the broker may open ${soft} files (RLIMIT_NOFILE) < ${n.toLocaleString('en-US')} connections; raising it needs CAP_SYS_RESOURCE (root: \`ulimit -Hn ${n + 1000}\` or prlimit); switchboard-cluster spreads them over processes`);
  }
  const mySoft = readNofile(process.pid).soft;
  const perGen = Math.max(1000, Math.min(20_000, mySoft - 500));
  const nGens = Math.ceil(n / perGen);
  const gens = ctx.pool.get(nGens);
  // Several source addresses: one address has ~28k ephemeral ports per destination.
  const addrs = Math.ceil(n / 10_000) + 1;
  const tag = `sb${process.pid % 10000}i${++runSeq}`;
  // Warm-up, as in the other scenarios: a burst of connections opened and closed, so that
  // one-off growth (a runtime sizing its heaps for the burst) is not charged to the connections.
  /** Clients [from, to) dealt over the generators, each CONNECTed and SUBSCRIBEd to its own topic. */
  const open = (from: number, to: number, kind: string): Promise<OpenResult[]> =>
    Promise.all(
      gens.map((gen, gi) => {
        const clients: ClientSpec[] = [];
        for (let i = from + gi; i < to; i += nGens) clients.push({ clientId: `${tag}-${kind}${i}`, filter: `bench/${kind}/${i}`, qos: 0, localAddress: `127.0.0.${1 + (i % addrs)}` });
        return gen.open({ op: 'open', clients, transport: 'tcp', port: b.port, path: '/', concurrency: Math.ceil(256 / nGens), timeoutMs: 60_000 });
      }),
    );
  const warm = Math.min(2000 * b.workers, Math.floor(n / 5)); // per process: each has its own heap
  await open(0, warm, 'warm');
  await Promise.all(gens.map((g) => g.close()));
  await sleep(ctx.timing.settleMs);
  const before = usage(b.pid).rssKB;
  const t0 = performance.now();
  const steps = 4;
  const points: Array<[number, number]> = [];
  let ok = 0;
  let failed = 0;
  let firstError: string | null = null;
  try {
    for (let st = 0; st < steps; st++) {
      const from = Math.floor((n * st) / steps);
      const to = Math.floor((n * (st + 1)) / steps);
      const opened = await open(from, to, 'idle');
      ok += opened.reduce((a, r) => a + r.opened, 0);
      failed += opened.reduce((a, r) => a + r.failed, 0);
      firstError ??= opened.find((r) => r.firstError)?.firstError ?? null;
      await sleep(ctx.timing.settleMs / 2);
      if (b.exited) throw new Error(b.exited);
      points.push([ok, usage(b.pid).rssKB]);
    }
    const connectS = (performance.now() - t0) / 1000;
    if (ok === 0) throw new Error(`no connection opened: ${firstError ?? '?'}`);
    const after = points[points.length - 1]![1];
    const mx = points.reduce((a, p) => a + p[0], 0) / points.length;
    const my = points.reduce((a, p) => a + p[1], 0) / points.length;
    const slope = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    const avg = (after - before) / ok;
    const procs = b.workers > 1 ? ` in ${b.workers} workers` : '';
    const f: Figure = { value: slope, text: slope.toFixed(2), note: `${ok.toLocaleString('en-US')} conns${procs} in ${connectS.toFixed(1)} s; RSS ${(before / 1024).toFixed(0)} -> ${(after / 1024).toFixed(0)} MB = ${avg.toFixed(2)} KB/conn on average` };
    if (failed > 0) f.note += `; **${failed} failed**: ${firstError ?? '?'}`;
    return f;
  } finally {
    await Promise.all(gens.map((g) => g.close().catch(() => {})));
  }
}

/** Connection storm: TCP connect + CONNECT until CONNACK, `concurrency` in flight. */
async function storm(ctx: Ctx, n: number, concurrency: number): Promise<Figure> {
  const b = ctx.broker;
  const [gen] = ctx.pool.get(1) as [Gen];
  const tag = `sb${process.pid % 10000}c${++runSeq}`;
  const clients: ClientSpec[] = Array.from({ length: n }, (_, i) => ({ clientId: `${tag}-${i}`, qos: 0 }));
  try {
    const r = await gen.open({ op: 'open', clients, transport: 'tcp', port: b.port, path: '/', concurrency, timeoutMs: 30_000 });
    const rate = (r.opened / r.ms) * 1000;
    const f: Figure = { value: rate, text: fmtRate(rate), note: `${r.opened} in ${(r.ms / 1000).toFixed(2)} s, ${concurrency} in flight` };
    if (r.failed > 0) f.note += `; ${r.failed} failed: ${r.firstError}`;
    return f;
  } finally {
    await gen.close().catch(() => {});
  }
}

const fanout = (subs: number, qos: 0 | 1, topic = 'bench/fanout'): Group[] => [
  { subs: Array.from({ length: subs }, () => ({ filter: topic, qos })), pubs: [{ topic, to: Array.from({ length: subs }, (_, i) => i) }] },
];
const pairs = (n: number): Group[] => Array.from({ length: n }, (_, i) => ({ subs: [{ filter: `bench/pair/${i}`, qos: 0 as const }], pubs: [{ topic: `bench/pair/${i}`, to: [0] }] }));
const fanin = (n: number): Group[] => [{ subs: [{ filter: 'bench/#', qos: 0 }], pubs: Array.from({ length: n }, (_, i) => ({ topic: `bench/in/${i}`, to: [0] })) }];
const mesh = (pubs: number, subs: number): Group[] => [
  { subs: Array.from({ length: subs }, () => ({ filter: 'bench/lat', qos: 0 as const })), pubs: Array.from({ length: pubs }, () => ({ topic: 'bench/lat', to: Array.from({ length: subs }, (_, i) => i) })) },
];

export function scenarios(o: { quick: boolean; conns100k: boolean }): Scenario[] {
  const rate = (id: string, title: string, load: Omit<Load, 'rate'>, extra: Partial<Scenario> = {}): Scenario => ({
    id,
    title,
    metric: 'rate',
    unit: 'deliveries/s',
    run: (ctx) => throughput(ctx, { ...load, rate: 0 }),
    ...extra,
  });
  const list: Scenario[] = [
    rate('fanout', '1. fan-out 1 -> 20, QoS 0', { transport: 'tcp', qos: 0, size: 64, groups: fanout(20, 0) }),
    rate('fanout-qos1', '1b. fan-out 1 -> 20, QoS 1 (publisher window 64, subscribers ack)', { transport: 'tcp', qos: 1, size: 64, groups: fanout(20, 1) }),
    {
      id: 'fanout1000',
      title: '2. fan-out 1 -> 1,000 at 50 msg/s (50k deliveries/s): latency p50 / p99 / p99.9 / max ms',
      metric: 'latency',
      unit: 'ms',
      run: (ctx) => latency(ctx, { transport: 'tcp', qos: 0, size: 64, groups: fanout(1000, 0, 'bench/f1000'), rate: 50 }),
    },
    rate('fanin', '3. fan-in 20 -> 1 on bench/#', { transport: 'tcp', qos: 0, size: 64, groups: fanin(20) }),
    rate('pairs', '4. 20 publisher/subscriber pairs', { transport: 'tcp', qos: 0, size: 64, groups: pairs(20) }),
    {
      id: 'latency',
      title: '5. latency, 10 pubs x 10 subs, 5k pub/s (50k deliveries/s): p50 / p99 / p99.9 / max ms',
      metric: 'latency',
      unit: 'ms',
      run: (ctx) => latency(ctx, { transport: 'tcp', qos: 0, size: 64, groups: mesh(10, 10), rate: 500 }),
    },
    rate('fanout16k', '6. fan-out 1 -> 20, 16 KB payloads', { transport: 'tcp', qos: 0, size: 16 * 1024, groups: fanout(20, 0) }),
    {
      id: 'idle10k',
      title: '7. idle connections, 10,000 CONNECTed + SUBSCRIBEd: broker RSS per connection',
      metric: 'memory',
      unit: 'KB/conn',
      floor: !o.quick,
      run: (ctx) => idle(ctx, 10_000),
    },
  ];
  if (!o.quick) {
    list.push({ id: 'idle50k', title: '7b. idle connections, 50,000: broker RSS per connection', metric: 'memory', unit: 'KB/conn', floor: true, also: ['switchboard-cluster'], workers: 3, run: (ctx) => idle(ctx, 50_000) });
  }
  if (!o.quick || o.conns100k) {
    // 100k sockets need several processes where RLIMIT_NOFILE is 20,000: Switchboard's cluster mode.
    list.push({ id: 'idle100k', title: '7c. idle connections, 100,000 (Switchboard cluster, 6 workers)', metric: 'memory', unit: 'KB/conn', only: ['switchboard-cluster'], also: ['switchboard-cluster'], workers: 6, run: (ctx) => idle(ctx, 100_000) });
  }
  const stormN = 5000;
  list.push(
    { id: 'storm', title: `8. connection storm: ${stormN.toLocaleString('en-US')} connects until CONNACK, 100 in flight`, metric: 'connrate', unit: 'connects/s', run: (ctx) => storm(ctx, stormN, 100) },
    rate('ws-fanout', '9a. WebSocket fan-out 1 -> 20, QoS 0', { transport: 'ws', qos: 0, size: 64, groups: fanout(20, 0) }, { ws: true }),
    rate('ws-pairs', '9b. WebSocket 20 pairs', { transport: 'ws', qos: 0, size: 64, groups: pairs(20) }, { ws: true }),
  );
  // Persistence on: Switchboard's SQLite store (sync), Mosquitto `persistence true`, NATS JetStream.
  const durableScenario = (id: string, size: number, label: string): Scenario => ({
    id,
    title: `10${label}. durable: QoS 1, 20 publishers -> 20 persistent sessions (10 offline, then drained), ${size >= 1024 ? `${size / 1024} KB` : `${size} B`} payloads: acknowledged publishes/s`,
    metric: 'rate',
    unit: 'acked publishes/s',
    durable: true,
    // Aedes runs with its in-memory persistence (a row says so); cluster mode refuses the SQLite store.
    only: ['switchboard', 'mosquitto', 'nats', 'aedes'],
    columns: ['PUBACK p50 / p99 ms', 'fsync/s', 'disk bytes/msg', 'syscw/s', 'total s (drain s)', 'queued -> drain msgs/s'],
    run: (ctx) => durable(ctx, { size, pairs: 20, window: 64 }),
  });
  list.push(durableScenario('durable', 64, 'a'), durableScenario('durable-1k', 1024, 'b'));
  return list;
}

export function higherIsBetter(m: Metric): boolean {
  return m === 'rate' || m === 'connrate';
}
