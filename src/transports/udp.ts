/**
 * UDP for the MQTT-SN gateway: one socket per `mqttsn://` listener, one DatagramConnection per
 * client address. A datagram is one message: `onData` gets exactly one datagram and every
 * `write` sends exactly one (no coalescing). Closing a connection forgets the address; nothing
 * is sent for it (UDP has no close).
 *
 * Safety (the protocol above must also never answer an unverified address with more bytes
 * than it sent, except GWINFO): each address gets a token bucket of `datagramsPerSecond`;
 * datagrams beyond it are dropped before anything is parsed, and counted. At most `maxClients`
 * addresses have a connection; datagrams from new addresses beyond that are dropped, counted.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { Connection } from './connection.js';

export interface UdpOptions {
  /** Datagrams accepted per second (and burst) per address. */
  datagramsPerSecond: number;
  maxClients: number;
  /** A new address sent its first datagram: its connection (the protocol attaches to it). */
  onConnection(conn: DatagramConnection): void;
  /** Datagrams from unknown addresses while full, and over an address's rate. */
  readonly counters: { udpDropped: number };
  now?: () => number;
}

/** Token bucket of one address: tokens left and when they were last refilled (ms). */
interface Bucket {
  tokens: number;
  refilled: number;
}

export class DatagramConnection extends Connection {
  constructor(
    private readonly server: UdpServer,
    remoteAddress: string,
    remotePort: number,
    listener: string,
  ) {
    super('udp', remoteAddress, remotePort, listener);
    this.coalesce = false;
  }

  pause(): void {
    /* datagrams are not flow-controlled; the rate limit applies */
  }

  resume(): void {
    /* see pause */
  }

  protected send(buf: Buffer): void {
    this.server.socket.send(buf, this.remotePort, this.remoteAddress);
  }

  protected transportBacklog(): number {
    return 0;
  }

  protected endTransport(): void {
    this.server.forget(this);
  }

  protected destroyTransport(): void {
    this.server.forget(this);
  }
}

export class UdpServer {
  readonly socket: dgram.Socket;
  private readonly byAddress = new Map<string, DatagramConnection>();
  /**
   * Rate buckets by address, kept apart from the connections: an address whose connection is
   * forgotten at once (a connectionless QoS -1 publish, a SEARCHGW) keeps its rate. Bounded: when
   * full, buckets that are full again (idle for a second) are dropped.
   */
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly now: () => number;
  url = '';

  constructor(
    family: 'udp4' | 'udp6',
    private readonly opts: UdpOptions,
  ) {
    this.socket = dgram.createSocket({ type: family, reuseAddr: false });
    this.rate = opts.datagramsPerSecond;
    this.now = opts.now ?? Date.now;
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', () => {
      /* ICMP port unreachable and the like: UDP has no connection to fail */
    });
  }

  bind(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address());
      });
    });
  }

  /** Connections (client addresses) now. */
  get size(): number {
    return this.byAddress.size;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    if (!this.spend(key, this.now())) {
      this.opts.counters.udpDropped++;
      return;
    }
    let conn = this.byAddress.get(key);
    if (conn === undefined) {
      if (this.byAddress.size >= this.opts.maxClients) {
        this.opts.counters.udpDropped++;
        return;
      }
      conn = new DatagramConnection(this, rinfo.address, rinfo.port, this.url);
      this.byAddress.set(key, conn);
      this.opts.onConnection(conn);
      if (conn.closed) return; // refused at admission
    }
    conn.emitData(msg);
  }

  /** One datagram from `key`: refill its bucket for the time passed, then spend a token. */
  private spend(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= 2 * this.opts.maxClients) {
        this.prune(now);
        // Still full of addresses active this second (a spoofed flood): new ones wait.
        if (this.buckets.size >= 2 * this.opts.maxClients) return false;
      }
      b = { tokens: this.rate, refilled: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.rate, b.tokens + ((now - b.refilled) * this.rate) / 1000);
      b.refilled = now;
    }
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.refilled >= 1000) this.buckets.delete(k);
  }

  forget(conn: DatagramConnection): void {
    const key = `${conn.remoteAddress}|${conn.remotePort}`;
    if (this.byAddress.get(key) === conn) this.byAddress.delete(key);
    conn.emitClose(false);
  }

  close(): Promise<void> {
    for (const c of [...this.byAddress.values()]) c.destroy();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
