/** TCP and TLS connections: a net.Socket (tls.TLSSocket is one) behind the Connection interface. */
import type { Socket } from 'node:net';
import { Connection } from './connection.js';
import type { TransportName } from './connection.js';

const kConnection = Symbol('switchboard.connection');
type OwnedSocket = Socket & { [kConnection]: SocketConnection };

// One set of listener functions for every socket (the connection is found through the socket)
// instead of three closures per connection: idle connections are counted in hundreds of bytes.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kConnection].emitData(chunk);
}
function onSocketError(): void {
  /* reported through 'close' */
}
function onSocketClose(this: OwnedSocket, hadError: boolean): void {
  this[kConnection].emitClose(hadError);
}

export class SocketConnection extends Connection {
  constructor(
    private readonly socket: Socket,
    transport: TransportName,
    listener: string,
  ) {
    super(transport, socket.remoteAddress ?? '', socket.remotePort ?? 0, listener);
    socket.setNoDelay(true);
    (socket as OwnedSocket)[kConnection] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  protected send(buf: Buffer): void {
    this.socket.write(buf);
  }

  protected override sendMany(bufs: Buffer[]): void {
    // cork/uncork: the socket hands all buffers to one writev.
    this.socket.cork();
    for (const b of bufs) this.socket.write(b);
    this.socket.uncork();
  }

  protected transportBacklog(): number {
    return this.socket.writableLength;
  }

  protected endTransport(): void {
    this.socket.end();
    // A peer that never reads must not hold the socket open forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  protected destroyTransport(): void {
    this.socket.destroy();
  }
}
