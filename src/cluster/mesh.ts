/**
 * The worker side of cluster mode: a full mesh of Unix-socket links between the workers of one
 * primary. Worker i listens on DIR/w<i>.sock and dials every worker with a lower index, so each
 * pair has one link; a dialler redials a peer that went away (a restarted worker).
 *
 * What crosses the mesh:
 * - interest: a worker announces a topic filter when its first local subscriber arrives and
 *   withdraws it after the last one leaves (a new link starts with the full list);
 * - publishes made on this worker (client PUBLISH/SEND, wills, HTTP publishes, system events),
 *   encoded once and written to each peer that has a matching filter; retained messages and
 *   `$` topics go to every peer (retained copies are kept everywhere, system topics are routed
 *   by each worker's own intercepts). Peers route what they receive to their own sessions and
 *   never forward it again;
 * - "client X is online here (profile, since)" and "client X's connection here is gone": every
 *   worker keeps who holds which client id elsewhere, so CONNECT applies the profile and
 *   duplicate-login rules cluster-wide (core/application.ts admit). Two CONNECTs racing on two
 *   workers are settled the same way on both sides when the announcements cross: a different
 *   profile or a `reject` policy keeps the older connection, `takeover` keeps the newer one;
 *   the loser is closed (0x87 / 0x8E).
 * Writes are coalesced per link per event-loop turn (a link is a transports/ SocketConnection).
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Application } from '../core/application.js';
import type { Message } from '../core/message.js';
import type { Session } from '../core/session.js';
import { TopicTrie } from '../core/topic-trie.js';
import type { Subscriber, Subscription } from '../core/topic-trie.js';
import { encodeInterest, encodeOffline, encodeOnline, encodePublish, FrameReader, Kind } from './wire.js';
import type { Profile } from '../core/permissions.js';
import type { PeerFrame } from './wire.js';
import type { ConnectionHandler } from '../transports/connection.js';
import { SocketConnection } from '../transports/tcp.js';

export interface MeshOptions {
  index: number;
  workers: number;
  dir: string;
  apps: ReadonlyMap<string, Application>;
  logger: Logger;
}

/** A client online on another worker. */
interface Holder {
  worker: number;
  profile: Profile;
  /** When it connected there (ms): the older of two clashing connections is the earlier one. */
  since: number;
}

/** A peer as the subscriber of its wildcard filters; `bit` = 1 << its worker index. */
interface PeerSubscriber extends Subscriber {
  readonly bit: number;
}

/**
 * Which peers subscribe to what, for one application, shared by all links. Values are bitmasks
 * of worker indexes (hence at most 32 workers). Exact filters, the bulk of a device fleet's
 * (devices/<id>/cmd), are one Map entry each however many peers hold them; only wildcard
 * filters go into a trie (whose match cache makes the per-publish lookup one Map.get).
 */
class RemoteInterest {
  private readonly exact = new Map<string, number>();
  private readonly wild = new TopicTrie<PeerSubscriber>(10_000);
  private readonly peers: PeerSubscriber[] = [];

  set(peer: number, filter: string, add: boolean): void {
    if (filter.includes('+') || filter.includes('#')) {
      const p = (this.peers[peer] ??= { clientId: `(worker ${peer})`, bit: 1 << peer });
      if (add) this.wild.add({ subscriber: p, raw: filter, filter, group: null, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
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
    if (p) for (const sub of [...this.wild.all()]) if (sub.subscriber === p) this.wild.remove(p, sub.filter, null);
  }

  /** Bitmask of the peers with a filter matching `topic`. */
  peersFor(topic: string): number {
    let mask = this.exact.get(topic) ?? 0;
    const t = this.wild.match(topic).targets;
    for (let i = 0; i < t.length; i++) mask |= t[i]!.subscriber.bit;
    return mask;
  }
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

export class ClusterMesh {
  private readonly links = new Map<number, Link>();
  private server: net.Server | null = null;
  private stopped = false;
  private readyWaiters: Array<() => void> = [];
  /** Local subscriptions per application and filter (what peers are told). */
  private readonly local = new Map<string, Map<string, number>>();
  /** What the peers subscribe to, per application. */
  private readonly remote = new Map<string, RemoteInterest>();
  /** Clients online on other workers, per application. */
  private readonly holders = new Map<string, Map<string, Holder>>();

  constructor(private readonly o: MeshOptions) {}

  static socketPath(dir: string, index: number): string {
    return join(dir, `w${index}.sock`);
  }

  /** Listen, dial the lower workers, and resolve once linked to every other worker. */
  async start(): Promise<void> {
    for (const [name, app] of this.o.apps) {
      const local = new Map<string, number>();
      this.local.set(name, local);
      this.remote.set(name, new RemoteInterest());
      const holders = new Map<string, Holder>();
      this.holders.set(name, holders);
      app.router.forward = (msg, intercept) => this.forward(name, msg, intercept);
      app.router.remoteHolder = (clientId) => holders.get(clientId);
      app.router.events.on('online', (s: Session) => this.broadcast(encodeOnline(name, s.clientId, s.profile, s.connectedAt)));
      app.router.events.on('offline', (s: Session) => this.broadcast(encodeOffline(name, s.clientId)));
      app.router.events.on('subscribe', (_s: Session, sub: Subscription<Session>, replaced: boolean) => {
        if (replaced) return;
        const n = local.get(sub.filter) ?? 0;
        local.set(sub.filter, n + 1);
        if (n === 0) this.broadcast(encodeInterest(true, name, sub.filter));
      });
      app.router.events.on('unsubscribe', (_s: Session, sub: Subscription<Session>) => {
        const n = local.get(sub.filter) ?? 0;
        if (n > 1) local.set(sub.filter, n - 1);
        else if (n === 1) {
          local.delete(sub.filter);
          this.broadcast(encodeInterest(false, name, sub.filter));
        }
      });
    }
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
      server.listen(path, () => resolve());
    });
    for (let j = 0; j < this.o.index; j++) this.dial(j);
    await new Promise<void>((resolve) => {
      this.readyWaiters.push(resolve);
      this.checkReady();
    });
  }

  private dial(peer: number, attempt = 0): void {
    if (this.stopped) return;
    const s = net.connect(ClusterMesh.socketPath(this.o.dir, peer));
    s.once('connect', () => {
      s.write(Buffer.from([this.o.index]));
      this.add(peer, s);
    });
    s.once('error', () => {
      if (!this.links.has(peer)) setTimeout(() => this.dial(peer, attempt + 1), Math.min(1000, 20 * (attempt + 1))).unref();
    });
  }

  private add(peer: number, s: net.Socket): void {
    const link = new Link(peer, s, (f, from) => this.receive(f, from), (gone) => this.lost(gone));
    this.links.set(peer, link);
    for (const [app, filters] of this.local) for (const f of filters.keys()) link.conn.write(encodeInterest(true, app, f));
    for (const [name, app] of this.o.apps) {
      for (const s of app.router.sessions.values()) if (s.link !== null && s.identity !== null) link.conn.write(encodeOnline(name, s.clientId, s.profile, s.connectedAt));
    }
    this.checkReady();
  }

  private lost(link: Link): void {
    const peer = link.peer;
    if (this.links.get(peer) === link) {
      this.links.delete(peer);
      for (const r of this.remote.values()) r.drop(peer);
      for (const h of this.holders.values()) for (const [id, x] of h) if (x.worker === peer) h.delete(id);
    }
    if (!this.stopped) this.o.logger.warn({ peer }, 'cluster: link to worker lost');
    if (peer < this.o.index) this.dial(peer);
  }

  private checkReady(): void {
    if (this.links.size < this.o.workers - 1) return;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const r of w) r();
  }

  private broadcast(buf: Buffer): void {
    for (const l of this.links.values()) l.conn.write(buf);
  }

  private forward(app: string, msg: Message, intercept: boolean): void {
    const everywhere = msg.retain || msg.topic.charCodeAt(0) === 0x24;
    const mask = everywhere ? -1 : (this.remote.get(app)?.peersFor(msg.topic) ?? 0);
    if (mask === 0) return;
    let buf: Buffer | null = null;
    for (const l of this.links.values()) {
      if ((mask & (1 << l.peer)) !== 0) l.conn.write((buf ??= encodePublish(app, msg, intercept)));
    }
  }

  private receive(f: PeerFrame, from: Link): void {
    if (f.kind === Kind.Interest) {
      this.remote.get(f.app)?.set(from.peer, f.filter, f.add);
      return;
    }
    const app = this.o.apps.get(f.app);
    if (!app) return; // configured on another worker only (reload in progress)
    if (f.kind === Kind.Publish) app.router.publish(f.msg, f.intercept, true);
    else if (f.kind === Kind.Online) this.online(f.app, app, f.clientId, { worker: from.peer, profile: f.profile, since: f.since });
    else {
      const h = this.holders.get(f.app);
      if (h?.get(f.clientId)?.worker === from.peer) h.delete(f.clientId);
    }
  }

  /** A peer holds `clientId` now: remember it, and settle a clash with a local connection. */
  private online(name: string, app: Application, clientId: string, remote: Holder): void {
    this.holders.get(name)?.set(clientId, remote);
    const local = app.router.sessions.get(clientId);
    if (local === undefined) return;
    if (local.link === null || local.identity === null) {
      app.router.evict(clientId, 'takeover'); // a parked session here: the client lives there now
      return;
    }
    const remoteIsNewer = remote.since > local.connectedAt || (remote.since === local.connectedAt && remote.worker > this.o.index);
    const keepOlder = remote.profile !== local.profile || app.duplicatePolicy(local.profile) === 'reject';
    if (keepOlder && remoteIsNewer) return; // the peer closes its own (it sees our announcement)
    if (!keepOlder && !remoteIsNewer) return; // ours is the newer: the peer gives way
    app.router.evict(clientId, keepOlder ? 'refused' : 'takeover');
  }

  /** The cluster is shutting down: peers going away are expected (no redial, no warning). */
  quiesce(): void {
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const app of this.o.apps.values()) {
      app.router.forward = null;
      app.router.remoteHolder = null;
    }
    for (const l of this.links.values()) l.conn.destroy();
    this.links.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
