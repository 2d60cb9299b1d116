/** WebSocket connections (ws / wss). Binary and text messages are both passed on as bytes. */
import type { WebSocket, RawData } from 'ws';
import { Connection } from './connection.js';
import type { TransportName } from './connection.js';

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class WsConnection extends Connection {
  constructor(
    private readonly ws: WebSocket,
    transport: TransportName,
    remoteAddress: string,
    remotePort: number,
    listener: string,
    readonly subprotocol: string,
  ) {
    super(transport, remoteAddress, remotePort, listener);
    ws.on('message', (data: RawData) => this.emitData(toBuffer(data)));
    ws.on('error', () => {
      /* reported through 'close' */
    });
    ws.on('close', () => this.emitClose(false));
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  protected send(buf: Buffer): void {
    this.ws.send(buf, { binary: true });
  }

  /** Send a text frame (STOMP clients that expect text). */
  sendText(s: string | Buffer): void {
    if (!this.closed) this.ws.send(s, { binary: false });
  }

  protected transportBacklog(): number {
    return this.ws.bufferedAmount;
  }

  protected endTransport(): void {
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  protected destroyTransport(): void {
    this.ws.terminate();
  }
}
