/**
 * The worker side of cluster mode, a transport for the bus (cluster/peers.ts): a full mesh of
 * Unix-socket links between the workers of one primary. Worker i listens on DIR/w<i>.sock and
 * dials every worker with a lower index, so each pair has one link; a dialler redials a peer that
 * went away (a restarted worker). A worker's node id is its index. Frames (wire.ts) are written
 * to a link through the transports' coalesced writes (one flush per turn); a link that goes away
 * takes the peer with it (its wills are published by a survivor unless it said BYE).
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BusHandler, NodeId } from '../core/bus.js';
import { Link } from './link.js';
import { PeerBus } from './peers.js';

export interface MeshOptions {
  index: number;
  workers: number;
  dir: string;
  logger: Logger;
  /** How long a starting worker waits for its retained snapshot (ms). */
  syncTimeoutMs?: number;
}

export class ClusterMesh extends PeerBus {
  private readonly links = new Map<number, Link>();
  private server: net.Server | null = null;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly o: MeshOptions) {
    super(String(o.index), o.logger);
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
    this.logger.debug({ path }, 'cluster: listening for workers');
    for (let j = 0; j < this.o.index; j++) this.dial(j);
    await new Promise<void>((resolve) => {
      this.readyWaiters.push(resolve);
      this.checkReady();
    });
    this.logger.debug({ peers: this.links.size }, 'cluster: linked; taking the retained snapshot');
    await this.takeSnapshot(this.o.syncTimeoutMs ?? 10_000);
  }

  private dial(peer: number, attempt = 0): void {
    if (this.stopped) return;
    const s = net.connect(ClusterMesh.socketPath(this.o.dir, peer));
    s.once('connect', () => {
      s.write(Buffer.from([this.o.index]));
      this.add(peer, s);
    });
    s.once('error', (err) => {
      if (attempt % 10 === 0) this.logger.debug({ peer, attempt, err: err.message }, 'cluster: dial failed; retrying');
      if (!this.links.has(peer)) setTimeout(() => this.dial(peer, attempt + 1), Math.min(1000, 20 * (attempt + 1))).unref();
    });
  }

  private add(peer: number, s: net.Socket): void {
    const old = this.links.get(peer);
    if (old !== undefined) {
      // The peer restarted before its old link was seen closing: the old one died.
      this.links.delete(peer);
      this.peerDown(String(peer), true);
      old.conn.destroy();
    }
    this.logger.debug({ peer }, 'cluster: link up');
    const link = new Link(String(peer), s, 'unix', (f, from) => this.frame(f, from.peer), (gone) => this.lost(gone), this.logger);
    this.links.set(peer, link);
    this.peerUp(String(peer));
    this.checkReady();
  }

  private lost(link: Link): void {
    const peer = Number(link.peer);
    if (this.links.get(peer) !== link) return; // replaced already
    this.links.delete(peer);
    this.peerDown(String(peer), true);
    if (this.stopped) return;
    this.logger.warn({ peer }, 'cluster: link to worker lost');
    if (peer < this.o.index) this.dial(peer);
  }

  private checkReady(): void {
    if (this.links.size < this.o.workers - 1) return;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const r of w) r();
  }

  protected linkTo(node: NodeId): Link | null {
    return this.links.get(Number(node)) ?? null;
  }

  protected write(node: NodeId, buf: Buffer): boolean {
    const link = this.links.get(Number(node));
    if (link === undefined) return false;
    link.conn.write(buf);
    return true;
  }

  async stop(): Promise<void> {
    if (this.handler !== null) this.sayBye();
    this.stopped = true;
    this.handler = null;
    this.endConfirmations();
    for (const l of this.links.values()) l.conn.end(); // BYE flushed first
    this.links.clear();
    const server = this.server;
    this.server = null;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
