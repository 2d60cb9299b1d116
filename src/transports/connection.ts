/**
 * A byte stream to one client, whatever carries it (TCP, TLS, WebSocket).
 *
 * Writes are coalesced: `write` appends to a per-connection list and the connection is
 * flushed once per event-loop turn (setImmediate), so a burst of deliveries to one socket
 * costs one syscall / one WebSocket frame. Protocols that need one frame per message on
 * WebSocket (STOMP) turn coalescing off.
 */

/** 'unix': links between cluster workers; 'memory': in-process connections (transports/memory.ts). */
export type TransportName = 'tcp' | 'tls' | 'ws' | 'wss' | 'unix' | 'memory' | 'udp';

export interface ConnectionHandler {
  onData(chunk: Buffer): void;
  /** Called once, after the underlying stream is closed. */
  onClose(hadError: boolean): void;
}

export abstract class Connection {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  /**
   * Output written in place (`reserve`/`commit`): `room` from `roomStart` to `roomAt` is written
   * and not yet pending. The bytes before `roomStart` were handed on; later turns append after them.
   */
  room: Buffer = EMPTY;
  private roomStart = 0;
  private roomAt = 0;
  /** Size of the next room: small for a quiet connection, doubled each time one turn fills it. */
  private roomSize = MIN_ROOM;
  protected handler: ConnectionHandler | null = null;
  closed = false;
  /** Coalesce writes into one flush per event-loop turn. */
  coalesce = true;
  /** Subject CN of a verified TLS client certificate (mTLS), if any. */
  certificateCN: string | undefined = undefined;

  constructor(
    readonly transport: TransportName,
    readonly remoteAddress: string,
    readonly remotePort: number,
    /** The listener URL this connection came in on. */
    readonly listener: string,
  ) {}

  setHandler(h: ConnectionHandler): void {
    this.handler = h;
  }

  /** Bytes accepted but not yet on the wire (pending + transport buffer). */
  get backlog(): number {
    return this.pendingBytes + (this.roomAt - this.roomStart) + this.transportBacklog();
  }

  write(buf: Buffer): void {
    if (this.closed) return;
    if (!this.coalesce) {
      this.send(buf);
      return;
    }
    if (this.roomAt > this.roomStart) this.takeRoom();
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.schedule();
  }

  /**
   * Room for an encoder to write up to `size` bytes in place, in `room` from the offset returned;
   * then `commit` the end. Saves a Buffer per packet and the copy that joins a turn's packets
   * (cluster links, MQTT QoS 0 deliveries). Coalescing connections only. A connection keeps one
   * room: 2 KB while it is quiet, up to 64 KB for one that fills them within a turn.
   */
  reserve(size: number): number {
    if (this.roomAt + size > this.room.length) {
      if (this.roomAt > this.roomStart) {
        this.takeRoom();
        if (this.roomSize < MAX_ROOM) this.roomSize *= 2;
      }
      this.room = Buffer.allocUnsafe(Math.max(this.roomSize, size));
      this.roomStart = this.roomAt = 0;
    }
    return this.roomAt;
  }

  /** What was written in `room` since `reserve` ends at `end`. */
  commit(end: number): void {
    if (this.closed) return;
    this.roomAt = end;
    this.schedule();
  }

  /** The room's written bytes join the pending writes (in order). */
  private takeRoom(): void {
    const b = this.room.subarray(this.roomStart, this.roomAt);
    this.roomStart = this.roomAt;
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      flushQueue.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Write everything pending now. */
  flush(): void {
    this.scheduled = false;
    if (this.roomAt > this.roomStart) this.takeRoom();
    const n = this.pending.length;
    if (n === 0 || this.closed) {
      this.pending.length = 0;
      this.pendingBytes = 0;
      return;
    }
    const pending = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (n === 1) this.send(pending[0]!);
    // Small packets: one copy into one buffer is cheaper than a long writev. Large ones (where
    // copying costs more than the syscall) go out as they are, shared with other subscribers.
    else if (bytes / n <= LARGE_PACKET) this.send(Buffer.concat(pending, bytes));
    else this.sendMany(pending);
  }

  /** Write several buffers at once without copying them (writev where the transport has it). */
  protected sendMany(bufs: Buffer[]): void {
    for (const b of bufs) this.send(b);
  }

  /** Flush, then close gracefully (FIN / WebSocket close). */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.endTransport();
  }

  /** Close immediately, dropping anything unsent. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.roomStart = this.roomAt;
    this.destroyTransport();
  }

  /** Transport side: bytes arrived. */
  emitData(chunk: Buffer): void {
    this.handler?.onData(chunk);
  }

  /** Transport side: the stream is closed (once). */
  emitClose(hadError: boolean): void {
    this.closed = true;
    const h = this.handler;
    this.handler = null;
    h?.onClose(hadError);
  }

  abstract pause(): void;
  abstract resume(): void;
  protected abstract send(buf: Buffer): void;
  protected abstract transportBacklog(): number;
  protected abstract endTransport(): void;
  protected abstract destroyTransport(): void;
}

/** Average packet size above which a flush writes the buffers as they are instead of concatenating. */
const LARGE_PACKET = 4096;
/** Sizes of the buffers `reserve` hands out room in (the smallest come from Node's Buffer pool). */
const MIN_ROOM = 2048;
const MAX_ROOM = 64 * 1024;
const EMPTY = Buffer.alloc(0);

// One flush pass for all dirty connections per event-loop turn (no closure per write).
let flushQueue: Connection[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  const q = flushQueue;
  flushQueue = [];
  for (let i = 0; i < q.length; i++) q[i]!.flush();
}
