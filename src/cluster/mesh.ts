/**
 * The worker side of cluster mode, the first implementation of the bus (core/bus.ts): a full
 * mesh of Unix-socket links between the workers of one primary. Worker i listens on
 * DIR/w<i>.sock and dials every worker with a lower index, so each pair has one link; a dialler
 * redials a peer that went away (a restarted worker). A worker's node id is its index.
 *
 * What crosses a link (frames in wire.ts), in order:
 * - on link-up, each side's interest (every announced filter), its claims (the clients it holds,
 *   online or parked), then what its core sends a new node (presence states, member counts);
 * - interest changes: a filter is announced when its first local subscriber arrives and withdrawn
 *   after the last one leaves. Ordinary filters are kept per peer as a bitmask per exact filter
 *   plus a trie of wildcard filters; `$share/<group>/<filter>` members in a trie of groups;
 * - messages: fan-out copies (encoded once, written to each peer with matching interest; retained
 *   ones to every peer), and messages for one peer with a route (inbox, shared, presence, ...);
 * - claims and releases of client ids (kept per peer, so a stale release never hides another
 *   worker's claim);
 * - retained sync: a starting worker asks its lowest-indexed peer for a snapshot (SYNC), which
 *   answers with every retained message and SYNCED; `start` resolves then.
 * Writes are coalesced per link per event-loop turn (a link is a transports/ SocketConnection).
 * A link that goes away takes the peer's interest and claims with it (the core hears nodeDown).
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Message } from '../core/message.js';
import type { Bus, BusHandler, Claim, NodeId, Owner, RemoteGroup, Route } from '../core/bus.js';
import { TopicTrie } from '../core/topic-trie.js';
import type { MatchResult, Subscriber } from '../core/topic-trie.js';
import { encodeClaim, encodeInterest, encodeMessage, encodeRelease, encodeSignal, FrameReader, Kind } from './wire.js';
import type { PeerFrame } from './wire.js';
import type { ConnectionHandler } from '../transports/connection.js';
import { SocketConnection } from '../transports/tcp.js';

export interface MeshOptions {
  index: number;
  workers: number;
  dir: string;
  logger: Logger;
  /** How long a starting worker waits for its retained snapshot (ms). */
  syncTimeoutMs?: number;
}

/** A peer as the subscriber of its wildcard filters and group memberships; `bit` = 1 << its index. */
interface PeerSubscriber extends Subscriber {
  readonly bit: number;
  readonly node: NodeId;
}

const NO_GROUPS: readonly RemoteGroup[] = Object.freeze([]);
const RETAINED: Route = Object.freeze({ kind: 'retained' });

/**
 * Which peers subscribe to what, for one application. Values are bitmasks of worker indexes
 * (hence at most 32 workers). Exact filters, the bulk of a device fleet's (devices/<id>/cmd), are
 * one Map entry each however many peers hold them; only wildcard filters go into a trie (whose
 * match cache makes the per-publish lookup one Map.get).
 */
class RemoteInterest {
  private readonly exact = new Map<string, number>();
  private readonly wild = new TopicTrie<PeerSubscriber>(10_000);
  private readonly shared = new TopicTrie<PeerSubscriber>(10_000);
  private sharedCount = 0;
  /** Shared-trie match results (cached by the trie until it changes) as RemoteGroups. */
  private readonly groupViews = new WeakMap<MatchResult<PeerSubscriber>, readonly RemoteGroup[]>();

  constructor(private readonly peers: PeerSubscriber[]) {}

  set(peer: number, filter: string, add: boolean): void {
    const p = (this.peers[peer] ??= { clientId: `(worker ${peer})`, bit: 1 << peer, node: String(peer) });
    if (filter.startsWith('$share/')) {
      const slash = filter.indexOf('/', 7);
      if (slash < 0) return;
      const group = filter.slice(7, slash);
      const f = filter.slice(slash + 1);
      if (add) {
        if (this.shared.add(sub(p, f, group)) === undefined) this.sharedCount++;
      } else if (this.shared.remove(p, f, group) !== undefined) this.sharedCount--;
      return;
    }
    if (filter.includes('+') || filter.includes('#')) {
      if (add) this.wild.add(sub(p, filter, null));
      else this.wild.remove(p, filter, null);
      return;
    }
    const bit = 1 << peer;
    const mask = add ? (this.exact.get(filter) ?? 0) | bit : (this.exact.get(filter) ?? 0) & ~bit;
    if (mask === 0) this.exact.delete(filter);
    else this.exact.set(filter, mask);
  }

  /** Forget a peer whose link went away (it announces everything again when it is back). */
  drop(peer: number): void {
    const bit = 1 << peer;
    for (const [f, mask] of this.exact) {
      if ((mask & bit) === 0) continue;
      if (mask === bit) this.exact.delete(f);
      else this.exact.set(f, mask & ~bit);
    }
    const p = this.peers[peer];
    if (!p) return;
    for (const s of [...this.wild.all()]) if (s.subscriber === p) this.wild.remove(p, s.filter, null);
    for (const s of [...this.shared.all()]) if (s.subscriber === p && this.shared.remove(p, s.filter, s.group) !== undefined) this.sharedCount--;
  }

  /** Bitmask of the peers with an ordinary filter matching `topic`. */
  peersFor(topic: string): number {
    let mask = this.exact.get(topic) ?? 0;
    const t = this.wild.match(topic).targets;
    for (let i = 0; i < t.length; i++) mask |= t[i]!.subscriber.bit;
    return mask;
  }

  groups(topic: string): readonly RemoteGroup[] {
    if (this.sharedCount === 0) return NO_GROUPS;
    const m = this.shared.match(topic);
    if (m.groups.length === 0) return NO_GROUPS;
    let view = this.groupViews.get(m);
    if (view === undefined) {
      view = m.groups.filter((g) => g.members.length > 0).map((g) => ({ filter: g.filter, group: g.name, nodes: g.members.map((s) => s.subscriber.node) }));
      this.groupViews.set(m, view);
    }
    return view;
  }
}

function sub(p: PeerSubscriber, filter: string, group: string | null) {
  return { subscriber: p, raw: filter, filter, group, qos: 0 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };
}

/** One peer: frames in, and out through the transports' coalesced writes (one flush per turn). */
class Link implements ConnectionHandler {
  private readonly reader = new FrameReader();
  readonly conn: SocketConnection;

  constructor(
    readonly peer: number,
    socket: net.Socket,
    private readonly onFrame: (f: PeerFrame, from: Link) => void,
    private readonly onGone: (from: Link) => void,
  ) {
    this.conn = new SocketConnection(socket, 'unix', 'cluster');
    this.conn.setHandler(this);
  }

  onData(chunk: Buffer): void {
    this.reader.push(chunk, (f) => this.onFrame(f, this));
  }

  onClose(): void {
    this.onGone(this);
  }
}

/** The best claim: an online one first, else the most recent. */
function best(list: readonly Owner[]): Owner | undefined {
  let b: Owner | undefined;
  for (const o of list) if (b === undefined || (o.online && !b.online) || (o.online === b.online && o.since > b.since)) b = o;
  return b;
}

export class ClusterMesh implements Bus {
  readonly node: NodeId;
  private readonly links = new Map<number, Link>();
  private server: net.Server | null = null;
  private stopped = false;
  private handler: BusHandler | null = null;
  private readyWaiters: Array<() => void> = [];
  /** Filters announced by this worker, per application (told to every new link). */
  private readonly local = new Map<string, Set<string>>();
  /** What the peers subscribe to, per application. */
  private readonly remote = new Map<string, RemoteInterest>();
  private readonly peerSubs: PeerSubscriber[] = [];
  /** Claims of other workers: application -> client id -> one claim per worker. */
  private readonly claims = new Map<string, Map<string, Owner[]>>();
  /** The retained snapshot being received: from which peer, and what to call when it is done. */
  private sync: { peer: number; done: () => void } | null = null;

  constructor(private readonly o: MeshOptions) {
    this.node = String(o.index);
  }

  static socketPath(dir: string, index: number): string {
    return join(dir, `w${index}.sock`);
  }

  /** Listen, dial the lower workers, wait until linked to every other worker, then take the retained snapshot. */
  async start(handler: BusHandler): Promise<void> {
    this.handler = handler;
    const server = net.createServer((s) => {
      // The dialler introduces itself with one byte: its index.
      s.once('data', (first: Buffer) => {
        const peer = first[0]!;
        this.add(peer, s);
        if (first.length > 1) s.emit('data', first.subarray(1));
      });
    });
    this.server = server;
    const path = ClusterMesh.socketPath(this.o.dir, this.o.index);
    rmSync(path, { force: true }); // left by the worker this one replaces
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: this worker's own socket. Without it node:cluster has the primary listen and
      // hand connections over, and a peer redialling a killed worker reaches the primary instead.
      server.listen({ path, exclusive: true }, () => resolve());
    });
    this.o.logger.debug({ path }, 'cluster: listening for workers');
    for (let j = 0; j < this.o.index; j++) this.dial(j);
    await new Promise<void>((resolve) => {
      this.readyWaiters.push(resolve);
      this.checkReady();
    });
    this.o.logger.debug({ peers: this.links.size }, 'cluster: linked; taking the retained snapshot');
    await this.takeSnapshot();
  }

  /** Ask the lowest-indexed peer for its retained messages; another one if that link goes away. */
  private takeSnapshot(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.o.logger.warn('cluster: no retained snapshot from a peer in time; starting without it');
        finish();
      }, this.o.syncTimeoutMs ?? 10_000);
      const finish = (): void => {
        clearTimeout(timer);
        this.sync = null;
        resolve();
      };
      const ask = (): void => {
        const peer = Math.min(...this.links.keys());
        const link = this.links.get(peer);
        if (link === undefined) return finish(); // alone
        this.sync = { peer, done: finish };
        link.conn.write(encodeSignal(Kind.Sync));
      };
      this.retrySync = ask;
      ask();
    });
  }

  /** Set while a snapshot is awaited: asks another peer (its peer's link went away). */
  private retrySync: (() => void) | null = null;

  private dial(peer: number, attempt = 0): void {
    if (this.stopped) return;
    const s = net.connect(ClusterMesh.socketPath(this.o.dir, peer));
    s.once('connect', () => {
      s.write(Buffer.from([this.o.index]));
      this.add(peer, s);
    });
    s.once('error', (err) => {
      if (attempt % 10 === 0) this.o.logger.debug({ peer, attempt, err: err.message }, 'cluster: dial failed; retrying');
      if (!this.links.has(peer)) setTimeout(() => this.dial(peer, attempt + 1), Math.min(1000, 20 * (attempt + 1))).unref();
    });
  }

  private add(peer: number, s: net.Socket): void {
    const old = this.links.get(peer);
    if (old !== undefined) {
      // The peer restarted before its old link was seen closing: forget the old one first.
      this.forget(peer);
      old.conn.destroy();
    }
    this.o.logger.debug({ peer }, 'cluster: link up');
    const link = new Link(peer, s, (f, from) => this.receive(f, from), (gone) => this.lost(gone));
    this.links.set(peer, link);
    for (const [app, filters] of this.local) for (const f of filters) link.conn.write(encodeInterest(true, app, f));
    const h = this.handler;
    if (h !== null) {
      for (const { app, claim } of h.claims()) link.conn.write(encodeClaim(app, claim));
      h.nodeUp(String(peer));
    }
    this.checkReady();
  }

  /** Drop what a peer told us (its link is gone). */
  private forget(peer: number): void {
    this.links.delete(peer);
    for (const r of this.remote.values()) r.drop(peer);
    const node = String(peer);
    for (const m of this.claims.values()) {
      for (const [id, list] of m) {
        const rest = list.filter((x) => x.node !== node);
        if (rest.length === 0) m.delete(id);
        else if (rest.length !== list.length) m.set(id, rest);
      }
    }
    this.handler?.nodeDown(node);
  }

  private lost(link: Link): void {
    const peer = link.peer;
    if (this.links.get(peer) !== link) return; // replaced already
    this.forget(peer);
    if (this.sync?.peer === peer) this.retrySync?.();
    if (this.stopped) return;
    this.o.logger.warn({ peer }, 'cluster: link to worker lost');
    if (peer < this.o.index) this.dial(peer);
  }

  private checkReady(): void {
    if (this.links.size < this.o.workers - 1) return;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const r of w) r();
  }

  private remoteOf(app: string): RemoteInterest {
    let r = this.remote.get(app);
    if (r === undefined) this.remote.set(app, (r = new RemoteInterest(this.peerSubs)));
    return r;
  }

  private writeAll(buf: Buffer): void {
    for (const l of this.links.values()) l.conn.write(buf);
  }

  // ---- Bus ----------------------------------------------------------------------------------

  peers(): readonly NodeId[] {
    return [...this.links.keys()].map(String);
  }

  subscribe(app: string, filter: string): void {
    let set = this.local.get(app);
    if (set === undefined) this.local.set(app, (set = new Set()));
    set.add(filter);
    this.writeAll(encodeInterest(true, app, filter));
  }

  unsubscribe(app: string, filter: string): void {
    if (this.local.get(app)?.delete(filter) !== true) return;
    this.writeAll(encodeInterest(false, app, filter));
  }

  interested(app: string, topic: string): boolean {
    const r = this.remote.get(app);
    return r !== undefined && (r.peersFor(topic) !== 0 || r.groups(topic).length > 0);
  }

  groups(app: string, topic: string): readonly RemoteGroup[] {
    return this.remote.get(app)?.groups(topic) ?? NO_GROUPS;
  }

  publish(app: string, msg: Message, route?: Route): number {
    const r = this.remote.get(app);
    const interest = r === undefined ? 0 : r.peersFor(msg.topic);
    // Retained messages are kept by every worker: they go everywhere (fan-out copies only).
    const mask = msg.retain && (route === undefined || route.kind === 'fanout') ? -1 : interest;
    if (mask === 0) return 0;
    let buf: Buffer | null = null;
    let n = 0;
    for (const l of this.links.values()) {
      const bit = 1 << l.peer;
      if ((mask & bit) === 0) continue;
      l.conn.write((buf ??= encodeMessage(app, msg, route)));
      if ((interest & bit) !== 0) n++;
    }
    return n;
  }

  send(node: NodeId, app: string, msg: Message, route: Route): boolean {
    const link = this.links.get(Number(node));
    if (link === undefined) return false;
    link.conn.write(encodeMessage(app, msg, route));
    return true;
  }

  broadcast(app: string, msg: Message, route: Route): void {
    if (this.links.size > 0) this.writeAll(encodeMessage(app, msg, route));
  }

  claim(app: string, claim: Claim): void {
    if (this.links.size > 0) this.writeAll(encodeClaim(app, claim));
  }

  release(app: string, clientId: string): void {
    if (this.links.size > 0) this.writeAll(encodeRelease(app, clientId));
  }

  owner(app: string, clientId: string): Owner | undefined {
    const list = this.claims.get(app)?.get(clientId);
    return list === undefined ? undefined : best(list);
  }

  *owners(app: string): Iterable<Owner> {
    const m = this.claims.get(app);
    if (m === undefined) return;
    for (const list of m.values()) {
      const b = best(list);
      if (b !== undefined) yield b;
    }
  }

  // ---- frames in ----------------------------------------------------------------------------

  private receive(f: PeerFrame, from: Link): void {
    const h = this.handler;
    if (h === null) return;
    const node = String(from.peer);
    switch (f.kind) {
      case Kind.Message:
        // A snapshot entry counts only while this worker waits for that peer's snapshot.
        if (f.route.kind === 'retained' && this.sync?.peer !== from.peer) return;
        h.message(f.app, f.msg, f.route, node);
        return;
      case Kind.Interest:
        this.remoteOf(f.app).set(from.peer, f.filter, f.add);
        h.interest(f.app, f.filter, node, f.add);
        return;
      case Kind.Claim: {
        const owner: Owner = { ...f.claim, node };
        let m = this.claims.get(f.app);
        if (m === undefined) this.claims.set(f.app, (m = new Map()));
        const list = m.get(owner.clientId);
        if (list === undefined) m.set(owner.clientId, [owner]);
        else {
          const i = list.findIndex((x) => x.node === node);
          if (i >= 0) list[i] = owner;
          else list.push(owner);
        }
        h.claimed(f.app, owner);
        return;
      }
      case Kind.Release: {
        const m = this.claims.get(f.app);
        const list = m?.get(f.clientId);
        if (m === undefined || list === undefined) return;
        const rest = list.filter((x) => x.node !== node);
        if (rest.length === 0) m.delete(f.clientId);
        else m.set(f.clientId, rest);
        return;
      }
      case Kind.Sync:
        for (const { app, msg } of h.retained()) from.conn.write(encodeMessage(app, msg, RETAINED));
        from.conn.write(encodeSignal(Kind.Synced));
        return;
      case Kind.Synced:
        if (this.sync?.peer === from.peer) this.sync.done();
        return;
    }
  }

  /** The cluster is shutting down: peers going away are expected (no redial, no warning). */
  quiesce(): void {
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.handler = null;
    for (const l of this.links.values()) l.conn.destroy();
    this.links.clear();
    const server = this.server;
    this.server = null;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
