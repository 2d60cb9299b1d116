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
 * - "client X attached here", so a client that reconnects through another worker takes its
 *   session over.
 * Writes are coalesced per link per event-loop turn.
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
import { encodeInterest, encodePublish, encodeTakeover, FrameReader, Kind } from './wire.js';
import type { PeerFrame } from './wire.js';

export interface MeshOptions {
  index: number;
  workers: number;
  dir: string;
  apps: ReadonlyMap<string, Application>;
  logger: Logger;
}

/** The peer, as the subscriber of the filters it announced. */
const PEER: Subscriber = { clientId: '(cluster peer)' };

class Link {
  private pending: Buffer[] = [];
  private scheduled = false;
  private readonly reader = new FrameReader();
  /** The peer's filters, per application. */
  private readonly interest = new Map<string, TopicTrie>();

  constructor(
    readonly socket: net.Socket,
    onFrame: (f: PeerFrame, from: Link) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk, (f) => onFrame(f, this)));
    socket.on('error', () => {
      /* reported through 'close' */
    });
  }

  write(buf: Buffer): void {
    this.pending.push(buf);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  wants(app: string, topic: string): boolean {
    const m = this.interest.get(app)?.match(topic);
    return m !== undefined && (m.targets.length > 0 || m.groups.length > 0);
  }

  setInterest(app: string, filter: string, add: boolean): void {
    let t = this.interest.get(app);
    if (!t) this.interest.set(app, (t = new TopicTrie()));
    if (!add) t.remove(PEER, filter, null);
    else {
      const sub: Subscription = { subscriber: PEER, raw: filter, filter, group: null, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 };
      t.add(sub);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const p = this.pending;
    this.pending = [];
    if (p.length === 0 || this.socket.destroyed) return;
    this.socket.write(p.length === 1 ? p[0]! : Buffer.concat(p));
  }
}

export class ClusterMesh {
  private readonly links = new Map<number, Link>();
  private server: net.Server | null = null;
  private stopped = false;
  private readyWaiters: Array<() => void> = [];
  /** Local subscriptions per application and filter (what peers are told). */
  private readonly local = new Map<string, Map<string, number>>();

  constructor(private readonly o: MeshOptions) {}

  static socketPath(dir: string, index: number): string {
    return join(dir, `w${index}.sock`);
  }

  /** Listen, dial the lower workers, and resolve once linked to every other worker. */
  async start(): Promise<void> {
    for (const [name, app] of this.o.apps) {
      const local = new Map<string, number>();
      this.local.set(name, local);
      app.router.forward = (msg, intercept) => this.forward(name, msg, intercept);
      app.router.onAttach = (clientId) => this.broadcast(encodeTakeover(name, clientId));
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
    const link = new Link(s, (f, from) => this.receive(f, from));
    this.links.set(peer, link);
    for (const [app, filters] of this.local) for (const f of filters.keys()) link.write(encodeInterest(true, app, f));
    s.once('close', () => {
      if (this.links.get(peer) === link) this.links.delete(peer);
      if (!this.stopped) this.o.logger.warn({ peer }, 'cluster: link to worker lost');
      if (peer < this.o.index) this.dial(peer);
    });
    this.checkReady();
  }

  private checkReady(): void {
    if (this.links.size < this.o.workers - 1) return;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const r of w) r();
  }

  private broadcast(buf: Buffer): void {
    for (const l of this.links.values()) l.write(buf);
  }

  private forward(app: string, msg: Message, intercept: boolean): void {
    const everywhere = msg.retain || msg.topic.charCodeAt(0) === 0x24;
    let buf: Buffer | null = null;
    for (const l of this.links.values()) {
      if (everywhere || l.wants(app, msg.topic)) l.write((buf ??= encodePublish(app, msg, intercept)));
    }
  }

  private receive(f: PeerFrame, from: Link): void {
    if (f.kind === Kind.Interest) {
      from.setInterest(f.app, f.filter, f.add);
      return;
    }
    const app = this.o.apps.get(f.app);
    if (!app) return; // configured on another worker only (reload in progress)
    if (f.kind === Kind.Publish) app.router.publish(f.msg, f.intercept, true);
    else app.router.takenOverElsewhere(f.clientId);
  }

  /** The cluster is shutting down: peers going away are expected (no redial, no warning). */
  quiesce(): void {
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const app of this.o.apps.values()) {
      app.router.forward = null;
      app.router.onAttach = null;
    }
    for (const l of this.links.values()) l.socket.destroy();
    this.links.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
