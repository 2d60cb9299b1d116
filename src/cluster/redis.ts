/**
 * The Redis bus (`cluster.redis`): nodes on one Redis server, Redis Cluster or Sentinel-watched
 * master act as one broker. A transport for cluster/peers.ts, on ioredis:
 *
 * - Each node subscribes to its own channel `<prefix>:n:{<node>}` and to `<prefix>:ctl`, with
 *   sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7): on a Redis Cluster a node's channel lives on
 *   one shard, so a message crosses one shard, not all of them. Everything one node sends another
 *   goes through that one channel from one connection: it arrives in order.
 * - Frames (wire.ts) for a peer are coalesced per event-loop turn into one SPUBLISH:
 *   `u8 1 | str node | f64 incarnation | frames...`. A message is serialised once, whatever the
 *   number of peers; the Redis commands per message fall as the rate rises.
 * - Liveness: every `heartbeatMs` a node SPUBLISHes BEAT on the control channel and refreshes
 *   its score in the `<prefix>:nodes` sorted set (how a starting node finds the others). A node
 *   not heard of for `deadAfterMs` is dead (peers.ts publishes its clients' wills once); a node
 *   that restarts comes back under a new incarnation and is treated as a new peer.
 * - Redis unreachable: the node serves its local clients alone, counts what it could not send,
 *   logs once, and declares nobody dead (it cannot tell). When Redis is back it says HELLO again
 *   and resends its whole state (RESET first) to every peer, which answer in kind.
 */
import { hostname } from 'node:os';
import { describeRedis, redisClient, withTimeout } from '../shared/redis.js';
import type { RedisClient as Client, RedisSettings } from '../shared/redis.js';
import type { Logger } from 'pino';
import type { BusHandler, NodeId } from '../core/bus.js';
import net from 'node:net';
import { encodeSignal, FrameDecoder, Kind } from './wire.js';
import type { PeerFrame } from './wire.js';
import { Link } from './link.js';
import { nodeBefore } from '../core/bus.js';
import { PeerBus } from './peers.js';


export interface RedisBusOptions {
  node?: NodeId | undefined;
  /** Direct links: listen on `host:port` for other nodes (frames go there instead of through Redis). */
  link?: string | undefined;
  /** The `host:port` other nodes dial (default: the link's, or this host's name when it listens on every interface). */
  advertise?: string | undefined;
  redis: RedisSettings;
  heartbeatMs: number;
  deadAfterMs: number;
  logger: Logger;
  /** How long a starting node waits for Redis, the known peers and a retained snapshot (ms). */
  startTimeoutMs?: number;
}

/** What crossed, for $SYS and the benchmarks. */
export interface RedisBusStats {
  /** SPUBLISH commands sent (messages, control and heartbeats). */
  commands: number;
  framesOut: number;
  bytesOut: number;
  framesIn: number;
  /** Frames that could not be sent (Redis unreachable). */
  dropped: number;
  /** Of those, message frames (a publish, a direct message, a $monitor copy... for one node). */
  droppedMessages: number;
  /** Times Redis became unreachable. */
  outages: number;
  /** Redis is reachable now. */
  connected: boolean;
}

/**
 * A direct link to a peer. Frames to it go on the link once `out` (after a SWITCH sent through
 * Redis, the last frame there); frames from it are handled once its SWITCH came through Redis
 * (`in`): those arriving on the link before are `held`, so nothing overtakes what Redis carried.
 */
interface Direct {
  link: Link | null;
  dialing: boolean;
  out: boolean;
  in: boolean;
  held: PeerFrame[];
}

const enum Ctl {
  Hello = 1,
  Beat = 2,
  Bye = 3,
}

/** Largest SPUBLISH payload a batch grows to before another one starts. */
const MAX_BATCH = 60 * 1024;



export type { RedisSettings };

export class RedisBus extends PeerBus {
  readonly counters: RedisBusStats = { commands: 0, framesOut: 0, bytesOut: 0, framesIn: 0, dropped: 0, droppedMessages: 0, outages: 0, connected: false };
  private readonly incarnation = Date.now() + Math.random();
  private readonly header: Buffer;
  private readonly prefix: string;
  private readonly ctlChannel: string;
  private readonly nodesKey: string;
  private cmd: Client | null = null;
  private sub: Client | null = null;
  /** Peers heard of: their incarnation, when (local clock), and the address of their direct link. */
  private readonly known = new Map<NodeId, { inc: number; lastSeen: number; addr: string | null }>();
  /** Frames waiting for this turn's flush, per peer. */
  private pending = new Map<NodeId, Buffer[]>();
  /** Frames that came through Redis (its strings cached across messages). */
  private readonly decoder = new FrameDecoder();
  private flushScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private lastTick = Date.now();
  /** Since when Redis has been reachable without a break (Infinity: it is not). */
  private healthySince = Infinity;
  private waitKnown: { want: Set<NodeId>; done: () => void } | null = null;
  /** Direct links (cluster.link): the server, the address others dial, and per peer the link's state. */
  private server: net.Server | null = null;
  private advertised: string | null = null;
  private readonly direct = new Map<NodeId, Direct>();
  /** The last incarnation heard of each node (the key of its death: see electSurvivor). */
  private readonly incarnations = new Map<NodeId, number>();
  /** Links accepted from nodes not heard of yet through Redis. */
  private readonly waitingLinks = new Map<NodeId, { inc: number; go: () => void; fail: () => void }>();

  constructor(private readonly o: RedisBusOptions) {
    super(o.node ?? `${hostname()}-${process.pid}`, o.logger);
    this.prefix = o.redis.prefix;
    this.ctlChannel = `${this.prefix}:ctl`;
    this.nodesKey = `${this.prefix}:nodes`;
    const id = Buffer.from(this.node);
    this.header = Buffer.allocUnsafe(1 + 2 + id.length + 8);
    this.header[0] = 1;
    this.header.writeUInt16BE(id.length, 1);
    id.copy(this.header, 3);
    this.header.writeDoubleBE(this.incarnation, 3 + id.length);
  }

  stats(): Readonly<Record<string, number>> {
    const s = this.counters;
    return {
      'cluster/peers': this.peers().length,
      'cluster/redis/connected': s.connected ? 1 : 0,
      'cluster/redis/outages': s.outages,
      'cluster/redis/commands': s.commands,
      'cluster/frames/sent': s.framesOut,
      'cluster/frames/received': s.framesIn,
      'cluster/frames/dropped': s.dropped,
      'cluster/messages/dropped': s.droppedMessages,
    };
  }

  private channel(node: NodeId): string {
    // The hash tag puts each node's channel in its own slot: peers' channels spread over shards.
    return `${this.prefix}:n:{${node}}`;
  }

  /** Commands fail fast (a batch is counted lost rather than sent late); the subscriber waits for its connection. */
  private connect(): { cmd: Client; sub: Client } {
    const r = this.o.redis;
    return { cmd: redisClient(r, { failFast: true }), sub: redisClient(r, { failFast: false }) };
  }

  private where(): string {
    return describeRedis(this.o.redis);
  }

  async start(handler: BusHandler): Promise<void> {
    this.handler = handler;
    const limit = this.o.startTimeoutMs ?? 10_000;
    const { cmd, sub } = this.connect();
    this.cmd = cmd;
    this.sub = sub;
    for (const c of [cmd, sub]) c.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'cluster: redis error'));
    sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    for (const c of [cmd, sub]) {
      c.on('close', () => this.lostRedis());
      c.on('ready', () => void this.backToRedis());
    }
    try {
      await withTimeout(Promise.all([cmd.connect(), sub.connect()]), limit, `cannot reach ${this.where()} within ${limit} ms`);
      await withTimeout(Promise.all([sub.ssubscribe(this.channel(this.node)), sub.ssubscribe(this.ctlChannel)]), limit, `cannot subscribe on ${this.where()}`);
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw new Error(`cluster.redis: ${(err as Error).message}`);
    }
    this.healthySince = Date.now();
    this.counters.connected = true;
    if (this.o.link !== undefined) await this.listenLinks(this.o.link);
    // The nodes alive lately: their state is awaited before serving (their HELLO answers).
    const now = Date.now();
    await cmd.zremrangebyscore(this.nodesKey, '-inf', now - 3_600_000);
    const recent = (await cmd.zrangebyscore(this.nodesKey, now - 2 * this.o.deadAfterMs, '+inf')).filter((n) => n !== this.node);
    const known = new Promise<void>((resolve) => {
      this.waitKnown = { want: new Set(recent.filter((n) => !this.known.has(n))), done: resolve };
      this.checkKnown();
    });
    this.beat(Ctl.Hello);
    this.timer = setInterval(() => this.tick(), this.o.heartbeatMs);
    this.timer.unref();
    await withTimeout(known, Math.min(limit, 2 * this.o.deadAfterMs), '').catch(() => {
      this.logger.warn({ missing: [...(this.waitKnown?.want ?? [])] }, 'cluster: some recently seen nodes did not answer; starting without them');
    });
    this.waitKnown = null;
    this.logger.info({ node: this.node, peers: this.peers(), redis: this.where() }, 'cluster: joined');
    await this.takeSnapshot(limit);
  }

  private checkKnown(): void {
    const w = this.waitKnown;
    if (w === null) return;
    for (const n of w.want) if (this.isUp(n)) w.want.delete(n);
    if (w.want.size === 0) w.done();
  }

  /** HELLO / BEAT / BYE on the control channel, and this node's score in the registry. */
  private beat(kind: Ctl): void {
    const cmd = this.cmd;
    if (cmd === null || cmd.status !== 'ready') return;
    const addr = this.advertised === null ? null : Buffer.from(this.advertised);
    const tail = Buffer.allocUnsafe(1 + (addr === null ? 0 : 2 + addr.length));
    tail[0] = kind;
    if (addr !== null) {
      tail.writeUInt16BE(addr.length, 1);
      addr.copy(tail, 3);
    }
    const msg = Buffer.concat([this.header, tail]);
    this.counters.commands++;
    cmd.spublish(this.ctlChannel, msg).catch(() => undefined);
    if (kind === Ctl.Bye) cmd.zrem(this.nodesKey, this.node).catch(() => undefined);
    else cmd.zadd(this.nodesKey, Date.now(), this.node).catch(() => undefined);
  }

  private tick(): void {
    this.beat(Ctl.Beat);
    const now = Date.now();
    // This node's own event loop stalled (a long GC, a busy host): the others' beats wait unread
    // in the socket (timers run before I/O). Judge nobody until they have been read.
    const stalled = now - this.lastTick > 2 * this.o.heartbeatMs;
    this.lastTick = now;
    if (stalled) return;
    // A node cut off from Redis cannot tell who is dead: only judge after being connected a while.
    if (now - this.healthySince < this.o.deadAfterMs) return;
    for (const [node, k] of this.known) {
      if (now - k.lastSeen <= this.o.deadAfterMs) continue;
      this.known.delete(node);
      if (!this.isUp(node)) continue; // it said BYE
      this.logger.warn({ node, silentMs: now - k.lastSeen }, 'cluster: node is gone (not heard of in time)');
      this.peerDown(node, true);
    }
  }

  private lostRedis(): void {
    if (this.healthySince === Infinity || this.stopped) return; // not connected yet, or already known
    this.healthySince = Infinity;
    this.counters.connected = false;
    this.counters.outages++;
    this.logger.error({ redis: this.where() }, 'cluster: Redis is unreachable; serving local clients only until it is back');
  }

  private async backToRedis(): Promise<void> {
    // The first 'ready' is start()'s; later ones follow an outage. Both connections must be back.
    const { cmd, sub } = this;
    if (this.healthySince !== Infinity || this.counters.outages === 0 || this.stopped || this.handler === null) return;
    if (cmd?.status !== 'ready' || sub?.status !== 'ready') return;
    // Subscribed again before anyone is asked to send (ioredis resubscribes too: this waits for it).
    try {
      await Promise.all([sub.ssubscribe(this.channel(this.node)), sub.ssubscribe(this.ctlChannel)]);
    } catch {
      return; // gone again: the next 'ready' retries
    }
    if (this.healthySince !== Infinity || this.stopped || this.handler === null) return;
    const now = Date.now();
    this.healthySince = now;
    this.counters.connected = true;
    this.logger.warn({ redis: this.where(), droppedFrames: this.counters.dropped, droppedMessages: this.counters.droppedMessages }, 'cluster: Redis is reachable again; resynchronising with the other nodes');
    for (const k of this.known.values()) k.lastSeen = now;
    // Peers may have missed changes: everything again, and HELLO so that they do the same.
    for (const node of this.known.keys()) this.sendState(node);
    this.beat(Ctl.Hello);
  }

  // ---- frames out ------------------------------------------------------------------------------

  protected linkTo(node: NodeId): Link | null {
    const d = this.direct.get(node);
    if (d === undefined || !d.out || d.link === null || !this.known.has(node)) return null;
    this.counters.framesOut++;
    return d.link;
  }

  protected write(node: NodeId, buf: Buffer): boolean {
    if (!this.known.has(node)) return false;
    const d = this.direct.get(node);
    if (d !== undefined && d.out && d.link !== null) {
      d.link.conn.write(buf);
      this.counters.framesOut++;
      return true;
    }
    return this.viaRedis(node, buf);
  }

  private viaRedis(node: NodeId, buf: Buffer): boolean {
    let q = this.pending.get(node);
    if (q === undefined) this.pending.set(node, (q = []));
    q.push(buf);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    const cmd = this.cmd;
    for (const [node, frames] of pending) {
      if (cmd === null || cmd.status !== 'ready') {
        this.lost(frames);
        continue;
      }
      let batch: Buffer[] = [this.header];
      let bytes = this.header.length;
      const send = (): void => {
        const payload = Buffer.concat(batch, bytes);
        this.counters.commands++;
        this.counters.bytesOut += bytes;
        const sent = batch.slice(1);
        this.counters.framesOut += sent.length;
        cmd.spublish(this.channel(node), payload).catch(() => this.lost(sent));
      };
      for (const f of frames) {
        if (bytes + f.length > MAX_BATCH && batch.length > 1) {
          send();
          batch = [this.header];
          bytes = this.header.length;
        }
        batch.push(f);
        bytes += f.length;
      }
      send();
    }
  }

  /** Frames that never left (Redis unreachable): counted, messages apart. */
  private lost(frames: readonly Buffer[]): void {
    this.counters.dropped += frames.length;
    for (const f of frames) if (f[4] === Kind.Message) this.counters.droppedMessages++;
  }

  // ---- frames in -------------------------------------------------------------------------------

  private receive(channel: Buffer, message: Buffer): void {
    if (this.handler === null || message.length < 12 || message[0] !== 1) return;
    const n = message.readUInt16BE(1);
    const node = message.toString('utf8', 3, 3 + n);
    if (node === this.node) return;
    const inc = message.readDoubleBE(3 + n);
    const at = 3 + n + 8;
    const isCtl = channel.length === this.ctlChannel.length && channel.toString() === this.ctlChannel;
    if (isCtl) {
      const kind = message[at];
      if (kind === Ctl.Bye) {
        if (this.known.get(node)?.inc === inc) {
          this.known.delete(node);
          this.peerDown(node, false);
          this.logger.info({ node }, 'cluster: node left');
        }
        return;
      }
      const addr = message.length > at + 3 ? message.toString('utf8', at + 3, at + 3 + message.readUInt16BE(at + 1)) : null;
      const fresh = this.heard(node, inc, addr);
      // A HELLO from a node we knew: it lost track (Redis outage): tell it everything again.
      if (kind === Ctl.Hello && !fresh) this.sendState(node);
      return;
    }
    this.heard(node, inc, undefined);
    try {
      this.decoder.frames(message, at, (f) => {
        this.counters.framesIn++;
        if (f.kind === Kind.Switch) this.switchedIn(node);
        else this.frame(f, node);
      });
    } catch (err) {
      this.logger.error({ node, err: (err as Error).message }, 'cluster: bad message from a node; ignored');
    }
  }

  /** Anything from `node`: alive. A node not known yet (or restarted) comes up. Returns whether it is new. */
  private heard(node: NodeId, inc: number, addr: string | null | undefined): boolean {
    const k = this.known.get(node);
    if (k !== undefined && k.inc === inc) {
      k.lastSeen = Date.now();
      if (addr !== undefined && addr !== k.addr) {
        k.addr = addr;
        this.dial(node);
      }
      return false;
    }
    if (k !== undefined) {
      // Restarted under the same id: the old one died.
      this.known.delete(node);
      this.peerDown(node, true);
    }
    this.known.set(node, { inc, lastSeen: Date.now(), addr: addr ?? null });
    this.incarnations.set(node, inc);
    this.peerUp(node);
    this.checkKnown();
    const w = this.waitingLinks.get(node);
    if (w !== undefined) {
      if (w.inc === inc) w.go();
      else w.fail();
    }
    this.dial(node);
    return true;
  }

  // ---- direct links (cluster.link) ---------------------------------------------------------------

  private async listenLinks(at: string): Promise<void> {
    const i = at.lastIndexOf(':');
    const host = at.slice(0, i);
    const server = net.createServer((s) => this.accepted(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(at.slice(i + 1)), host, () => resolve());
    });
    this.server = server;
    const port = (server.address() as net.AddressInfo).port;
    const adv = this.o.advertise ?? `${host === '0.0.0.0' || host === '::' ? hostname() : host}:${port}`;
    this.advertised = adv.endsWith(':0') ? `${adv.slice(0, -2)}:${port}` : adv;
    this.logger.info({ link: this.advertised }, 'cluster: direct links');
  }

  private directOf(node: NodeId): Direct {
    let d = this.direct.get(node);
    if (d === undefined) this.direct.set(node, (d = { link: null, dialing: false, out: false, in: false, held: [] }));
    return d;
  }

  /** One link per pair: the node first in order dials. */
  private dial(node: NodeId): void {
    const k = this.known.get(node);
    if (this.server === null || this.stopped || k === undefined || k.addr === null || !nodeBefore(this.node, node)) return;
    const d = this.directOf(node);
    if (d.link !== null || d.dialing) return;
    d.dialing = true;
    const i = k.addr.lastIndexOf(':');
    const s = net.connect(Number(k.addr.slice(i + 1)), k.addr.slice(0, i));
    s.once('connect', () => {
      d.dialing = false;
      s.write(this.header); // who this is: node and incarnation
      this.attach(node, s);
    });
    s.once('error', (err) => {
      d.dialing = false;
      this.logger.debug({ node, err: err.message }, 'cluster: direct link failed; messages go through Redis');
    });
  }

  private accepted(s: net.Socket): void {
    // The dialler says who it is first (the header of its Redis messages): a node heard of through
    // Redis, under that incarnation. One not heard of yet (its first frames are still on their way)
    // waits a little.
    s.once('data', (first: Buffer) => {
      if (first.length < 12 || first[0] !== 1) return void s.destroy();
      const n = first.readUInt16BE(1);
      const node = first.toString('utf8', 3, 3 + n);
      if (first.length < 3 + n + 8) return void s.destroy();
      const inc = first.readDoubleBE(3 + n);
      const rest = first.subarray(3 + n + 8);
      const go = (): void => {
        this.attach(node, s);
        if (rest.length > 0) s.emit('data', rest);
      };
      const k = this.known.get(node);
      if (k?.inc === inc) return go();
      if (k !== undefined) return void s.destroy(); // another incarnation
      this.waitingLinks.get(node)?.fail();
      const timer = setTimeout(() => this.waitingLinks.get(node)?.fail(), this.o.deadAfterMs);
      this.waitingLinks.set(node, {
        inc,
        go: () => {
          clearTimeout(timer);
          this.waitingLinks.delete(node);
          go();
        },
        fail: () => {
          clearTimeout(timer);
          this.waitingLinks.delete(node);
          s.destroy();
        },
      });
    });
  }

  private attach(node: NodeId, s: net.Socket): void {
    const d = this.directOf(node);
    if (d.link !== null || this.stopped) return void s.destroy();
    d.link = new Link(node, s, 'tcp', (f, from) => this.fromLink(f, from), (gone) => this.linkGone(gone), this.logger);
    // The last frame through Redis; what follows goes on the link, in order after it.
    this.viaRedis(node, encodeSignal(Kind.Switch));
    d.out = true;
    this.logger.info({ node }, 'cluster: direct link up');
  }

  private fromLink(f: PeerFrame, link: Link): void {
    const d = this.direct.get(link.peer);
    if (d === undefined || d.link !== link) return;
    this.counters.framesIn++;
    if (!d.in) d.held.push(f);
    else this.frame(f, link.peer);
  }

  /** The peer's SWITCH came through Redis: its link frames are next. */
  private switchedIn(node: NodeId): void {
    const d = this.directOf(node);
    d.in = true;
    const held = d.held;
    d.held = [];
    for (const f of held) this.frame(f, node);
  }

  private linkGone(link: Link): void {
    const node = link.peer;
    const d = this.direct.get(node);
    if (d === undefined || d.link !== link) return;
    d.link = null;
    d.out = d.in = false;
    d.held = [];
    if (this.stopped || !this.known.has(node)) return;
    // Frames on the link may be lost: everything again through Redis, and a new link later.
    this.logger.warn({ node }, 'cluster: direct link lost; messages go through Redis');
    this.sendState(node);
    setTimeout(() => this.dial(node), 1000).unref();
  }

  /**
   * Exactly one survivor takes a dead node's clients in, even when the survivors' views of who
   * is alive differ for a moment: the first to set a key for that death in Redis (SET NX).
   */
  protected override electSurvivor(dead: NodeId, act: () => void): void {
    const cmd = this.cmd;
    if (cmd === null || cmd.status !== 'ready') return; // Redis away: nobody is declared dead then
    cmd.set(`${this.prefix}:dead:{${dead}}:${this.incarnations.get(dead) ?? 0}`, this.node, 'PX', 600_000, 'NX').then(
      (won) => {
        if (won === 'OK') act();
      },
      () => undefined,
    );
  }

  protected override peerGone(node: NodeId): void {
    const d = this.direct.get(node);
    this.direct.delete(node);
    d?.link?.conn.destroy();
  }

  async stop(): Promise<void> {
    if (this.handler !== null) {
      this.sayBye();
      this.flush();
      this.beat(Ctl.Bye);
    }
    this.stopped = true;
    this.handler = null;
    this.endConfirmations();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const d of this.direct.values()) d.link?.conn.end(); // BYE flushed first
    this.direct.clear();
    for (const w of [...this.waitingLinks.values()]) w.fail();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    const cmd = this.cmd;
    const sub = this.sub;
    this.cmd = this.sub = null;
    await Promise.all([cmd?.quit().catch(() => cmd.disconnect()), sub?.quit().catch(() => sub.disconnect())]);
  }
}
