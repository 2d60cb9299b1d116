/**
 * A tiny raw MQTT client on a memory connection: packets out (encoded with the repo's codec,
 * which has its own tests), bytes in, decoded as a client would. No retries, no state beyond
 * what a test asks for: it shows exactly what the broker sent.
 *
 * `autoAck` answers deliveries as a well-behaved client does (PUBACK; PUBREC, then PUBCOMP for
 * the broker's PUBREL, which is not queued); the PUBLISH itself is always queued.
 */
import { MqttDecoder } from '../../src/protocols/mqtt/codec/decoder.js';
import { encodePacket } from '../../src/protocols/mqtt/codec/encoder.js';
import { PacketType } from '../../src/protocols/mqtt/codec/packets.js';
import type { ConnackPacket, Packet, ProtocolLevel, Properties, PublishPacket, QoS, SubscriptionRequest, Will } from '../../src/protocols/mqtt/codec/packets.js';
import type { MemoryPeer } from '../../src/transports/memory.js';

/** The packet shape(s) whose type can be T (AckPacket covers four types). */
export type PacketOf<T extends Packet['type']> = Packet extends infer P ? (P extends { type: infer U } ? (T extends U ? P : never) : never) : never;

export interface ConnectOptions {
  clientId?: string;
  cleanStart?: boolean;
  keepAlive?: number;
  username?: string | null;
  password?: string | null;
  will?: Partial<Will> & { topic: string } | null;
  properties?: Properties;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  packetId?: number;
  properties?: Properties;
}

const NO_PROPS: Properties = {};
/** Turns to wait for an expected packet before failing. */
const WAIT_TURNS = 50;

export class MqttPeer {
  /** Packets received and not yet taken, in order. */
  readonly received: Packet[] = [];
  private readonly decoder: MqttDecoder;
  private decodeError: Error | null = null;
  private nextPacketId = 1;

  constructor(
    readonly peer: MemoryPeer,
    readonly level: ProtocolLevel,
    public autoAck: boolean,
  ) {
    this.decoder = new MqttDecoder({ maxPacketSize: 268_435_455, role: 'client' });
    this.decoder.setProtocolLevel(level);
    peer.onData = (chunk) => this.onData(chunk);
  }

  /** How the connection closed, or null while open. */
  get closed(): MemoryPeer['closed'] {
    return this.peer.closed;
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, (p: Packet) => this.onPacket(p));
    } catch (err) {
      this.decodeError = err as Error;
    }
  }

  private onPacket(p: Packet): void {
    if (this.autoAck) {
      if (p.type === PacketType.PUBLISH && p.qos === 1) this.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
      else if (p.type === PacketType.PUBLISH && p.qos === 2) this.send({ type: PacketType.PUBREC, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
      else if (p.type === PacketType.PUBREL) {
        this.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
        return;
      }
    }
    this.received.push(p);
  }

  // ---- out -------------------------------------------------------------------------------

  send(p: Packet): void {
    this.peer.write(encodePacket(p, this.level));
  }

  sendRaw(bytes: Buffer | string): void {
    this.peer.write(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s+/g, ''), 'hex') : bytes);
  }

  packetId(): number {
    const id = this.nextPacketId;
    this.nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }

  // ---- in --------------------------------------------------------------------------------

  /** The next packet, whatever it is. */
  async next(turns = WAIT_TURNS): Promise<Packet> {
    return this.waitFor(() => 0, turns, 'any packet');
  }

  /** The first queued (or next arriving) packet of `type` matching `pred`; packets before it stay queued. */
  async expect<T extends Packet['type']>(type: T, pred: (p: PacketOf<T>) => boolean = () => true, turns = WAIT_TURNS): Promise<PacketOf<T>> {
    const i = (): number => this.received.findIndex((p) => p.type === type && pred(p as PacketOf<T>));
    return (await this.waitFor(i, turns, `packet type ${type}`)) as PacketOf<T>;
  }

  /** The next PUBLISH (other packets stay queued). */
  publishPacket(turns = WAIT_TURNS): Promise<PublishPacket> {
    return this.expect(PacketType.PUBLISH, () => true, turns);
  }

  /** The next `n` PUBLISH packets. */
  async publishes(n: number): Promise<PublishPacket[]> {
    const out: PublishPacket[] = [];
    for (let i = 0; i < n; i++) out.push(await this.publishPacket());
    return out;
  }

  /** Payloads of the next `n` PUBLISH packets, as text. */
  async payloads(n: number): Promise<string[]> {
    return (await this.publishes(n)).map((p) => p.payload.toString());
  }

  /** Let `turns` turns pass; true when nothing at all arrived (and the connection is open). */
  async quiet(turns = 5): Promise<boolean> {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    return this.received.length === 0 && this.decodeError === null;
  }

  /** Resolves once the broker (or this side) closed the connection. */
  async whenClosed(turns = WAIT_TURNS): Promise<MemoryPeer['closed']> {
    for (let i = 0; i < turns && this.peer.closed === null; i++) await new Promise((r) => setImmediate(r));
    if (this.peer.closed === null) throw new Error('the connection is still open');
    return this.peer.closed;
  }

  private async waitFor(index: () => number, turns: number, what: string): Promise<Packet> {
    for (let t = 0; ; t++) {
      if (this.decodeError !== null) throw this.decodeError;
      const i = index();
      if (i >= 0 && i < this.received.length) return this.received.splice(i, 1)[0]!;
      if (t >= turns) {
        const got = this.received.map((p) => p.type).join(',');
        throw new Error(`no ${what} within ${turns} turns (queued: [${got}], closed: ${this.peer.closed})`);
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  // ---- flows -----------------------------------------------------------------------------

  async connect(o: ConnectOptions = {}): Promise<ConnackPacket> {
    const w = o.will ?? null;
    this.send({
      type: PacketType.CONNECT,
      protocolName: this.level === 3 ? 'MQIsdp' : 'MQTT',
      protocolLevel: this.level,
      cleanStart: o.cleanStart ?? true,
      keepAlive: o.keepAlive ?? 0,
      clientId: o.clientId ?? '',
      will: w === null ? null : { topic: w.topic, payload: w.payload ?? Buffer.from('will'), qos: w.qos ?? 0, retain: w.retain ?? false, properties: w.properties ?? NO_PROPS },
      username: o.username ?? null,
      password: o.password === undefined || o.password === null ? null : Buffer.from(o.password),
      properties: o.properties ?? NO_PROPS,
    });
    return this.expect(PacketType.CONNACK);
  }

  /** SUBSCRIBE; resolves with the SUBACK reason codes. */
  async subscribe(filters: string | Array<string | (Partial<SubscriptionRequest> & { filter: string })>, qos: QoS = 1, properties: Properties = NO_PROPS): Promise<number[]> {
    const list = typeof filters === 'string' ? [filters] : filters;
    const subscriptions = list.map((f): SubscriptionRequest => {
      const r = typeof f === 'string' ? { filter: f } : f;
      return { filter: r.filter, qos: r.qos ?? qos, noLocal: r.noLocal ?? false, retainAsPublished: r.retainAsPublished ?? false, retainHandling: r.retainHandling ?? 0 };
    });
    const packetId = this.packetId();
    this.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions, properties });
    return (await this.expect(PacketType.SUBACK, (p) => p.packetId === packetId)).reasonCodes;
  }

  /** UNSUBSCRIBE; resolves with the UNSUBACK reason codes (empty before MQTT 5). */
  async unsubscribe(filters: string | string[]): Promise<number[]> {
    const packetId = this.packetId();
    this.send({ type: PacketType.UNSUBSCRIBE, packetId, filters: typeof filters === 'string' ? [filters] : filters, properties: NO_PROPS });
    return (await this.expect(PacketType.UNSUBACK, (p) => p.packetId === packetId)).reasonCodes;
  }

  /**
   * PUBLISH. QoS 0: sent, resolves with null. QoS 1: the PUBACK reason code. QoS 2: the PUBREC
   * reason code, after completing the flow (PUBREL, PUBCOMP) when it was a success.
   */
  async publish(topic: string, payload: string | Buffer, o: PublishOptions = {}): Promise<number | null> {
    const qos = o.qos ?? 0;
    const packetId = qos === 0 ? 0 : (o.packetId ?? this.packetId());
    this.send({
      type: PacketType.PUBLISH,
      dup: o.dup ?? false,
      qos,
      retain: o.retain ?? false,
      topic,
      packetId,
      properties: o.properties ?? NO_PROPS,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    });
    if (qos === 0) return null;
    if (qos === 1) return (await this.expect(PacketType.PUBACK, (p) => p.packetId === packetId)).reasonCode;
    const rec = await this.expect(PacketType.PUBREC, (p) => p.packetId === packetId);
    if (rec.reasonCode >= 0x80) return rec.reasonCode;
    this.send({ type: PacketType.PUBREL, packetId, reasonCode: 0, properties: NO_PROPS });
    await this.expect(PacketType.PUBCOMP, (p) => p.packetId === packetId);
    return rec.reasonCode;
  }

  /** Acknowledge a delivery by hand (autoAck off): PUBACK, or PUBREC for QoS 2. */
  ack(p: PublishPacket): void {
    if (p.qos === 0) return;
    this.send({ type: p.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
  }

  /** DISCONNECT (normal, or `reasonCode`) and wait for the close. */
  async disconnect(reasonCode = 0, properties: Properties = NO_PROPS): Promise<void> {
    this.send({ type: PacketType.DISCONNECT, reasonCode, properties });
    await this.whenClosed();
  }

  /** Drop the connection without DISCONNECT (network failure). */
  drop(): void {
    this.peer.destroy();
  }
}
