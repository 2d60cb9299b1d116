/**
 * WebSocket connections (ws / wss). Binary and text messages are both passed on as bytes.
 *
 * Ping policy (enforced here, in onPing; ws's autoPong is off, see listeners.ts): at most
 * `limits.wsPingsPerSecond` pings are answered per connection in each one-second window, the
 * excess is ignored, and a client that sends more than PING_CLOSE_FACTOR times that many in one
 * window is closed with 1008 (policy violation) and a reason.
 */
import type { WebSocket, RawData } from 'ws';
import { Connection } from './connection.js';
import type { TransportName } from './connection.js';

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Closing handshake; a peer that never answers it is dropped after 5 s. */
function closeWs(ws: WebSocket, code: number, reason?: string): void {
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), 5000).unref();
}

/** More than this many times the allowed pings in one window closes the connection. */
const PING_CLOSE_FACTOR = 10;
const PING_WINDOW_MS = 1000;

export class WsConnection extends Connection {
  private pingWindowStart = 0;
  private pingsInWindow = 0;

  constructor(
    private readonly ws: WebSocket,
    transport: TransportName,
    remoteAddress: string,
    remotePort: number,
    listener: string,
    readonly subprotocol: string,
    /** Pings answered per second (limits.wsPingsPerSecond). */
    private readonly pingsPerSecond: number,
  ) {
    super(transport, remoteAddress, remotePort, listener);
    ws.on('message', (data: RawData) => this.emitData(toBuffer(data)));
    ws.on('ping', (data: Buffer) => this.onPing(data));
    ws.on('error', () => {
      /* reported through 'close' */
    });
    ws.on('close', () => this.emitClose(false));
  }

  private onPing(data: Buffer): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.pingWindowStart >= PING_WINDOW_MS) {
      this.pingWindowStart = now;
      this.pingsInWindow = 0;
    }
    const n = ++this.pingsInWindow;
    if (n <= this.pingsPerSecond) {
      if (this.ws.readyState === this.ws.OPEN) this.ws.pong(data);
    } else if (n > this.pingsPerSecond * PING_CLOSE_FACTOR) {
      this.closeWith(1008, 'too many pings');
    }
  }

  /** Like end(), with a WebSocket close code and reason. */
  private closeWith(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeWs(this.ws, code, reason);
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
    closeWs(this.ws, 1000);
  }

  protected destroyTransport(): void {
    this.ws.terminate();
  }
}
