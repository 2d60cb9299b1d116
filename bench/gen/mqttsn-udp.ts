/**
 * A lean MQTT-SN 1.2 client over UDP for the MQTT-SN bench (bench/mqttsn.ts): pre-encoded
 * messages, one connected dgram socket per client (the gateway tells clients apart by address and
 * port). Written from the 1.2 specification, sharing no code with the gateway (src/) or with the
 * test client (test/mqttsn/client.ts, which checks every byte and is too slow for load).
 *
 * Sent: CONNECT (clean session, no will), REGISTER, SUBSCRIBE (topic name), PUBLISH (QoS 0/1,
 * normal topic id), REGACK (to the gateway's REGISTERs), PUBACK (to QoS 1 deliveries),
 * DISCONNECT. Read: CONNACK, REGACK, SUBACK, PUBLISH, PUBACK, REGISTER. Setup requests are sent
 * again every `retryMs` until answered (UDP); PUBLISHes are never retransmitted: the bench counts
 * what is lost instead.
 */
import dgram from 'node:dgram';

/** MsgType values (5.2.2, table 3). */
export const SN = {
  CONNECT: 0x04,
  CONNACK: 0x05,
  REGISTER: 0x0a,
  REGACK: 0x0b,
  PUBLISH: 0x0c,
  PUBACK: 0x0d,
  SUBSCRIBE: 0x12,
  SUBACK: 0x13,
  PINGREQ: 0x16,
  PINGRESP: 0x17,
  DISCONNECT: 0x18,
} as const;

/** Flags (5.3.4): QoS bits 5-6, clean session bit 2, topic id type bits 0-1 (0 = normal id). */
const QOS_FLAGS = { 0: 0x00, 1: 0x20 } as const;
const CLEAN_SESSION = 0x04;

/** Length (1 octet, or 0x01 + 2 octets above 255, 5.2.1), MsgType, body. */
export function message(type: number, body: Buffer): Buffer {
  const n = body.length + 2;
  if (n <= 255) return Buffer.concat([Buffer.from([n, type]), body]);
  const out = Buffer.alloc(body.length + 4);
  out[0] = 1;
  out.writeUInt16BE(body.length + 4, 1);
  out[3] = type;
  body.copy(out, 4);
  return out;
}

const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

/** CONNECT (5.4.4): Flags, ProtocolId 0x01, Duration (s), ClientId. */
export function connectMsg(clientId: string, duration: number): Buffer {
  return message(SN.CONNECT, Buffer.concat([Buffer.from([CLEAN_SESSION, 0x01]), u16(duration), Buffer.from(clientId)]));
}

/** REGISTER from a client (5.4.10): TopicId 0x0000, MsgId, TopicName. */
export function registerMsg(msgId: number, name: string): Buffer {
  return message(SN.REGISTER, Buffer.concat([u16(0), u16(msgId), Buffer.from(name)]));
}

/** SUBSCRIBE by topic name (5.4.15): Flags (QoS, topic id type 0 = name), MsgId, TopicName. */
export function subscribeMsg(msgId: number, name: string, qos: 0 | 1): Buffer {
  return message(SN.SUBSCRIBE, Buffer.concat([Buffer.from([QOS_FLAGS[qos]]), u16(msgId), Buffer.from(name)]));
}

export function regackMsg(topicId: number, msgId: number, rc: number): Buffer {
  return message(SN.REGACK, Buffer.concat([u16(topicId), u16(msgId), Buffer.from([rc])]));
}

export function pubackMsg(topicId: number, msgId: number, rc: number): Buffer {
  return message(SN.PUBACK, Buffer.concat([u16(topicId), u16(msgId), Buffer.from([rc])]));
}

export const DISCONNECT = message(SN.DISCONNECT, Buffer.alloc(0));

/** A PUBLISH (5.4.12) to copy and patch: MsgId at `msgIdOffset` (QoS 1), the payload from `payloadOffset`. */
export interface SnPublishTemplate {
  buf: Buffer;
  msgIdOffset: number;
  payloadOffset: number;
}

/** Flags, TopicId, MsgId (0 for QoS 0), Data of `size` octets. */
export function publishTemplate(topicId: number, qos: 0 | 1, size: number): SnPublishTemplate {
  const data = Buffer.alloc(size, 0x61);
  const buf = message(SN.PUBLISH, Buffer.concat([Buffer.from([QOS_FLAGS[qos]]), u16(topicId), u16(0), data]));
  const head = buf.length - data.length - 6; // the Length octets (1 or 3)
  return { buf, msgIdOffset: head + 4, payloadOffset: head + 6 };
}

/** Where a datagram's MsgType is (after the 1- or 3-octet Length), or -1 when it is too short. */
export function typeAt(b: Buffer): number {
  if (b.length < 2) return -1;
  if (b[0] !== 1) return 1;
  return b.length >= 4 ? 3 : -1;
}

interface Waiter {
  type: number;
  /** MsgId the answer must carry (at `msgIdAt` octets after the MsgType), or -1. */
  msgId: number;
  msgIdAt: number;
  resolve(b: Buffer, at: number): void;
}

export interface SnOptions {
  gatewayPort: number;
  host?: string;
  clientId: string;
  /** CONNECT Duration: keepalive seconds. */
  duration?: number;
  /** SO_RCVBUF of the client socket (the kernel caps it at net.core.rmem_max). */
  recvBufferSize?: number;
  retryMs?: number;
  tries?: number;
}

export class SnClient {
  /** A PUBLISH arrived: Data is b[at, b.length). QoS 1 ones are acknowledged here. */
  onPublish: ((b: Buffer, at: number) => void) | null = null;
  /** PUBACK for one of our PUBLISHes. */
  onPuback: ((msgId: number, rc: number) => void) | null = null;
  /** REGISTERs from the gateway (answered with REGACK accepted). */
  registers = 0;
  /** Datagrams not understood or not expected, by MsgType (-1: no MsgType). */
  readonly unexpected = new Map<number, number>();
  localPort = 0;
  private waiter: Waiter | null = null;
  private nextMsgId = 0;

  private constructor(
    readonly sock: dgram.Socket,
    readonly o: SnOptions,
  ) {
    sock.on('message', (b: Buffer) => this.onMessage(b));
    sock.on('error', () => {
      /* ICMP port unreachable after the gateway stopped */
    });
  }

  /** Bind, connect the socket to the gateway, CONNECT; resolves at CONNACK accepted. */
  static async open(o: SnOptions): Promise<SnClient> {
    const host = o.host ?? '127.0.0.1';
    const sock = dgram.createSocket({ type: 'udp4', ...(o.recvBufferSize ? { recvBufferSize: o.recvBufferSize } : {}) });
    await new Promise<void>((res, rej) => {
      sock.once('error', rej);
      sock.bind(0, host, () => {
        sock.off('error', rej);
        res();
      });
    });
    await new Promise<void>((res, rej) => {
      sock.once('error', rej);
      sock.connect(o.gatewayPort, host, () => {
        sock.off('error', rej);
        res();
      });
    });
    const c = new SnClient(sock, o);
    c.localPort = sock.address().port;
    try {
      const [b, at] = await c.request(connectMsg(o.clientId, o.duration ?? 600), SN.CONNACK, -1, 0);
      const rc = b[at + 1];
      if (rc !== 0) throw new Error(`CONNACK return code ${rc} for ${o.clientId}`);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  private msgId(): number {
    this.nextMsgId = (this.nextMsgId % 0xffff) + 1;
    return this.nextMsgId;
  }

  /** Send `out` every retryMs until a `type` answer (with `msgId` at `msgIdAt` after the MsgType) arrives. */
  request(out: Buffer, type: number, msgId: number, msgIdAt: number): Promise<[Buffer, number]> {
    const retryMs = this.o.retryMs ?? 1000;
    const tries = this.o.tries ?? 20;
    return new Promise((resolve, reject) => {
      let n = 0;
      let timer: NodeJS.Timeout | null = null;
      const fire = (): void => {
        if (n++ >= tries) {
          this.waiter = null;
          reject(new Error(`no answer (0x${type.toString(16)}) for ${this.o.clientId} after ${tries} tries`));
          return;
        }
        this.sock.send(out);
        timer = setTimeout(fire, retryMs);
      };
      this.waiter = {
        type,
        msgId,
        msgIdAt,
        resolve: (b, at) => {
          if (timer) clearTimeout(timer);
          this.waiter = null;
          resolve([b, at]);
        },
      };
      fire();
    });
  }

  /** REGISTER a topic name: its topic id (REGACK). */
  async register(name: string): Promise<number> {
    const id = this.msgId();
    // REGACK: TopicId (2), MsgId (2), ReturnCode
    const [b, at] = await this.request(registerMsg(id, name), SN.REGACK, id, 3);
    const rc = b[at + 5];
    if (rc !== 0) throw new Error(`REGACK return code ${rc} for ${name} (${this.o.clientId})`);
    return b.readUInt16BE(at + 1);
  }

  /** SUBSCRIBE to a topic name: the topic id the SUBACK gives (0 for a wildcard filter). */
  async subscribe(name: string, qos: 0 | 1): Promise<number> {
    const id = this.msgId();
    // SUBACK: Flags, TopicId (2), MsgId (2), ReturnCode
    const [b, at] = await this.request(subscribeMsg(id, name, qos), SN.SUBACK, id, 4);
    const rc = b[at + 6];
    if (rc !== 0) throw new Error(`SUBACK return code ${rc} for ${name} (${this.o.clientId})`);
    return b.readUInt16BE(at + 2);
  }

  send(b: Buffer): void {
    this.sock.send(b);
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }

  private onMessage(b: Buffer): void {
    const at = typeAt(b);
    if (at < 0) {
      this.odd(-1);
      return;
    }
    const type = b[at]!;
    if (type === SN.PUBLISH) {
      // Flags, TopicId (2), MsgId (2), Data
      if (b.length < at + 6) {
        this.odd(type);
        return;
      }
      const flags = b[at + 1]!;
      this.onPublish?.(b, at + 6);
      if ((flags & 0x60) === 0x20) this.sock.send(pubackMsg(b.readUInt16BE(at + 2), b.readUInt16BE(at + 4), 0));
      return;
    }
    if (type === SN.PUBACK) {
      if (b.length >= at + 6) this.onPuback?.(b.readUInt16BE(at + 3), b[at + 5]!);
      return;
    }
    const w = this.waiter;
    if (w !== null && w.type === type && (w.msgId < 0 || (b.length >= at + w.msgIdAt + 2 && b.readUInt16BE(at + w.msgIdAt) === w.msgId))) {
      w.resolve(b, at);
      return;
    }
    if (type === SN.REGISTER && b.length >= at + 5) {
      // TopicId (2), MsgId (2), TopicName: accepted.
      this.registers++;
      this.sock.send(regackMsg(b.readUInt16BE(at + 1), b.readUInt16BE(at + 3), 0));
      return;
    }
    this.odd(type);
  }

  private odd(type: number): void {
    this.unexpected.set(type, (this.unexpected.get(type) ?? 0) + 1);
  }
}
