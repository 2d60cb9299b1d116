/**
 * In-process connections: a Connection whose other end is a MemoryPeer in the same process, for
 * engine tests and for embedders that speak MQTT or STOMP to the broker without a socket.
 *
 *   const { conn, peer } = memoryPair();
 *   broker.accept(conn, 'mqtt');      // the same admission and protocol as a listener's
 *   peer.onData = (chunk) => ...;     // bytes the broker wrote
 *   peer.write(connectPacket);        // bytes to the broker
 *
 * It behaves as a socket does for the protocol on top, so what is tested over it holds for TCP:
 * - Writes are coalesced by Connection (one delivery to the peer per event-loop turn); `end`
 *   flushes first, `destroy` drops what is unsent.
 * - Input is asynchronous (a later tick than the peer's write, in order) and stops while the
 *   connection is paused; `resume` delivers what waited on a later tick, never inside the
 *   call (HeldInput releases its own items first).
 * - The close of either side is reported once, asynchronously, after the input written before it.
 * - A peer that stops reading (`stall`) makes the bytes sent to it count as the transport's
 *   backlog, as a full socket buffer does (slow-consumer policies see it).
 */
import { Connection } from './connection.js';

export interface MemoryOptions {
  /** Shown as the client's address (logs, presence, per-address limits and login throttling). Default "memory". */
  remoteAddress?: string;
  remotePort?: number;
  /** The "listener" the connection came in on. Default "memory://". */
  listener?: string;
  /** As a verified TLS client certificate's subject CN (mTLS logins). */
  certificateCN?: string;
}

/** The broker's side of an in-process connection. */
export class MemoryConnection extends Connection {
  readonly peer: MemoryPeer;
  private paused = false;
  /** Input written by the peer and not yet handed to the protocol. */
  private readonly inbound: Buffer[] = [];
  private inboundScheduled = false;
  /** The peer ended or destroyed its side: reported once the input before it is delivered. */
  private peerClosed: { hadError: boolean } | null = null;
  private closeReported = false;

  constructor(opts: MemoryOptions = {}) {
    super('memory', opts.remoteAddress ?? 'memory', opts.remotePort ?? 0, opts.listener ?? 'memory://');
    this.certificateCN = opts.certificateCN;
    this.peer = new MemoryPeer(this);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduleInbound();
  }

  protected send(buf: Buffer): void {
    this.peer.receive(buf);
  }

  protected transportBacklog(): number {
    return this.peer.stalledBytes;
  }

  protected endTransport(): void {
    this.peer.closedBy('end');
    this.reportClose(false);
  }

  protected destroyTransport(): void {
    this.peer.closedBy('destroy');
    this.reportClose(false);
  }

  /** Peer side: bytes for the broker. */
  input(chunk: Buffer): void {
    if (this.closed || this.peerClosed !== null) return;
    this.inbound.push(chunk);
    this.scheduleInbound();
  }

  /** Peer side: the peer closed its side (after what it wrote). */
  peerEnded(hadError: boolean): void {
    if (this.closed || this.peerClosed !== null) return;
    this.peerClosed = { hadError };
    this.scheduleInbound();
  }

  private scheduleInbound(): void {
    if (this.inboundScheduled) return;
    this.inboundScheduled = true;
    process.nextTick(() => this.deliverInbound());
  }

  private deliverInbound(): void {
    this.inboundScheduled = false;
    // Stop as soon as the protocol pauses (or closes): the rest waits for resume, like a socket.
    while (!this.paused && !this.closed && this.inbound.length > 0) this.emitData(this.inbound.shift()!);
    if (this.closed) this.inbound.length = 0;
    const gone = this.peerClosed;
    if (gone === null) return;
    // A graceful end is seen after the input before it (a paused socket holds its FIN too); a
    // dropped peer is seen at once, unread input lost, as with a reset socket.
    if (this.inbound.length === 0 && !this.paused) this.reportClose(gone.hadError);
    else if (gone.hadError) this.reportClose(true);
  }

  /** The stream is closed: the protocol hears it once, on a later tick. */
  private reportClose(hadError: boolean): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.inbound.length = 0;
    process.nextTick(() => this.emitClose(hadError));
  }
}

/** The client's side of an in-process connection. */
export class MemoryPeer {
  /** Bytes from the broker, one call per flushed write (coalesced per event-loop turn). */
  onData: ((chunk: Buffer) => void) | null = null;
  /** The broker closed the connection: 'end' (graceful, after its last bytes) or 'destroy'. */
  onClose: ((how: 'end' | 'destroy') => void) | null = null;
  /** Chunks received while nobody listened (onData null). */
  readonly unread: Buffer[] = [];
  /** Chunks delivered so far (tests of write coalescing). */
  chunks = 0;
  /** How the connection closed, once it has: by the broker ('end' / 'destroy') or by this side. */
  closed: 'end' | 'destroy' | 'peer-end' | 'peer-destroy' | null = null;
  private stalled: Buffer[] | null = null;
  /** Bytes held while stalled: the broker sees them as its transport backlog. */
  stalledBytes = 0;

  constructor(private readonly conn: MemoryConnection) {}

  /** Send bytes to the broker. */
  write(chunk: Buffer): void {
    if (this.closed !== null) return;
    this.conn.input(chunk);
  }

  /** Close gracefully (the broker sees the stream end after what was written). */
  end(): void {
    if (this.closed !== null) return;
    this.closed = 'peer-end';
    this.conn.peerEnded(false);
  }

  /** Drop the connection (as a network failure would). */
  destroy(): void {
    if (this.closed !== null) return;
    this.closed = 'peer-destroy';
    this.conn.peerEnded(true);
  }

  /** Stop reading: what the broker sends is held (and counted as its backlog) until `unstall`. */
  stall(): void {
    this.stalled ??= [];
  }

  unstall(): void {
    const held = this.stalled;
    if (held === null) return;
    this.stalled = null;
    this.stalledBytes = 0;
    for (const b of held) this.deliver(b);
  }

  /** Connection side: bytes written to the peer. */
  receive(chunk: Buffer): void {
    if (this.stalled !== null) {
      this.stalled.push(chunk);
      this.stalledBytes += chunk.length;
      return;
    }
    this.deliver(chunk);
  }

  /** Connection side: the broker closed the stream. */
  closedBy(how: 'end' | 'destroy'): void {
    if (this.closed !== null) return;
    this.closed = how;
    if (how === 'destroy') {
      this.stalled = null;
      this.stalledBytes = 0;
    }
    this.onClose?.(how);
  }

  private deliver(chunk: Buffer): void {
    this.chunks++;
    if (this.onData === null) this.unread.push(chunk);
    else this.onData(chunk);
  }
}

/** A connected pair: hand `conn` to the broker (`broker.accept(conn, protocol)`), drive `peer`. */
export function memoryPair(opts: MemoryOptions = {}): { conn: MemoryConnection; peer: MemoryPeer } {
  const conn = new MemoryConnection(opts);
  return { conn, peer: conn.peer };
}
