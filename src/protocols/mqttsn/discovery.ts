/**
 * Gateway discovery (MQTT-SN 1.2, 6.1): ADVERTISE to the multicast group every `intervalSec`
 * (its Duration field says when the next one comes), and GWINFO in answer to a SEARCHGW sent to
 * the group. Both leave through the gateway's own socket (`send`): a gateway's GWINFO carries no
 * address (5.4.3), so a client connects to the source address and port of what it received.
 *
 * A GWINFO (3 octets) answers a SEARCHGW (3 octets) of the same size: no amplification. The
 * group socket hears only the group (bound to the group address), at most `maxPerSecond`
 * SEARCHGW answered per second in all (a flood from many addresses is counted, not answered).
 * Off by default (`mqttsn.advertise`).
 */
import dgram from 'node:dgram';
import { decode, encode } from './codec.js';
import { DecodeError } from './packets.js';

export interface DiscoveryOptions {
  gatewayId: number;
  group: string;
  port: number;
  /** Local interface address for the group (unset: the system's choice). */
  iface?: string | undefined;
  intervalSec: number;
  /** Send through the gateway's socket (transports/udp.ts UdpServer). */
  send(buf: Buffer, port: number, address: string): void;
  /** Answers per second to SEARCHGW, in all. */
  maxPerSecond?: number;
}

export class Discovery {
  private socket: dgram.Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly advertise: Buffer;
  private readonly gwinfo: Buffer;
  private budget = 0;
  private budgetAt = 0;
  readonly counters = { advertised: 0, searches: 0, answered: 0, ignored: 0 };

  constructor(private readonly opts: DiscoveryOptions) {
    this.advertise = encode({ type: 'ADVERTISE', gwId: opts.gatewayId, duration: opts.intervalSec });
    this.gwinfo = encode({ type: 'GWINFO', gwId: opts.gatewayId, gwAdd: Buffer.alloc(0) });
  }

  /** Join the group and advertise now and every interval. */
  async start(): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    s.on('error', () => {
      /* a datagram that could not be received: nothing to answer */
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      // Bound to the group address, the socket hears the group's datagrams only.
      s.bind(this.opts.port, this.opts.group, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.addMembership(this.opts.group, this.opts.iface);
    this.socket = s;
    this.sendAdvertise();
    this.timer = setInterval(() => this.sendAdvertise(), this.opts.intervalSec * 1000);
    this.timer.unref();
  }

  private sendAdvertise(): void {
    this.counters.advertised++;
    this.opts.send(this.advertise, this.opts.port, this.opts.group);
  }

  /** A datagram on the group: a SEARCHGW gets GWINFO at its sender; anything else is ignored. */
  onMessage(msg: Buffer, address: string, port: number): void {
    const p = decode(msg);
    if (p instanceof DecodeError || p.type !== 'SEARCHGW') {
      this.counters.ignored++;
      return;
    }
    this.counters.searches++;
    if (!this.take()) return;
    this.counters.answered++;
    this.opts.send(this.gwinfo, port, address);
  }

  /** One answer from the shared per-second budget. */
  private take(): boolean {
    const now = Date.now();
    if (now - this.budgetAt >= 1000) {
      this.budgetAt = now;
      this.budget = this.opts.maxPerSecond ?? 100;
    }
    if (this.budget <= 0) return false;
    this.budget--;
    return true;
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
