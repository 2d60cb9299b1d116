/**
 * The MQTT-SN bench: the MQTT-SN 1.2 gateway (`mqttsn://`, UDP) against Switchboard's own MQTT
 * over TCP in the same run, and against the Eclipse Paho MQTT-SN gateway in front of Mosquitto
 * when that gateway is built here.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/bench/mqttsn.js [--repeat N] [--pinned | --unpinned] [--quick] [--window S]
 *     [--only in-q0,in-q1,out-q0] [--systems sb,peer] [--sn-win q0=N,q1=N,fan=N] [--tcp-win q0=N,q1=N,fan=N]
 *     [--out FILE]
 *
 * Shapes (64 B payloads; every figure on a freshly started system; warm-up, then a fixed window,
 * then drained to the last delivery):
 *   in-q0   100 publishers, QoS 0 -> 1 MQTT subscriber (TCP, `bench/sn/in/#`): deliveries/s at it
 *   in-q1   the same with QoS 1 (publishers wait for PUBACKs, a window each; subscriber at QoS 1)
 *   out-q0  1 MQTT publisher (TCP) -> 100 subscribers of `bench/sn/out`, QoS 0: deliveries/s summed
 * Each shape runs with the 100 clients on MQTT-SN over UDP and, for the reference, on MQTT 3.1.1
 * over TCP; the other end is always one or more MQTT-over-TCP clients. Systems:
 *   sb    Switchboard (the main.js of this build, NODE_ENV=production, development mode, a fresh
 *         --data-dir, `--set mqttsn.datagramsPerSecond=1000000` so the per-address rate limit
 *         does not throttle the load); MQTT-SN and MQTT on the same process.
 *   peer  Mosquitto for MQTT over TCP; for MQTT-SN the Eclipse Paho MQTT-SN gateway
 *         (paho.mqtt-sn.embedded-c, MQTTSNGateway, transparent mode: one MQTT connection to
 *         Mosquitto per MQTT-SN client) in front of a Mosquitto. The gateway binary is
 *         $SB_BENCH_PAHO_SN, else .bench-tmp/paho-sn/MQTTSNGateway/bin/MQTT-SNGateway, else
 *         /tmp/paho-sn/MQTTSNGateway/bin/MQTT-SNGateway; build it with
 *           git clone https://github.com/eclipse/paho.mqtt-sn.embedded-c .bench-tmp/paho-sn
 *           (cd .bench-tmp/paho-sn/MQTTSNGateway && ./build.sh udp)
 *         Missing: the peer rows say so and the MQTT-SN figures stand against our MQTT over TCP.
 *
 * The generator is this process (gen/mqttsn-udp.ts for MQTT-SN: one connected UDP socket per
 * client, pre-encoded PUBLISH datagrams; mqtt-client.ts for MQTT), pinned to the generator core;
 * every system process on the broker core (`--unpinned`: anywhere). Flow control is closed-loop,
 * the same mechanism for both transports and the same windows for both systems (UDP has no
 * backpressure, so an open loop would only measure the kernel dropping datagrams):
 *   in-q0   each publisher keeps at most q0 messages sent but not yet delivered to the
 *           subscriber (a later sequence number arriving releases the ones before it)
 *   in-q1   each publisher keeps at most q1 PUBLISHes without PUBACK (MQTT-SN allows
 *           several: the gateway acknowledges each by MsgId) or not yet delivered, whichever is
 *           more (a PUBACK says the broker took it, not that the subscriber has it: without the
 *           second bound the subscriber's session queue would overflow)
 *   out-q0  the publisher keeps at most fan messages not yet delivered to every subscriber
 * The windows differ by the transport of the 100 clients (--sn-win, default q0=1,q1=1,fan=32;
 * --tcp-win, default q0=128,q1=8,fan=512; q1=8 keeps 800 messages within the subscriber's
 * default session queue of 1,000, limits.maxQueuedMessages): each transport
 * gets a window that saturates the system without losing datagrams, as far as one exists. UDP:
 * a burst beyond what the gateway's socket receive buffer holds is dropped by the kernel, so
 * MQTT-SN windows are small; TCP batches many messages per read and write, and its windows are
 * as large as `npm run bench`'s order of magnitude (at an MQTT-SN window TCP would only measure
 * round trips).
 * A publisher (or the fan-out) with nothing arriving for 300 ms writes its outstanding messages
 * off (they count as lost, or as "no PUBACK") and carries on: a lost datagram never stalls it.
 * "lost" = due deliveries that never arrived after the drain (QoS 1: acknowledged publishes).
 * The kernel's own drop counter of each UDP socket (/proc/net/udp, receive buffer full) is read
 * at the end: at the gateway's socket and at the generator's.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { layoutSections } from './layout-report.js';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, ROOT, usage, version } from './brokers.js';
import { MiniMqtt, Seen } from './mqtt-client.js';
import { BROKER_CORE, CORES, GEN_CORES, installCleanup, raiseNofile, removeDir, SETPRIV, TASKSET_PATH, track, trackDir } from './procs.js';
import { publish as mqttPublish } from './wire.js';
import { DISCONNECT, publishTemplate, SnClient } from './gen/mqttsn-udp.js';

const HERE = fileURLToPath(import.meta.url);
/** The Switchboard of the same build as this file. */
const SB_MAIN = join(dirname(HERE), '../src/cli/main.js');
const MOSQUITTO = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
const NODE_ARGS = process.env.SB_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

function pahoBin(): string | null {
  const c = [process.env.SB_BENCH_PAHO_SN, join(ROOT, '.bench-tmp/paho-sn/MQTTSNGateway/bin/MQTT-SNGateway'), '/tmp/paho-sn/MQTTSNGateway/bin/MQTT-SNGateway'];
  for (const p of c) if (p && existsSync(p)) return p;
  return null;
}

/** "1.5.1 (paho.mqtt-sn.embedded-c <rev>)" from the source tree next to the binary. */
function pahoVersion(bin: string): string {
  const src = join(dirname(bin), '..');
  let v = '';
  try {
    v = /PAHO_GATEWAY_VERSION\s+"([^"]+)"/.exec(readFileSync(join(src, 'src/MQTTSNGWVersion.h'), 'utf8'))?.[1] ?? '';
  } catch {
    /* no sources */
  }
  const rev = process.env.SB_BENCH_PAHO_REV ?? spawnSync('git', ['-C', src, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout?.trim();
  return `Eclipse Paho MQTT-SN gateway ${v || '?'}${rev ? ` (paho.mqtt-sn.embedded-c ${rev})` : ''}, built here with \`./build.sh udp\``;
}

const say = (s: string): void => void process.stdout.write(s + '\n');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (v: number): string => Math.round(v).toLocaleString('en-US');
const ratioText = (r: number): string => (Number.isFinite(r) && r > 0 ? `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x` : '-');
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- layout -------------------------------------------------------------------------------------

const ALL_CORES = `0-${CORES - 1}`;

interface Layout {
  pinned: boolean;
  brokerCores: string | null;
  title: string;
}

function layout(pinned: boolean): Layout {
  const can = pinned && BROKER_CORE !== null && GEN_CORES !== null;
  return {
    pinned: can,
    brokerCores: can ? BROKER_CORE : null,
    title: can ? `Pinned: every system process on core ${BROKER_CORE}, the generator on core ${GEN_CORES}` : pinned ? 'Pinned requested, but taskset or a second core is missing: unpinned' : `Unpinned: systems and generator share cores ${ALL_CORES}`,
  };
}

function pinGenerator(L: Layout): void {
  if (TASKSET_PATH === null) return;
  spawnSync(TASKSET_PATH, ['-a', '-cp', L.pinned && GEN_CORES !== null ? GEN_CORES : ALL_CORES, String(process.pid)], { stdio: 'ignore' });
}

// ---- processes ------------------------------------------------------------------------------------

interface Proc {
  name: string;
  pid: number;
  readonly exited: string | null;
  tail(): string;
  stop(): Promise<void>;
}

interface SpawnOpts {
  cores: string | null;
  cwd: string;
  env?: Record<string, string>;
  /** stdout to this file instead of a pipe (the Paho gateway logs every packet). */
  stdoutFile?: string;
  /** Ready when this returns true (checked every 25 ms, 20 s at most). */
  ready(out: string): boolean;
  graceful?: boolean;
}

/** As brokers.ts: setpriv --pdeathsig KILL, taskset, pipes always read. */
async function spawnProc(name: string, cmd: string, args: string[], o: SpawnOpts): Promise<Proc> {
  const argv = [cmd, ...args];
  if (o.cores !== null && TASKSET_PATH) argv.unshift(TASKSET_PATH, '-c', o.cores);
  if (SETPRIV) argv.unshift(SETPRIV, '--pdeathsig', 'KILL');
  const fd = o.stdoutFile ? openSync(o.stdoutFile, 'w') : null;
  const proc: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd ?? 'pipe', 'pipe'], env: { ...process.env, ...o.env }, cwd: o.cwd });
  if (fd !== null) closeSync(fd);
  track(proc);
  let out = '';
  let exited: string | null = null;
  let stopping = false;
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-8000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr!.on('data', keep);
  const ended = new Promise<void>((res) => proc.once('exit', () => res()));
  proc.on('exit', (code, signal) => {
    if (!stopping) exited = `${name} exited (${signal ?? `code ${code}`})`;
  });
  proc.on('error', (err) => (exited = `${name} could not start: ${err.message}`));
  const tail = (): string => {
    let text = out;
    if (o.stdoutFile) {
      try {
        text = readFileSync(o.stdoutFile, 'utf8').slice(-4000) + text;
      } catch {
        /* gone */
      }
    }
    return text.trim().split('\n').slice(-8).join('\n');
  };
  const until = Date.now() + 20_000;
  try {
    for (;;) {
      if (exited) throw new Error(exited);
      if (o.ready(out)) break;
      if (Date.now() > until) throw new Error('not ready within 20 s');
      await sleep(25);
    }
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${name} did not start: ${(err as Error).message}${tail() ? `\n${tail()}` : ''}`);
  }
  return {
    name,
    pid: proc.pid!,
    get exited() {
      return exited;
    },
    tail,
    stop: async () => {
      stopping = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(o.graceful ? 'SIGTERM' : 'SIGKILL');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await ended;
        clearTimeout(t);
      }
    },
  };
}

/** `n` distinct free UDP ports (all held until each is known, then released: one at a time the kernel may hand out the same port twice). */
async function freeUdpPorts(n: number): Promise<number[]> {
  const socks: dgram.Socket[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = dgram.createSocket('udp4');
      socks.push(s);
      await new Promise<void>((res, rej) => {
        s.once('error', rej);
        s.bind(0, '0.0.0.0', () => res());
      });
    }
    return socks.map((s) => s.address().port);
  } finally {
    await Promise.all(socks.map((s) => new Promise<void>((res) => s.close(() => res()))));
  }
}

/** /proc/net/udp: the kernel's drop counter (receive buffer full, ...) of every IPv4 socket bound to one of `ports`. */
function udpDrops(ports: Iterable<number>): number {
  const want = new Set(ports);
  let sum = 0;
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (local === undefined) continue;
      const port = parseInt(local.split(':')[1] ?? '', 16);
      if (want.has(port)) sum += Number(f[f.length - 1] ?? 0);
    }
  } catch {
    return NaN;
  }
  return sum;
}

/** Some IPv4 UDP socket is bound to `port` (/proc/net/udp). */
function udpBound(port: number): boolean {
  try {
    return readFileSync('/proc/net/udp', 'utf8').includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `);
  } catch {
    return false;
  }
}

/**
 * The Paho gateway keeps its log ring buffer and its mutex in System V shared memory, keyed by
 * ftok() of two files it creates in its directory (ringbuffer.key, rbmutex.key: the low 16 bits
 * of their inode). A gateway that is killed leaves both segments behind, and a later gateway
 * whose key file gets the inode bits of an earlier mutex file finds a segment of the wrong size
 * and aborts ("RingBuffer can't create a shared memory"). So after each gateway its two segments
 * are removed (`ipcrm -M`), with the key computed as glibc's ftok does.
 */
function pahoShm(gwDir: string): void {
  for (const f of ['ringbuffer.key', 'rbmutex.key']) {
    try {
      const st = statSync(join(gwDir, f));
      const key = ((Number(st.ino) & 0xffff) | ((Number(st.dev) & 0xff) << 16) | (1 << 24)) >>> 0;
      spawnSync('ipcrm', ['-M', `0x${key.toString(16)}`], { stdio: 'ignore' });
    } catch {
      /* not created */
    }
  }
}

// ---- systems ------------------------------------------------------------------------------------

type SystemId = 'sb' | 'peer';
type Transport = 'sn' | 'tcp';

interface Running {
  mqttPort: number;
  /** The MQTT-SN gateway's UDP port (0: none). */
  snPort: number;
  procs: Proc[];
  stop(): Promise<void>;
}

async function startSwitchboard(L: Layout): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-sn-'));
  trackDir(dir);
  const args = [...NODE_ARGS, SB_MAIN, '--listen', 'mqtt://127.0.0.1:0', '--listen', 'mqttsn://127.0.0.1:0', '--log-level', 'warn', '--data-dir', join(dir, 'data'), '--set', 'mqttsn.datagramsPerSecond=1000000'];
  const p = await spawnProc('switchboard', process.execPath, args, {
    cores: L.brokerCores,
    cwd: dir,
    env: { NODE_ENV: 'production' },
    graceful: true,
    ready: (out) => /listening mqtt:\/\/127\.0\.0\.1:\d+/.test(out) && /listening mqttsn:\/\/127\.0\.0\.1:\d+/.test(out),
  });
  const out = p.tail();
  const mqttPort = Number(/listening mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  const snPort = Number(/listening mqttsn:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  return {
    mqttPort,
    snPort,
    procs: [p],
    stop: async () => {
      await p.stop();
      removeDir(dir);
    },
  };
}

async function startPeer(L: Layout, withGateway: boolean): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-sn-peer-'));
  trackDir(dir);
  const port = await freePort();
  // As brokers.ts runs Mosquitto (root kept so PR_SET_PDEATHSIG holds; no persistence).
  const conf = ['user root', 'per_listener_settings false', 'allow_anonymous true', `listener ${port} 127.0.0.1`, 'max_queued_messages 1000000', 'max_queued_bytes 0', 'max_inflight_messages 0', 'persistence false', 'log_dest stderr', 'log_type error'];
  writeFileSync(join(dir, 'mosquitto.conf'), conf.join('\n') + '\n');
  const procs: Proc[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await p.stop();
    removeDir(dir);
  };
  try {
    const probe = async (): Promise<boolean> => {
      try {
        const c = await MiniMqtt.connect({ port, clientId: 'probe', clean: true, timeoutMs: 500 });
        c.destroy();
        return true;
      } catch {
        return false;
      }
    };
    const mosq = await spawnProc('mosquitto', MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { cores: L.brokerCores, cwd: dir, ready: () => true });
    procs.push(mosq);
    // Ready when it accepts an MQTT connection.
    let up = false;
    for (let i = 0; i < 400 && !(up = await probe()); i++) await sleep(25);
    if (!up) throw new Error(`mosquitto did not accept connections\n${mosq.tail()}`);
    let snPort = 0;
    if (withGateway) {
      const bin = pahoBin();
      if (bin === null) throw new Error('the Paho MQTT-SN gateway is not built (see the header of bench/mqttsn.ts)');
      const [uni, mc] = (await freeUdpPorts(2)) as [number, number];
      snPort = uni;
      const mcPort = mc;
      const gw = [
        'GatewayID=1',
        'GatewayName=PahoGateway-bench',
        // 100 clients and the odd reconnect; the default 30 would refuse them.
        'MaxNumberOfClients=300',
        'KeepAlive=600',
        'BrokerName=127.0.0.1',
        `BrokerPortNo=${port}`,
        `BrokerSecurePortNo=${port}`,
        'AggregatingGateway=NO',
        'QoS-1=NO',
        'Forwarder=NO',
        'PredefinedTopic=NO',
        'ClientAuthentication=NO',
        `GatewayPortNo=${snPort}`,
        `MulticastPortNo=${mcPort}`,
        'MulticastIP=225.1.1.1',
        'MulticastTTL=1',
        // Its packet log goes to stdout (a file here), not to the shared-memory ring buffer.
        'ShearedMemory=NO',
      ];
      const port0 = snPort;
      // Up to 3 tries, each in a fresh directory: see pahoShm.
      for (let attempt = 1; ; attempt++) {
        const gwDir = join(dir, `gw${attempt}`);
        mkdirSync(gwDir);
        writeFileSync(join(gwDir, 'gateway.conf'), gw.join('\n') + '\n');
        try {
          const p = await spawnProc('paho-sn-gateway', bin, ['-f', join(gwDir, 'gateway.conf')], { cores: L.brokerCores, cwd: gwDir, stdoutFile: join(gwDir, 'gateway.out'), ready: () => udpBound(port0) });
          procs.push({
            name: p.name,
            pid: p.pid,
            get exited() {
              return p.exited;
            },
            tail: p.tail,
            stop: () => p.stop().then(() => pahoShm(gwDir)),
          });
          break;
        } catch (err) {
          pahoShm(gwDir);
          if (attempt >= 3) throw err;
        }
      }
    }
    return { mqttPort: port, snPort, procs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- load ----------------------------------------------------------------------------------------

type ShapeId = 'in-q0' | 'in-q1' | 'out-q0';

interface Shape {
  id: ShapeId;
  title: string;
  qos: 0 | 1;
  fan: 'in' | 'out';
}

const SHAPES: Shape[] = [
  { id: 'in-q0', title: '1. 100 publishers QoS 0 -> 1 MQTT subscriber', qos: 0, fan: 'in' },
  { id: 'in-q1', title: '2. 100 publishers QoS 1 (window of PUBACKs each) -> 1 MQTT subscriber (QoS 1)', qos: 1, fan: 'in' },
  { id: 'out-q0', title: '3. fan-out: 1 MQTT publisher -> 100 subscribers, QoS 0', qos: 0, fan: 'out' },
];

const CLIENTS = 100;
const SIZE = 64;
/** Nothing arriving for this long: a publisher writes its outstanding messages off. */
const STALL_MS = 300;

interface Timing {
  warmMs: number;
  windowMs: number;
  quietMs: number;
  maxDrainMs: number;
}

interface Win {
  q0: number;
  q1: number;
  fan: number;
}

/** Flow-control windows of the 100 clients' transport (see the header). */
interface Windows {
  sn: Win;
  tcp: Win;
}

const winText = (w: Win): string => `in-q0 ${w.q0}, in-q1 ${w.q1}, out-q0 ${w.fan}`;

/** "q0=1,q1=4,fan=32" over `base`. */
function parseWin(text: string | undefined, base: Win): Win {
  const w = { ...base };
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if ((k !== 'q0' && k !== 'q1' && k !== 'fan') || !(Number(v) >= 1)) throw new Error(`bad window ${part} (q0=N,q1=N,fan=N)`);
    w[k] = Number(v);
  }
  return w;
}

interface Fig {
  value: number;
  lost: number;
  published: number;
  delivered: number;
  /** % of one core during the window, all system processes, and each one. */
  sysPct: number;
  split: string;
  /** CPU seconds of the system processes from the first connection to the end of the drain. */
  cpuS: number;
  /** System CPU µs per delivery in the window. */
  usPerDelivery: number;
  genPct: number;
  gwDrops: number;
  genDrops: number;
  notes: string[];
  error?: string;
}

/**
 * One publisher's flow: sequence numbers 1..sent went out; those up to `highest` were delivered
 * (or written off); QoS 1: `freed` of them were acknowledged (or written off). The window holds
 * what is not yet delivered and, QoS 1, not yet acknowledged, whichever is more.
 */
class Flow {
  sent = 0;
  highest = 0;
  freed = 0;
  acked = 0;
  rejected = 0;
  /** Written off after STALL_MS: not delivered (QoS 0), not acknowledged (QoS 1). */
  writtenOff = 0;
  /** Deliveries and PUBACKs so far; the watchdog notes when it last moved (no clock read per message). */
  progress = 0;
  lastProgress = 0;
  progressAt = performance.now();
  readonly seen = new Seen();
  /** QoS 1: MsgIds / packet ids awaiting their PUBACK. */
  readonly waiting = new Uint8Array(65536);
  constructor(readonly send: (firstSeq: number, n: number) => void) {}

  /** QoS 1 acknowledgement of `id`: true when it was awaited. */
  ack(id: number, ok: boolean): void {
    if (this.waiting[id] !== 1) return;
    this.waiting[id] = 0;
    this.freed++;
    if (ok) this.acked++;
    else this.rejected++;
    this.progress++;
  }
}

const idOf = (seq: number): number => ((seq - 1) % 65535) + 1;

interface Ctx {
  L: Layout;
  t: Timing;
  w: Windows;
}

/** One figure: a fresh system, the clients, warm-up, window, drain. */
async function measure(sys: SystemId, transport: Transport, shape: Shape, ctx: Ctx): Promise<Fig> {
  const { t } = ctx;
  const w = ctx.w[transport];
  const run = sys === 'sb' ? await startSwitchboard(ctx.L) : await startPeer(ctx.L, transport === 'sn');
  const tag = `sn${process.pid % 10000}${Math.floor(Math.random() * 1e6)}`;
  const sn: SnClient[] = [];
  const tcp: MiniMqtt[] = [];
  const died = (): string | null => run.procs.map((p) => p.exited).find((e) => e !== null) ?? null;
  const cpu0 = run.procs.map((p) => usage(p.pid).cpuSeconds);
  try {
    const snOpen = (id: string): Promise<SnClient> => SnClient.open({ gatewayPort: run.snPort, clientId: id, duration: 600, recvBufferSize: 4 * 2 ** 20 });
    const tcpOpen = (id: string): Promise<MiniMqtt> => MiniMqtt.connect({ port: run.mqttPort, clientId: id, clean: true });
    let delivered = 0;
    let running = false;
    let pumpQueued = false;
    const flows: Flow[] = [];
    const notes: string[] = [];
    let pumpAll: () => void = () => undefined;
    const schedule = (): void => {
      if (pumpQueued || !running) return;
      pumpQueued = true;
      setImmediate(() => {
        pumpQueued = false;
        if (running) pumpAll();
      });
    };
    let due: () => number;
    let received: () => number;
    let dups: () => number;
    let watchdog: () => void;
    let published: () => number;
    let writtenOffAll: () => number = () => flows.reduce((a, f) => a + f.writtenOff, 0);
    if (shape.fan === 'in') {
      // The subscriber: MQTT over TCP.
      const sub = await tcpOpen(`${tag}-sub`);
      tcp.push(sub);
      sub.onPublish = (b, start) => {
        const seq = b.readUInt32LE(start);
        const f = flows[b.readUInt16LE(start + 4)];
        if (f === undefined) return;
        delivered++;
        f.seen.add(seq);
        if (seq > f.highest) {
          f.highest = seq;
          f.progress++;
        }
      };
      sub.onRead = schedule;
      await sub.subscribe('bench/sn/in/#', shape.qos);
      const win = shape.qos === 0 ? w.q0 : w.q1;
      // The publishers, opened 10 at a time.
      for (let i = 0; i < CLIENTS; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(10, CLIENTS - i) }, async (_, k) => {
            const idx = i + k;
            const topic = `bench/sn/in/${idx}`;
            if (transport === 'sn') {
              const c = await snOpen(`${tag}-p${idx}`);
              sn.push(c);
              const topicId = await c.register(topic);
              const tm = publishTemplate(topicId, shape.qos, SIZE);
              const len = tm.buf.length;
              const f = new Flow((first, n) => {
                for (let j = 0; j < n; j++) {
                  const seq = first + j;
                  const b = Buffer.allocUnsafe(len);
                  tm.buf.copy(b);
                  b.writeUInt32LE(seq, tm.payloadOffset);
                  b.writeUInt16LE(idx, tm.payloadOffset + 4);
                  if (shape.qos === 1) {
                    const id = idOf(seq);
                    b.writeUInt16BE(id, tm.msgIdOffset);
                    f.waiting[id] = 1;
                  }
                  c.send(b);
                }
              });
              c.onPuback = (id, rc) => {
                f.ack(id, rc === 0);
                schedule();
              };
              return [idx, f] as const;
            }
            const c = await tcpOpen(`${tag}-p${idx}`);
            tcp.push(c);
            const tm = mqttPublish(topic, SIZE, shape.qos, false);
            const len = tm.buf.length;
            const f = new Flow((first, n) => {
              const out = Buffer.allocUnsafe(n * len);
              for (let j = 0; j < n; j++) {
                const seq = first + j;
                const off = j * len;
                tm.buf.copy(out, off);
                out.writeUInt32LE(seq, off + tm.payloadOffset);
                out.writeUInt16LE(idx, off + tm.payloadOffset + 4);
                if (shape.qos === 1) {
                  const id = idOf(seq);
                  out.writeUInt16BE(id, off + tm.pidOffset);
                  f.waiting[id] = 1;
                }
              }
              c.sock.write(out);
            });
            c.onPuback = (id) => f.ack(id, true);
            c.onRead = schedule;
            c.sock.on('drain', schedule);
            return [idx, f] as const;
          }),
        );
        for (const [idx, f] of batch) flows[idx] = f;
      }
      const tcpPub = transport === 'tcp' ? tcp.slice(1) : [];
      pumpAll = () => {
        for (let i = 0; i < flows.length; i++) {
          const f = flows[i]!;
          const n = win - (shape.qos === 1 ? Math.max(f.sent - f.highest, f.sent - f.freed) : f.sent - f.highest);
          if (n <= 0) continue;
          if (transport === 'tcp' && tcpPub[i]!.sock.writableLength > 64 * 1024) continue;
          f.send(f.sent + 1, n);
          f.sent += n;
        }
      };
      watchdog = () => {
        const now = performance.now();
        for (const f of flows) {
          if (f.progress !== f.lastProgress) {
            f.lastProgress = f.progress;
            f.progressAt = now;
            continue;
          }
          if ((f.sent === f.highest && (shape.qos === 0 || f.sent === f.freed)) || now - f.progressAt < STALL_MS) continue;
          if (shape.qos === 1) {
            for (let id = 1; id < 65536; id++) {
              if (f.waiting[id] === 1) {
                f.waiting[id] = 0;
                f.writtenOff++;
              }
            }
            f.freed = f.sent;
          } else f.writtenOff += f.sent - f.highest;
          f.highest = f.sent;
          f.progressAt = now;
        }
      };
      published = () => flows.reduce((a, f) => a + f.sent, 0);
      due = () => flows.reduce((a, f) => a + (shape.qos === 1 ? f.acked : f.sent), 0);
      received = () => flows.reduce((a, f) => a + f.seen.unique, 0);
      dups = () => flows.reduce((a, f) => a + f.seen.dups, 0);
    } else {
      // Fan-out: the subscribers first, then one MQTT publisher.
      const topic = 'bench/sn/out';
      const seen: Seen[] = [];
      let progressAt = performance.now();
      let lastDelivered = 0;
      const onDelivery = (j: number, seq: number): void => {
        delivered++;
        seen[j]!.add(seq);
        schedule();
      };
      for (let i = 0; i < CLIENTS; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, CLIENTS - i) }, async (_, k) => {
            const j = i + k;
            seen[j] = new Seen();
            if (transport === 'sn') {
              const c = await snOpen(`${tag}-s${j}`);
              sn.push(c);
              c.onPublish = (b, at) => {
                if (b.length >= at + 4) onDelivery(j, b.readUInt32LE(at));
              };
              await c.subscribe(topic, 0);
            } else {
              const c = await tcpOpen(`${tag}-s${j}`);
              tcp.push(c);
              c.onPublish = (b, start) => onDelivery(j, b.readUInt32LE(start));
              await c.subscribe(topic, 0);
            }
          }),
        );
      }
      const pub = await tcpOpen(`${tag}-pub`);
      tcp.push(pub);
      pub.sock.on('drain', schedule);
      const tm = mqttPublish(topic, SIZE, 0, false);
      const len = tm.buf.length;
      let sent = 0;
      let writtenOff = 0;
      pumpAll = () => {
        if (pub.sock.writableLength > 64 * 1024) return;
        const outstanding = sent * CLIENTS - delivered - writtenOff;
        const n = Math.floor((w.fan * CLIENTS - outstanding) / CLIENTS);
        if (n <= 0) return;
        const out = Buffer.allocUnsafe(n * len);
        for (let j = 0; j < n; j++) {
          tm.buf.copy(out, j * len);
          out.writeUInt32LE(sent + 1 + j, j * len + tm.payloadOffset);
        }
        sent += n;
        pub.sock.write(out);
      };
      watchdog = () => {
        const now = performance.now();
        if (delivered !== lastDelivered) {
          lastDelivered = delivered;
          progressAt = now;
          return;
        }
        const outstanding = sent * CLIENTS - delivered - writtenOff;
        if (outstanding > 0 && now - progressAt >= STALL_MS) {
          writtenOff += outstanding;
          progressAt = now;
        }
      };
      published = () => sent;
      due = () => sent * CLIENTS;
      received = () => seen.reduce((a, s) => a + s.unique, 0);
      dups = () => seen.reduce((a, s) => a + s.dups, 0);
      writtenOffAll = () => writtenOff;
    }
    const dog = setInterval(() => {
      if (!running) return;
      watchdog();
      pumpAll();
    }, 50);
    try {
      // Warm-up, then the window.
      running = true;
      pumpAll();
      await sleep(t.warmMs);
      const dead = died();
      if (dead) throw new Error(dead);
      const d0 = delivered;
      const p0 = published();
      const u0 = run.procs.map((p) => usage(p.pid).cpuSeconds);
      const g0 = cpuMs();
      const w0 = performance.now();
      await sleep(t.windowMs);
      const w1 = performance.now();
      const d1 = delivered;
      const p1 = published();
      const u1 = run.procs.map((p) => usage(p.pid).cpuSeconds);
      const g1 = cpuMs();
      running = false;
      // Drain: until everything due arrived, or nothing moved for quietMs.
      const drain0 = performance.now();
      let last = received();
      let movedAt = performance.now();
      // QoS 1: PUBACKs still on their way count towards `due` (wait for them as well).
      let lastAcks = due();
      while (received() < due()) {
        await sleep(10);
        const r = received();
        const a = due();
        if (r !== last || a !== lastAcks) {
          last = r;
          lastAcks = a;
          movedAt = performance.now();
        } else if (performance.now() - movedAt > t.quietMs) break;
        if (performance.now() - drain0 > t.maxDrainMs) break;
      }
      const dead2 = died();
      if (dead2) throw new Error(dead2);
      const winS = (w1 - w0) / 1000;
      const cpuWin = u1.reduce((a, v, i) => a + v - u0[i]!, 0);
      const cpuAll = run.procs.reduce((a, p, i) => a + usage(p.pid).cpuSeconds - cpu0[i]!, 0);
      const gwDrops = run.snPort ? udpDrops([run.snPort]) : 0;
      const genDrops = sn.length > 0 ? udpDrops(sn.map((c) => c.localPort)) : 0;
      const lost = Math.max(0, due() - received());
      const rejected = flows.reduce((a, f) => a + f.rejected, 0);
      const writtenOff = writtenOffAll();
      const registers = sn.reduce((a, c) => a + c.registers, 0);
      const unexpected = new Map<number, number>();
      for (const c of sn) for (const [k, v] of c.unexpected) unexpected.set(k, (unexpected.get(k) ?? 0) + v);
      notes.push(`${fmt(published())} published (${fmt((p1 - p0) / winS)}/s in the window), ${fmt(received())} of ${fmt(due())} due delivered`);
      if (shape.qos === 1) notes.push(`${fmt(flows.reduce((a, f) => a + f.acked, 0))} PUBACKs`);
      if (writtenOff > 0) notes.push(`${fmt(writtenOff)} written off after ${STALL_MS} ms without ${shape.qos === 1 ? 'a PUBACK' : 'a delivery'}`);
      if (rejected > 0) notes.push(`**${fmt(rejected)} PUBACKs with a refusing return code**`);
      if (dups() > 0) notes.push(`${fmt(dups())} duplicates`);
      if (registers > 0) notes.push(`${fmt(registers)} REGISTERs from the gateway answered`);
      if (unexpected.size > 0) notes.push(`unexpected datagrams: ${[...unexpected].map(([k, v]) => `${fmt(v)} of MsgType ${k < 0 ? '?' : `0x${k.toString(16).padStart(2, '0')}`}`).join(', ')}`);
      const sysPct = (cpuWin / winS) * 100;
      const genPct = ((g1 - g0) / (w1 - w0)) * 100;
      if (genPct >= 95 && sysPct < 90) notes.unshift('**generator-bound** (its core saturated, the system\'s not): a lower bound for the system');
      const split = run.procs.length > 1 ? run.procs.map((p, i) => `${p.name} ${(((u1[i]! - u0[i]!) / winS) * 100).toFixed(0)}%`).join(' + ') : '';
      return {
        value: (d1 - d0) / winS,
        lost,
        published: published(),
        delivered: received(),
        sysPct,
        split,
        cpuS: cpuAll,
        usPerDelivery: d1 > d0 ? (cpuWin * 1e6) / (d1 - d0) : NaN,
        genPct,
        gwDrops,
        genDrops,
        notes,
      };
    } finally {
      running = false;
      clearInterval(dog);
    }
  } finally {
    for (const c of sn) {
      c.send(DISCONNECT);
      c.close();
    }
    for (const c of tcp) c.destroy();
    await run.stop();
  }
}

// ---- report --------------------------------------------------------------------------------------

interface Row {
  sys: SystemId;
  transport: Transport;
}

const ROWS: Row[] = [
  { sys: 'sb', transport: 'sn' },
  { sys: 'sb', transport: 'tcp' },
  { sys: 'peer', transport: 'sn' },
  { sys: 'peer', transport: 'tcp' },
];

const rowName = (r: Row): string => (r.sys === 'sb' ? (r.transport === 'sn' ? 'Switchboard, MQTT-SN over UDP' : 'Switchboard, MQTT over TCP') : r.transport === 'sn' ? 'Paho MQTT-SN gateway + Mosquitto, MQTT-SN over UDP' : 'Mosquitto, MQTT over TCP');
const key = (r: Row): string => `${r.sys}-${r.transport}`;

interface Cell {
  fig: Fig;
  /** All runs' values (the median is `fig`). */
  values: number[];
  worstLost: number;
}

function median(runs: Fig[]): Cell {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return { fig: runs[0]!, values: [], worstLost: 0 };
  const sorted = [...ok].sort((a, b) => a.value - b.value);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const failed = runs.filter((r) => r.error);
  const fig = failed.length === 0 ? mid : { ...mid, notes: [`**${failed.length} of ${runs.length} runs failed** (${failed[0]!.error!.split('\n')[0]})`, ...mid.notes] };
  return { fig, values: sorted.map((r) => r.value), worstLost: Math.max(...ok.map((r) => r.lost)) };
}

const errFig = (e: string): Fig => ({ value: NaN, lost: 0, published: 0, delivered: 0, sysPct: NaN, split: '', cpuS: NaN, usPerDelivery: NaN, genPct: NaN, gwDrops: 0, genDrops: 0, notes: [], error: e });

interface LayoutResult {
  L: Layout;
  cells: Map<string, Cell>;
  load: number;
  minutes: number;
  at: string;
}

const cellKey = (s: ShapeId, r: Row): string => `${s}|${key(r)}`;

function valueText(c: Cell | undefined): string {
  if (!c) return '-';
  if (c.fig.error) return `error: ${c.fig.error.split('\n')[0]}`;
  return fmt(c.fig.value);
}

function ratio(a: Cell | undefined, b: Cell | undefined): string {
  if (!a || !b || a.fig.error || b.fig.error) return '-';
  const flag = a.fig.lost > 0 || b.fig.lost > 0 ? ' (loss)' : '';
  return `${ratioText(a.fig.value / b.fig.value)}${flag}`;
}

function layoutSection(r: LayoutResult, cmd: string, o: { t: Timing; w: Windows; repeat: number; shapes: Shape[] }): string[] {
  const lk = r.L.pinned ? 'pinned' : 'unpinned';
  const get = (s: ShapeId, row: Row): Cell | undefined => r.cells.get(cellKey(s, row));
  const [sbSn, sbTcp, peerSn, peerTcp] = ROWS as [Row, Row, Row, Row];
  const lines = [
    `<!-- layout:${lk}:start -->`,
    `<!-- \`${cmd}\` -->`,
    '',
    `## ${r.L.title}`,
    '',
    `${r.at} UTC; load average at start ${r.load.toFixed(2)}; ${r.minutes.toFixed(1)} min; warm-up ${o.t.warmMs / 1000} s, window ${o.t.windowMs / 1000} s${o.repeat > 1 ? `; each figure the median of ${o.repeat} runs taken in turns` : ''}. Windows: MQTT-SN ${winText(o.w.sn)}; MQTT/TCP ${winText(o.w.tcp)}.`,
    '',
    '### Headline (deliveries/s)',
    '',
    '| shape | Switchboard MQTT-SN | Switchboard MQTT/TCP | **MQTT-SN / MQTT-TCP (Switchboard)** | Paho gateway + Mosquitto MQTT-SN | Mosquitto MQTT/TCP | MQTT-SN / MQTT-TCP (peer) | **Switchboard MQTT-SN vs Paho + Mosquitto** |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const s of o.shapes) {
    lines.push(`| ${s.id} | ${valueText(get(s.id, sbSn))} | ${valueText(get(s.id, sbTcp))} | **${ratio(get(s.id, sbSn), get(s.id, sbTcp))}** | ${valueText(get(s.id, peerSn))} | ${valueText(get(s.id, peerTcp))} | ${ratio(get(s.id, peerSn), get(s.id, peerTcp))} | **${ratio(get(s.id, sbSn), get(s.id, peerSn))}** |`);
  }
  lines.push('');
  for (const s of o.shapes) {
    lines.push(`### ${s.title}`, '', '| system, transport | deliveries/s | lost | vs same system over TCP | system CPU % (window) | CPU µs / delivery | system CPU s (whole run) | gen CPU % | kernel UDP drops: gateway / generator sockets | runs | notes |', '|---|---|---|---|---|---|---|---|---|---|---|');
    for (const row of ROWS) {
      const c = get(s.id, row);
      if (!c) continue;
      const f = c.fig;
      if (f.error) {
        lines.push(`| ${rowName(row)} | error: ${f.error.replace(/\n/g, ' ').replace(/\|/g, '\\|')} | | | | | | | | | |`);
        continue;
      }
      const tcpRow = ROWS.find((x) => x.sys === row.sys && x.transport === 'tcp')!;
      const vsTcp = row.transport === 'sn' ? ratio(c, get(s.id, tcpRow)) : '';
      const runs = c.values.length > 1 ? c.values.map(fmt).join(' / ') : '';
      const lostText = `${fmt(f.lost)}${c.worstLost > f.lost ? ` (worst run ${fmt(c.worstLost)})` : ''}`;
      const drops = row.transport === 'sn' ? `${fmt(f.gwDrops)} / ${fmt(f.genDrops)}` : '';
      lines.push(`| ${rowName(row)} | ${fmt(f.value)} | ${lostText} | ${vsTcp} | ${f.sysPct.toFixed(0)}%${f.split ? ` (${f.split})` : ''} | ${f.usPerDelivery.toFixed(2)} | ${f.cpuS.toFixed(2)} | ${f.genPct.toFixed(0)}% | ${drops} | ${runs} | ${f.notes.join('; ')} |`);
    }
    lines.push('');
  }
  lines.push(`<!-- layout:${lk}:end -->`);
  return lines;
}

function header(cmd: string, versions: string[], w: Windows, peerNote: string): string[] {
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  return [
    `<!-- \`${cmd}\` (build: \`npx tsc -p tsconfig.json\`) -->`,
    '',
    '# MQTT-SN gateway benchmark',
    '',
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${CORES} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}; commit ${rev}.`,
    '',
    `Systems: ${versions.join('; ')}.`,
    '',
    peerNote,
    '',
    'How to read:',
    '- Three shapes, each with its 100 clients on MQTT-SN over UDP and, as the reference, on MQTT 3.1.1 over TCP; the other end is MQTT over TCP: **in-q0** 100 publishers, QoS 0 -> 1 subscriber (`bench/sn/in/#`); **in-q1** the same at QoS 1 (each publisher waits for PUBACKs, the subscriber subscribes at QoS 1 and acknowledges); **out-q0** 1 MQTT publisher -> 100 subscribers of one topic, QoS 0. 64 B payloads. MQTT-SN publishers REGISTER their topic and publish with its topic id; MQTT-SN subscribers subscribe by name (no wildcard), so the SUBACK gives the topic id.',
    '- deliveries/s = PUBLISHes arriving at the subscriber(s) during the window (fan-out: summed over the 100). "MQTT-SN / MQTT-TCP" = what the same system delivers with the 100 clients on MQTT-SN, as a share of what it delivers with them on MQTT over TCP (1x: UDP costs nothing extra). "Switchboard MQTT-SN vs Paho + Mosquitto" > 1x: Switchboard is faster.',
    `- Flow control is closed-loop for every row, the same for both systems (UDP has no backpressure: an open loop would only measure the kernel dropping datagrams): in-q0 at most q0 messages per publisher sent but not yet delivered; in-q1 at most q1 PUBLISHes per publisher without PUBACK or not yet delivered, whichever is more; out-q0 at most fan messages not yet delivered to every subscriber. The windows depend on the 100 clients' transport: MQTT-SN ${winText(w.sn)}; MQTT/TCP ${winText(w.tcp)}. MQTT-SN in-q1 at 1 is also what the specification (6.13) asks of a client: one message outstanding. Each window is about the smallest that saturates the system: larger MQTT-SN windows overflow the gateway's UDP receive buffer (kernel drops, then ${STALL_MS} ms stalls), while TCP at an MQTT-SN window would measure round trips, not throughput. Nothing arriving for ${STALL_MS} ms: the outstanding messages are written off (counted lost, or "no PUBACK") and the publisher carries on.`,
    '- lost = due deliveries that never arrived after the drain (QoS 1: acknowledged publishes that never reached the subscriber). Kernel UDP drops = the drop counter of /proc/net/udp (receive buffer full) of the gateway\'s socket and of the generator\'s 100 sockets, over the whole run.',
    '- System CPU = every process of the system (Switchboard: one Node process; peer: Mosquitto, plus the Paho gateway for MQTT-SN, split in brackets), % of one core during the window; pinned, they all share one core, so about 100% means that core is saturated. CPU µs / delivery = system CPU in the window / deliveries in it. gen CPU = this bench process (the generator), % of one core.',
    '- The Paho gateway logs every packet it receives or sends to stdout (it has no switch for that); here stdout goes to a file in the run\'s temp dir, as an operator would redirect it.',
    '',
  ];
}

/**
 * The file keeps, from its previous version, the layout a run did not measure and the
 * hand-written findings between `<!-- findings:start -->` and `<!-- findings:end -->`.
 */
function writeReport(file: string, head: string[], sections: Map<'pinned' | 'unpinned', string[]>): void {
  // The findings written by hand stay; a single-layout run keeps the other layout's section.
  const findings = existsSync(file) ? /<!-- findings:start -->[\s\S]*?<!-- findings:end -->/.exec(readFileSync(file, 'utf8')) : null;
  const parts = [...(findings ? [findings[0]] : []), ...layoutSections(file, sections)];
  writeFileSync(file, [...head, ...parts.flatMap((p) => [p, ''])].join('\n'));
}

async function runLayout(L: Layout, o: { t: Timing; w: Windows; repeat: number; shapes: Shape[]; rows: Row[] }): Promise<LayoutResult> {
  const started = Date.now();
  const load = loadavg()[0] ?? 0;
  pinGenerator(L);
  const runs = new Map<string, Fig[]>();
  for (let rep = 1; rep <= o.repeat; rep++) {
    for (const s of o.shapes) {
      for (const row of o.rows) {
        const label = `${L.pinned ? 'pinned' : 'unpinned'} ${rep}/${o.repeat} ${s.id} ${rowName(row)}`;
        let f: Fig;
        try {
          f = await measure(row.sys, row.transport, s, { L, t: o.t, w: o.w });
          say(`${label}: ${fmt(f.value)} deliveries/s, lost ${fmt(f.lost)}, system CPU ${f.sysPct.toFixed(0)}%${f.split ? ` (${f.split})` : ''}, gen ${f.genPct.toFixed(0)}%, UDP drops ${f.gwDrops}/${f.genDrops}; ${f.notes.join('; ')}`);
        } catch (err) {
          f = errFig((err as Error).message);
          say(`${label}: error: ${(err as Error).message}`);
        }
        const k = cellKey(s.id, row);
        runs.set(k, [...(runs.get(k) ?? []), f]);
        await sleep(300);
      }
    }
  }
  const cells = new Map<string, Cell>();
  for (const [k, v] of runs) cells.set(k, median(v));
  return { L, cells, load, minutes: (Date.now() - started) / 60_000, at: new Date(started).toISOString().replace('T', ' ').slice(0, 16) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      pinned: { type: 'boolean' },
      unpinned: { type: 'boolean' },
      repeat: { type: 'string' },
      window: { type: 'string' },
      only: { type: 'string' },
      systems: { type: 'string' },
      'sn-win': { type: 'string' },
      'tcp-win': { type: 'string' },
      out: { type: 'string' },
    },
  });
  installCleanup();
  if (!existsSync(SB_MAIN)) throw new Error(`Switchboard is not built next to this file (${SB_MAIN}): run \`npx tsc -p tsconfig.json\``);
  const quick = values.quick === true;
  const windowS = values.window ? Number(values.window) : quick ? 1 : 5;
  const t: Timing = { warmMs: quick ? 300 : 1000, windowMs: windowS * 1000, quietMs: 1000, maxDrainMs: 15_000 };
  const w: Windows = { sn: parseWin(values['sn-win'], { q0: 1, q1: 1, fan: 32 }), tcp: parseWin(values['tcp-win'], { q0: 128, q1: 8, fan: 512 }) };
  const repeat = Math.max(1, Number(values.repeat ?? 1));
  const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : null;
  for (const id of only ?? []) if (!SHAPES.some((s) => s.id === id)) throw new Error(`unknown shape ${id} (known: ${SHAPES.map((s) => s.id).join(', ')})`);
  const shapes = SHAPES.filter((s) => only === null || only.has(s.id));
  const systems = values.systems ? new Set(values.systems.split(',').map((s) => s.trim())) : null;
  for (const id of systems ?? []) if (id !== 'sb' && id !== 'peer') throw new Error(`unknown system ${id} (known: sb, peer)`);
  const mosquittoOk = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' }).error === undefined;
  const paho = pahoBin();
  const rows = ROWS.filter((r) => (systems === null || systems.has(r.sys)) && (r.sys === 'sb' || mosquittoOk) && !(r.sys === 'peer' && r.transport === 'sn' && paho === null));
  const layouts = values.pinned ? [layout(true)] : values.unpinned ? [layout(false)] : [layout(true), layout(false)];
  const nofile = raiseNofile();
  const cmd = ['node', relative(ROOT, HERE), ...process.argv.slice(2)].join(' ');
  say(`Switchboard MQTT-SN bench${quick ? ' (quick)' : ''}: ${layouts.map((l) => (l.pinned ? 'pinned' : 'unpinned')).join(' + ')}; ${repeat} run(s) per figure; RLIMIT_NOFILE ${nofile.soft}; load average ${(loadavg()[0] ?? 0).toFixed(2)}`);
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
  const versions = [`${version('switchboard')}${dirty ? ' with uncommitted changes under src/' : ''}`, mosquittoOk ? version('mosquitto') : 'mosquitto missing (`apt-get install mosquitto`)', paho ? pahoVersion(paho) : 'Paho MQTT-SN gateway not built'];
  const peerNote = paho
    ? `Peer: the Eclipse Paho MQTT-SN gateway (C++, ${relative(ROOT, paho).startsWith('..') ? paho : relative(ROOT, paho)}) in transparent mode in front of Mosquitto, both on loopback, started fresh for every MQTT-SN figure; Mosquitto alone for the MQTT/TCP figures.`
    : 'Peer: the Eclipse Paho MQTT-SN gateway is not built here (see the header of bench/mqttsn.ts), so the MQTT-SN figures stand against Switchboard\'s own MQTT over TCP (and Mosquitto\'s, when installed).';
  const sections = new Map<'pinned' | 'unpinned', string[]>();
  for (const L of layouts) {
    const r = await runLayout(L, { t, w, repeat, shapes, rows });
    const sec = layoutSection(r, cmd, { t, w, repeat, shapes });
    sections.set(L.pinned ? 'pinned' : 'unpinned', sec);
    say('\n' + sec.filter((l) => !l.startsWith('<!--')).join('\n'));
  }
  let out = values.out;
  if (out === undefined) {
    if (quick || only || systems) {
      mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true });
      out = join(ROOT, '.bench-tmp/RESULTS-mqttsn-quick.md');
    } else out = join(ROOT, 'bench/RESULTS-mqttsn.md');
  }
  writeReport(out, header(cmd, versions, w, peerNote), sections);
  say(`written to ${out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
