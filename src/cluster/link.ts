/**
 * A socket to another node that carries cluster frames (wire.ts): frames in through a FrameReader,
 * out through the transports' coalesced writes (one flush per event-loop turn). The workers' mesh
 * (Unix sockets) and the Redis bus's direct links (TCP) both use it.
 */
import type net from 'node:net';
import { FrameReader } from './wire.js';
import type { LinkAliases } from './aliases.js';
import type { Logger } from 'pino';
import type { PeerFrame } from './wire.js';
import type { ConnectionHandler, TransportName } from '../transports/connection.js';
import { SocketConnection } from '../transports/tcp.js';

export class Link implements ConnectionHandler {
  private readonly reader = new FrameReader();
  readonly conn: SocketConnection;
  /** The aliases this node defined on the link (made on first use). */
  told: LinkAliases | null = null;

  constructor(
    readonly peer: string,
    socket: net.Socket,
    transport: TransportName,
    private readonly onFrame: (f: PeerFrame, from: Link) => void,
    private readonly onGone: (from: Link) => void,
    private readonly logger: Logger,
  ) {
    this.conn = new SocketConnection(socket, transport, 'cluster');
    this.conn.setHandler(this);
  }

  onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk, (f) => this.onFrame(f, this));
    } catch (err) {
      // A frame this node cannot read or handle (a bug, another build): the link goes, the
      // messages take the other way (Redis) and the node keeps serving.
      this.logger.error({ node: this.peer, err }, 'cluster: bad frame on a direct link; link closed');
      this.conn.destroy();
    }
  }

  onClose(): void {
    this.onGone(this);
  }
}
