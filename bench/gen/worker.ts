/**
 * A load-generator process (forked by the bench, pinned away from the broker's core). It owns
 * its connections and runs each measurement's timeline itself: warm-up, window, stop, drain.
 * argv[2]: generator id (written into payloads, so flow control only follows its own messages).
 */
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { hrMs } from '../wire.js';
import { Conn, shared } from './conn.js';
import type { GenEvent, OpenResult, Reply, Request, RunResult } from './protocol.js';
import { Publisher } from './pub.js';

shared.genId = Number(process.argv[2] ?? 0) & 255;
/** Failed opens keep their slot (null) so indexes stay stable. */
let conns: Array<Conn | null> = [];
let pubs: Publisher[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const send = (m: Reply | GenEvent): void => void process.send?.(m);

async function open(req: Extract<Request, { op: 'open' }>): Promise<OpenResult> {
  const t0 = hrMs();
  const base = conns.length;
  const slots: Array<Conn | null> = new Array<Conn | null>(req.clients.length).fill(null);
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const lane = async (): Promise<void> => {
    while (next < req.clients.length) {
      const i = next++;
      try {
        slots[i] = await Conn.open(req.clients[i]!, req.transport, req.port, req.path, req.timeoutMs);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.clients.length)) }, lane));
  conns.push(...slots);
  return { base, opened: req.clients.length - failed, failed, firstError, ms: hrMs() - t0 };
}

function flows(req: Extract<Request, { op: 'flows' }>): void {
  for (const c of conns) if (c) c.seq = new Int32Array(req.pubs.length);
  pubs = req.pubs.map((p, i) => {
    const conn = conns[p.conn];
    if (!conn) throw new Error(`publisher connection ${p.conn} is not open`);
    const subs = p.subs.map((s) => conns[s]).filter((c): c is Conn => c instanceof Conn);
    for (const s of subs) s.ackQos1 = p.qos === 1;
    return new Publisher(i, p, conn, subs);
  });
}

const received = (): number => {
  let n = 0;
  for (let i = 0; i < conns.length; i++) n += conns[i]?.recv ?? 0;
  return n;
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function run(req: Extract<Request, { op: 'run' }>): Promise<RunResult> {
  shared.hist = req.latency ? build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 }) : null;
  shared.recFrom = Infinity;
  shared.recTo = Infinity;
  const paced = pubs.filter((p) => p.spec.rate > 0);
  let ticker: NodeJS.Timeout | null = null;
  for (const p of pubs) p.start();
  if (paced.length > 0) {
    ticker = setInterval(() => {
      const now = hrMs();
      for (const p of paced) p.tick(now);
    }, 1);
  }
  const stall = setInterval(() => {
    for (const p of pubs) p.unstall();
  }, 1000);
  try {
    await sleep(req.warmMs);
    const r0 = received();
    const c0 = cpuMs();
    const reads0 = shared.reads;
    const t0 = hrMs();
    shared.recFrom = t0;
    send({ ev: 'window-start' });
    await sleep(req.windowMs);
    const r1 = received();
    const reads1 = shared.reads;
    const t1 = hrMs();
    const c1 = cpuMs();
    shared.recTo = t1;
    send({ ev: 'window-end' });
    for (const p of pubs) p.stop();
    if (ticker) clearInterval(ticker);
    const stopAt = hrMs();
    let expected = 0;
    let sent = 0;
    for (const p of pubs) {
      sent += p.sent;
      expected += p.sent * p.subs.length;
    }
    // Drain to the last delivery: until all expected arrived, or nothing moved for quietMs.
    let last = received();
    let movedAt = hrMs();
    let timedOut = false;
    while (last < expected) {
      await sleep(5);
      const r = received();
      if (r !== last) {
        last = r;
        movedAt = hrMs();
      } else if (hrMs() - movedAt > req.quietMs) break;
      if (hrMs() - stopAt > req.maxDrainMs) {
        timedOut = hrMs() - movedAt <= req.quietMs;
        break;
      }
    }
    let lastAt = 0;
    for (const c of conns) if (c && c.lastAt > lastAt) lastAt = c.lastAt;
    const hist = shared.hist;
    shared.hist = null;
    return {
      windowDeliveries: r1 - r0,
      windowMs: t1 - t0,
      sent,
      expected,
      received: received(),
      drainMs: Math.max(0, lastAt - stopAt),
      drainTimedOut: timedOut,
      cpuMs: c1 - c0,
      reads: reads1 - reads0,
      histogram: hist && hist.totalCount > 0 ? encodeIntoCompressedBase64(hist) : null,
    };
  } finally {
    if (ticker) clearInterval(ticker);
    clearInterval(stall);
    for (const p of pubs) p.stop();
  }
}

function close(): void {
  for (const p of pubs) p.stop();
  for (const c of conns) c?.close();
  conns = [];
  pubs = [];
}

process.on('message', (m: Request & { id: number }) => {
  const reply = (p: Promise<OpenResult | RunResult | null>): void => {
    p.then(
      (result) => send({ id: m.id, ok: true, result }),
      (err: unknown) => send({ id: m.id, ok: false, error: (err as Error).message }),
    );
  };
  switch (m.op) {
    case 'open':
      return reply(open(m));
    case 'flows':
      return reply(Promise.resolve().then(() => (flows(m), null)));
    case 'run':
      return reply(run(m));
    case 'close':
      return reply(Promise.resolve().then(() => (close(), null)));
  }
});
// The bench went away: do not outlive it.
process.on('disconnect', () => process.exit(0));
