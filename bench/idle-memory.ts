/**
 * Idle-connection memory of one broker build: N raw clients CONNECT (and SUBSCRIBE, or STOMP
 * CONNECT + SUBSCRIBE) and stay idle; the broker runs in a child process (`--expose-gc`) and
 * reports its RSS and its heap after a full GC. The figures are least-squares slopes over four
 * steps (the cost of one more connection), after a warm-up burst opened and closed, as in
 * bench/scenarios.ts "idle".
 *
 *   node dist/bench/idle-memory.js [--dist DIR] [--n 10000] [--keepalive 0] [--protocol mqtt|stomp] [--heartbeat 0]
 *
 * `--dist`: the build to measure (a tsc outDir holding src/broker.js); default: the build this
 * file belongs to. Slow (about 10 s per run): not part of the test suite.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';

interface Usage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

type Protocol = 'mqtt' | 'stomp';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(arg('dist', resolve(here, '..')));

// ---- child: the broker ----------------------------------------------------------------------

async function child(): Promise<void> {
  const { createBroker } = (await import(pathToFileURL(resolve(dist, 'src/broker.js')).href)) as typeof import('../src/broker.js');
  const { DEFAULT_CONFIG } = (await import(pathToFileURL(resolve(dist, 'src/config/defaults.js')).href)) as typeof import('../src/config/defaults.js');
  const { pino } = await import('pino');
  const hb = Number(arg('heartbeat', '0'));
  const config = structuredClone(DEFAULT_CONFIG);
  const broker = createBroker(
    {
      ...config,
      listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'],
      stomp: { ...config.stomp, heartbeatSendMs: hb, heartbeatReceiveMs: hb },
      limits: { ...config.limits, maxConnections: 1_000_000, maxConnectionsPerAddress: 0 },
      sys: { ...config.sys, interval: 0 },
      log: { level: 'silent', pretty: false },
    },
    { logger: pino({ level: 'silent' }) },
  );
  const addrs = await broker.start();
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: string) => {
    if (m !== 'measure') return;
    for (let i = 0; i < 3; i++) gc?.();
    const u = process.memoryUsage();
    process.send!({ rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external });
  });
  process.send!({ ports: Object.fromEntries(addrs.map((a) => [a.protocol, a.port])) });
}

// ---- parent: the clients --------------------------------------------------------------------

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

function mqttPackets(id: string, keepAlive: number): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 2, keepAlive >> 8, keepAlive & 255]), str(id)]);
  const sub = Buffer.concat([Buffer.from([0, 1]), str(`idle/${id}`), Buffer.from([0])]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body, Buffer.from([0x82, sub.length]), sub]);
}

function stompFrames(id: string, heartbeat: number): Buffer {
  return Buffer.from(
    `CONNECT\naccept-version:1.2\nhost:default\nlogin:${id}\nheart-beat:${heartbeat},${heartbeat}\n\n\0` +
      `SUBSCRIBE\nid:1\ndestination:/topic/idle/${id}\nreceipt:r\n\n\0`,
  );
}

/** Open one idle client; resolves once the broker answered its CONNECT and SUBSCRIBE. */
function open(port: number, protocol: Protocol, id: string, keepAlive: number, heartbeat: number): Promise<net.Socket> {
  return new Promise((resolveOpen, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.setNoDelay(true);
    s.once('error', reject);
    s.once('connect', () => s.write(protocol === 'mqtt' ? mqttPackets(id, keepAlive) : stompFrames(id, heartbeat)));
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      // MQTT: CONNACK (4 bytes) + SUBACK (5 bytes); STOMP: CONNECTED and RECEIPT frames.
      const done = protocol === 'mqtt' ? got.length >= 9 : got.toString().includes('RECEIPT');
      if (!done) return;
      s.off('data', onData);
      s.on('data', () => undefined); // heart-beats, if any
      resolveOpen(s);
    };
    s.on('data', onData);
  });
}

async function openMany(port: number, protocol: Protocol, from: number, to: number, tag: string, keepAlive: number, heartbeat: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      out.push(await open(port, protocol, `${tag}${i}`, keepAlive, heartbeat));
    }
  };
  await Promise.all(Array.from({ length: 128 }, worker));
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ask(c: ChildProcess): Promise<Usage> {
  return new Promise((r) => {
    c.once('message', (m) => r(m as Usage));
    c.send('measure');
  });
}

function slope(points: Array<[number, number]>): number {
  const mx = points.reduce((a, p) => a + p[0], 0) / points.length;
  const my = points.reduce((a, p) => a + p[1], 0) / points.length;
  return points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
}

async function parent(): Promise<void> {
  const n = Number(arg('n', '10000'));
  const keepAlive = Number(arg('keepalive', '0'));
  const heartbeat = Number(arg('heartbeat', '0'));
  const protocol = arg('protocol', 'mqtt') as Protocol;
  const c = fork(fileURLToPath(import.meta.url), ['--child', ...process.argv.slice(2)], { execArgv: ['--expose-gc'] });
  const ready = await new Promise<{ ports: Record<string, number> }>((r) => c.once('message', (m) => r(m as { ports: Record<string, number> })));
  const port = ready.ports[protocol]!;
  try {
    const warm = await openMany(port, protocol, 0, Math.min(2000, n / 5), 'warm', keepAlive, heartbeat);
    for (const s of warm) s.destroy();
    await sleep(1000);
    const base = await ask(c);
    const rss: Array<[number, number]> = [];
    const heap: Array<[number, number]> = [];
    const committed: Array<[number, number]> = [];
    const held: net.Socket[] = [];
    for (let step = 1; step <= 4; step++) {
      held.push(...(await openMany(port, protocol, (n * (step - 1)) / 4, (n * step) / 4, 'idle', keepAlive, heartbeat)));
      await sleep(500);
      const u = await ask(c);
      rss.push([held.length, u.rss]);
      heap.push([held.length, u.heapUsed]);
      committed.push([held.length, u.heapTotal]);
    }
    const last = rss[rss.length - 1]!;
    const lastHeap = heap[heap.length - 1]!;
    const kb = (x: number): string => (x / 1024).toFixed(3);
    console.log(
      JSON.stringify({
        dist,
        protocol,
        n: held.length,
        keepAlive,
        heartbeat,
        rssPerConnKB: kb(slope(rss)),
        heapPerConnKB: kb(slope(heap)),
        heapTotalPerConnKB: kb(slope(committed)),
        rssAvgKB: kb((last[1] - base.rss) / held.length),
        heapAvgKB: kb((lastHeap[1] - base.heapUsed) / held.length),
        baseRssMB: (base.rss / 2 ** 20).toFixed(1),
      }),
    );
    for (const s of held) s.destroy();
  } finally {
    c.kill();
  }
}

if (process.argv.includes('--child')) await child();
else await parent();
