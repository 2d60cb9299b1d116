/**
 * The worker side of cluster mode: a full mesh of Unix-socket links between the workers of one
 * primary. Worker i listens on DIR/w<i>.sock and dials every worker with a lower index, so each
 * pair has one link; a dialler redials a peer that went away (a restarted worker).
 *
 * What crosses the mesh: every publish made on this worker (client PUBLISH/SEND, wills, HTTP
 * publishes, system events), encoded once and written to every peer, and "client X attached
 * here" so a client that reconnects through another worker takes its session over. Peers route
 * what they receive to their own sessions and never forward it again. Writes are coalesced per
 * link per event-loop turn.
 */
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Application } from '../core/application.js';
import type { Message } from '../core/message.js';
import { encodePublish, encodeTakeover, FrameReader, Kind } from './wire.js';
import type { PeerFrame } from './wire.js';

export interface MeshOptions {
  index: number;
  workers: number;
  dir: string;
  apps: ReadonlyMap<string, Application>;
  logger: Logger;
}

class Link {
  private pending: Buffer[] = [];
  private scheduled = false;
  private readonly reader = new FrameReader();

  constructor(
    readonly socket: net.Socket,
    onFrame: (f: PeerFrame) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk, onFrame));
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

  constructor(private readonly o: MeshOptions) {}

  static socketPath(dir: string, index: number): string {
    return join(dir, `w${index}.sock`);
  }

  /** Listen, dial the lower workers, and resolve once linked to every other worker. */
  async start(): Promise<void> {
    for (const [name, app] of this.o.apps) {
      app.router.forward = (msg, intercept) => this.broadcast(encodePublish(name, msg, intercept));
      app.router.onAttach = (clientId) => this.broadcast(encodeTakeover(name, clientId));
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
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ClusterMesh.socketPath(this.o.dir, this.o.index), () => resolve());
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
    const link = new Link(s, (f) => this.receive(f));
    this.links.set(peer, link);
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

  private receive(f: PeerFrame): void {
    const app = this.o.apps.get(f.app);
    if (!app) return; // configured on another worker only (reload in progress)
    if (f.kind === Kind.Publish) app.router.publish(f.msg as Message, f.intercept, true);
    else app.router.takenOverElsewhere(f.clientId);
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
