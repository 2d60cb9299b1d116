/**
 * `npm run bench [-- --quick] [-- --brokers switchboard,mosquitto,aedes,nats] [-- --only fanout,pairs]
 *  [-- --conns100k] [-- --window 5] [-- --repeat 3] [-- --gens N] [-- --out FILE]`
 *
 * Every scenario against every broker in one run; a table per scenario with Switchboard's
 * ratio to each peer (the headline), broker CPU seconds and peak RSS. A full run writes
 * bench/RESULTS.md; quick or partial runs write bench/RESULTS-partial.md (or --out).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_BROKERS, isSwitchboard, missing, OPTIONAL_BROKERS, ROOT, startBroker, usage, version } from './brokers.js';
import type { BrokerName } from './brokers.js';
import { GenPool } from './gen/pool.js';
import { BROKER_CORE, CORES, GEN_CORE_COUNT, GEN_CORES, installCleanup, pinSelf, raiseNofile } from './procs.js';
import { higherIsBetter, scenarios } from './scenarios.js';
import type { Ctx, Figure, Scenario, Timing } from './scenarios.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    brokers: { type: 'string' },
    only: { type: 'string' },
    conns100k: { type: 'boolean' },
    window: { type: 'string' },
    gens: { type: 'string' },
    'outstanding-kb': { type: 'string' },
    out: { type: 'string' },
    list: { type: 'boolean' },
    repeat: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const windowS = values.window ? Number(values.window) : null;
const TIMING: Timing = QUICK
  ? { warmMs: 200, windowMs: windowS ? windowS * 1000 : 500, latWarmMs: 300, latWindowMs: windowS ? windowS * 1000 : 800, quietMs: 500, maxDrainMs: 1500, settleMs: 300 }
  : { warmMs: 1000, windowMs: (windowS ?? 5) * 1000, latWarmMs: 1000, latWindowMs: (windowS ?? 5) * 1000, quietMs: 1000, maxDrainMs: 30_000, settleMs: 2000 };

const REPEAT = Math.max(1, Number(values.repeat ?? 1));
const say = (s: string): void => void process.stdout.write(s + '\n');

/** The median run (its own CPU, RSS and notes), with the spread of the others. */
function pick(s: Scenario, runs: Figure[]): Figure | undefined {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return runs[0];
  const sorted = [...ok].sort((a, b) => a.value - b.value);
  const f = { ...sorted[Math.floor((sorted.length - 1) / 2)]! };
  if (sorted.length > 1) {
    const t = (v: number): string => (s.metric === 'rate' || s.metric === 'connrate' ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
    const worst = Math.max(...ok.map((r) => r.lost ?? 0));
    const lossNote = worst > (f.lost ?? 0) ? `a run lost ${worst.toLocaleString('en-US')}` : '';
    f.note = [`median of ${sorted.length}: ${t(sorted[0]!.value)}..${t(sorted[sorted.length - 1]!.value)}`, lossNote, f.note].filter(Boolean).join('; ');
  }
  return f;
}

function cell(f: Figure | undefined): string {
  if (!f) return '-';
  if (f.error) return f.error.startsWith('skipped') ? f.error : `error: ${f.error}`;
  return f.text;
}

/** Switchboard's advantage over a peer: > 1 means Switchboard is better. */
function ratio(s: Scenario, sb: Figure | undefined, peer: Figure | undefined): string {
  if (!sb || !peer || sb.error || peer.error || !(sb.value > 0) || !(peer.value > 0)) return '-';
  const r = higherIsBetter(s.metric) ? sb.value / peer.value : peer.value / sb.value;
  const flag = (sb.lost ?? 0) > 0 || (peer.lost ?? 0) > 0 ? ' (loss)' : '';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x${flag}`;
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(0)}%`);

function table(s: Scenario, rows: Map<BrokerName, Figure>, order: BrokerName[]): string[] {
  const sb = rows.get('switchboard');
  const extra = s.columns ?? [];
  const lines = [
    `### ${s.title}`,
    '',
    `| broker | ${s.unit} | lost | Switchboard vs this |${extra.map((c) => ` ${c} |`).join('')} CPU s | peak RSS MB | broker core | gen core | notes |`,
    `|---|---|---|---|${extra.map(() => '---|').join('')}---|---|---|---|---|`,
  ];
  for (const name of order) {
    const f = rows.get(name);
    if (!f) continue;
    const r = isSwitchboard(name) || name === 'node-floor' ? '' : ratio(s, sb, f);
    const notes = [f.note ?? ''];
    if ((f.genPct ?? 0) >= 80 && (f.brokerPct ?? 100) < 80) notes.push('**generator-bound: a lower bound**');
    lines.push(
      `| ${name} | ${cell(f)} | ${f.error || f.lost === undefined ? '' : f.lost.toLocaleString('en-US')} | ${r} |${extra.map((c) => ` ${f.columns?.[c] ?? '-'} |`).join('')} ${f.cpuS?.toFixed(2) ?? '-'} | ${f.peakRssMB?.toFixed(0) ?? '-'} | ${pct(f.brokerPct)} | ${pct(f.genPct)} | ${notes.filter(Boolean).join('; ')} |`,
    );
  }
  lines.push('');
  return lines;
}

async function main(): Promise<void> {
  installCleanup();
  pinSelf();
  const nofile = raiseNofile();
  const all = scenarios({ quick: QUICK, conns100k: values.conns100k === true });
  if (values.list) {
    for (const s of all) say(`${s.id.padEnd(12)} ${s.title}`);
    return;
  }
  const wanted = (values.brokers?.split(',').map((b) => b.trim()) ?? ALL_BROKERS) as BrokerName[];
  for (const b of wanted) if (!ALL_BROKERS.includes(b) && !OPTIONAL_BROKERS.includes(b)) throw new Error(`unknown broker ${b} (known: ${[...ALL_BROKERS, ...OPTIONAL_BROKERS].join(', ')})`);
  const brokers: BrokerName[] = [];
  const missingNotes: string[] = [];
  for (const b of wanted) {
    const why = missing(b);
    if (why) {
      say(`MISSING ${b}: ${why}`);
      missingNotes.push(`- **${b} missing**: ${why}`);
    } else brokers.push(b);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  if (only) for (const id of only) if (!all.some((s) => s.id === id)) throw new Error(`unknown scenario ${id} (--list shows them)`);
  const chosen = all.filter((s) => !only || only.includes(s.id));
  const pool = new GenPool();
  const gens = values.gens ? Number(values.gens) : GEN_CORE_COUNT;
  const outstandingBytes = (values['outstanding-kb'] ? Number(values['outstanding-kb']) : 1024) * 1024;
  const load = loadavg()[0] ?? 0;
  const started = new Date();
  say(`Switchboard bench${QUICK ? ' (quick)' : ''}: ${brokers.join(', ') || 'no broker'}; broker core ${BROKER_CORE ?? '-'}, generator core(s) ${GEN_CORES ?? '-'}; RLIMIT_NOFILE ${nofile.soft}${nofile.raised ? '' : ' (not raised: no CAP_SYS_RESOURCE)'}; load average ${load.toFixed(2)}`);
  if (load > 0.5) say(`note: the machine is busy (load ${load.toFixed(2)}): numbers will be noisy`);

  const results = new Map<string, Map<BrokerName, Figure>>();
  const versions = new Map<BrokerName, string>();
  const body: string[] = [];
  const t0 = performance.now();
  /** A broker that failed to start is not tried again in this run. */
  const noStart = new Map<BrokerName, string>();
  /** One measurement on a fresh broker; null when the broker lacks what the scenario needs. */
  const measure = async (s: Scenario, name: BrokerName): Promise<Figure | null> => {
    const prior = noStart.get(name);
    const b = prior ? new Error(prior) : await startBroker(name, s.workers, { durable: s.durable === true }).catch((err: Error) => err);
    if (b instanceof Error) {
      if (!prior) {
        say(`  ${name} did not start, skipped from here on:\n${b.message}`);
        noStart.set(name, b.message.split('\n')[0]!);
      }
      return { value: 0, text: '', error: b.message.split('\n')[0]! };
    }
    if (s.ws && !b.ws) {
      await b.stop();
      return null;
    }
    if (!versions.has(name)) versions.set(name, version(name));
    const ctx: Ctx = { broker: b, pool, timing: TIMING, gens, outstandingBytes };
    const u0 = usage(b.pid);
    let f: Figure;
    try {
      f = await s.run(ctx);
      if (b.exited) throw new Error(b.exited);
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0]!;
      f = { value: 0, text: '', error: b.exited && !msg.includes(b.exited) ? `${msg} (${b.exited}: ${b.tail().split('\n').pop() ?? ''})` : msg };
      // A generator stuck on a dead broker is replaced for the next scenario.
      pool.stop();
    }
    const u1 = usage(b.pid);
    if (u1.peakRssKB > 0) {
      f.cpuS = u1.cpuSeconds - u0.cpuSeconds;
      f.peakRssMB = u1.peakRssKB / 1024;
    }
    await b.stop();
    return f;
  };
  for (const s of chosen) {
    const row = new Map<BrokerName, Figure>();
    results.set(s.id, row);
    const extra = (s.also ?? []).filter((b) => !brokers.includes(b) && !missing(b));
    const order: BrokerName[] = [...brokers, ...extra].filter((b) => !s.only || s.only.includes(b));
    if (s.floor) order.push('node-floor');
    // Repeats interleave the brokers (A B A B ...), so drift in the machine's speed over the
    // minutes of a run (other tenants, thermal) lands on every broker alike and the ratios hold.
    const runs = new Map<BrokerName, Figure[]>(order.map((n) => [n, []]));
    const took = new Map<BrokerName, number>();
    for (let i = 0; i < REPEAT; i++) {
      for (const name of order) {
        const done = runs.get(name)!;
        if (done.length < i || done.some((f) => f.error)) continue;
        const began = performance.now();
        const one = await measure(s, name);
        took.set(name, (took.get(name) ?? 0) + performance.now() - began);
        if (one !== null) done.push(one);
      }
    }
    for (const name of order) {
      const f = pick(s, runs.get(name)!);
      if (!f) continue;
      row.set(name, f);
      const win = f.brokerPct === undefined ? '' : `  broker ${pct(f.brokerPct)} gen ${pct(f.genPct)}`;
      const cols = f.columns ? `  ${Object.entries(f.columns).map(([k, v]) => `${k} ${v}`).join('; ')}` : '';
      const extra = f.error ? '' : `${f.lost ? `  LOST ${f.lost}` : ''}  cpu ${f.cpuS?.toFixed(2) ?? '-'} s  peak ${f.peakRssMB?.toFixed(0) ?? '-'} MB${win}${cols}${f.note ? `  ${f.note}` : ''}`;
      const secs = `[${((took.get(name) ?? 0) / 1000).toFixed(1)} s]`;
      say(`  ${s.id.padEnd(11)} ${name.padEnd(11)} ${secs.padEnd(8)} ${f.error ? `ERROR ${f.error}` : `${f.text} ${s.unit}`}${extra}`);
    }
    const t = table(s, row, order);
    body.push(...t);
    say('\n' + t.join('\n'));
  }
  pool.stop();

  // Headline: Switchboard's ratio to each peer per scenario.
  const peers = brokers.filter((b) => !isSwitchboard(b));
  const head: string[] = [];
  if (brokers.includes('switchboard') && peers.length > 0) {
    head.push('## Headline: Switchboard vs each peer (> 1x: Switchboard better; throughput SB/peer, latency p99 and memory peer/SB)', '');
    head.push(`| scenario | Switchboard |${peers.map((p) => ` vs ${p} |`).join('')}`);
    head.push(`|---|---|${peers.map(() => '---|').join('')}`);
    for (const s of chosen) {
      const row = results.get(s.id)!;
      // Where one process cannot take the load (RLIMIT_NOFILE), the cluster figure stands in.
      const single = row.get('switchboard');
      const clustered = row.get('switchboard-cluster');
      const sb = single && !(single.error && clustered) ? single : clustered;
      if (!sb) continue;
      head.push(`| ${s.title.split(':')[0]}${sb === clustered ? ' (cluster)' : ''} | ${cell(sb)}${sb.error ? '' : ` ${s.unit}`}${sb.lost ? ` (lost ${sb.lost})` : ''} |${peers.map((p) => ` ${ratio(s, sb, row.get(p))} |`).join('')}`);
    }
    head.push('');
  }
  const minutes = ((performance.now() - t0) / 60000).toFixed(1);
  const md = [
    `# Switchboard benchmark${QUICK ? ' (quick)' : ''}`,
    '',
    `${started.toISOString().replace('T', ' ').slice(0, 16)} UTC on ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${CORES} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}; load average at start ${load.toFixed(2)}; ${minutes} min.`,
    '',
    `Brokers: ${[...versions.values()].join('; ')}.`,
    `Broker pinned to core ${BROKER_CORE ?? '-'}, generator (${gens} process${gens > 1 ? 'es' : ''}, raw sockets, pre-encoded MQTT 3.1.1) on core ${GEN_CORES ?? '-'} (taskset). ` +
      `Each scenario on a fresh broker${REPEAT > 1 ? ` (${REPEAT} times, the median shown)` : ''}: warm-up ${TIMING.warmMs / 1000} s, then rates over a ${TIMING.windowMs / 1000} s window (latency: ${TIMING.latWindowMs / 1000} s), then drained to the last delivery; ` +
      `"lost" = due deliveries that never arrived. QoS 0 flow control: at most 64 KB unflushed per publisher socket and at most ${outstandingBytes / 1024} KB per subscriber published but not yet delivered. ` +
      `CPU s = broker utime+stime over the scenario; peak RSS = VmHWM; broker/gen core = CPU use during the window (broker near 100% = broker-bound).`,
    `RLIMIT_NOFILE here: ${nofile.soft}${nofile.raised ? '' : ' (could not be raised)'}.`,
    '',
    'Reading the tables:',
    '- QoS 1 keeps at most 512 messages per subscriber outstanding (inside default session queues of 1,000), publisher window 64.',
    '- "msgs/read": deliveries per socket read in the generator. About 1 means the broker writes every packet on its own (Mosquitto, Aedes) and the generator reads each as it lands (it keeps up: a lagging reader would find many per read).',
    '- "generator-bound" marks a window where the generator core was saturated while the broker core was not: that figure is a lower bound for the broker.',
    '- Fan-out to 1,000 (scenario 2): the generator reads the 1,000 sockets one after another on one core (a few µs each), which adds up to a few ms to every broker\'s percentiles alike.',
    '- Idle memory: the `node-floor` row is a bare Node `net` server that only answers CONNECT and SUBSCRIBE (what Node itself costs per socket).',
    '- Durable (10a/10b): the only scenarios with persistence on (Switchboard: SQLite store, `store.durability` sync, a fresh `--data-dir`; Mosquitto: `persistence true`; NATS: JetStream file store; Aedes: skipped, in-memory persistence). ' +
      'The generator is the bench process itself (MQTT 3.1.1 persistent sessions, 64 PUBLISHes in flight per publisher). fsync/s = fsync + fdatasync calls of the broker process (all threads) per second of the window, counted by `perf stat` on the syscall tracepoints (no ptrace: the broker is not slowed down); ' +
      'disk bytes/msg = /proc/PID/io write_bytes over the window (page-cache bytes the broker dirtied, i.e. what goes to the disk, fsynced or not) / acknowledged publishes in it; syscw/s = write-type system calls per second (sockets included). ' +
      'total = first PUBLISH to last delivery, the offline half reconnected after the last PUBACK (drain = reconnect to last delivery).',
    ...missingNotes,
    '',
    ...head,
    '## Scenarios',
    '',
    ...body,
  ].join('\n');
  say('\n' + head.join('\n'));
  const partial = QUICK || only !== undefined || values.brokers !== undefined || values.window !== undefined;
  const out = values.out ?? join(ROOT, partial ? 'bench/RESULTS-partial.md' : 'bench/RESULTS.md');
  writeFileSync(out, md + '\n');
  say(`written to ${out} (${minutes} min)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
