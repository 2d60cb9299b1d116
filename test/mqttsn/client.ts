/**
 * MQTT-SN 1.2 test client over UDP (IPv4 and IPv6).
 *
 * Written from "MQTT For Sensor Networks (MQTT-SN) Protocol Specification Version 1.2"
 * (Stanford-Clark & Truong, IBM, 2013), independently of the gateway's codec: no code is shared
 * with src/. "§" references below are to that specification.
 *
 * It is a test tool, so it is loud: every malformed datagram is a thrown MqttSnDecodeError naming
 * the message; a datagram the client cannot decode poisons the client (every pending and later
 * call rejects with that error); every timeout names the awaited message.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { lookup } from 'node:dns/promises';

// ---------------------------------------------------------------------------------------------
// Codec (§5)
// ---------------------------------------------------------------------------------------------

/** §5.2.2 Table 3: MsgType values. 0x03, 0x11, 0x19 and 0x1E-0xFD are reserved; 0xFE (Encapsulated, §5.5) is unused here. */
export const MsgType = {
  ADVERTISE: 0x00,
  SEARCHGW: 0x01,
  GWINFO: 0x02,
  CONNECT: 0x04,
  CONNACK: 0x05,
  WILLTOPICREQ: 0x06,
  WILLTOPIC: 0x07,
  WILLMSGREQ: 0x08,
  WILLMSG: 0x09,
  REGISTER: 0x0a,
  REGACK: 0x0b,
  PUBLISH: 0x0c,
  PUBACK: 0x0d,
  PUBCOMP: 0x0e,
  PUBREC: 0x0f,
  PUBREL: 0x10,
  SUBSCRIBE: 0x12,
  SUBACK: 0x13,
  UNSUBSCRIBE: 0x14,
  UNSUBACK: 0x15,
  PINGREQ: 0x16,
  PINGRESP: 0x17,
  DISCONNECT: 0x18,
  WILLTOPICUPD: 0x1a,
  WILLTOPICRESP: 0x1b,
  WILLMSGUPD: 0x1c,
  WILLMSGRESP: 0x1d,
} as const;
export type MsgTypeName = keyof typeof MsgType;

const TYPE_NAMES = new Map<number, MsgTypeName>(
  (Object.keys(MsgType) as MsgTypeName[]).map((k) => [MsgType[k], k] as const),
);

/** §5.3.10 ReturnCode values (0x04-0xFF reserved). */
export const ReturnCode = { ACCEPTED: 0x00, CONGESTION: 0x01, INVALID_TOPIC_ID: 0x02, NOT_SUPPORTED: 0x03 } as const;

/** -1 is "QoS -1" (publish without connection, §6.8), coded 0b11. */
export type QoS = -1 | 0 | 1 | 2;

/** §5.3.4 TopicIdType: 0b00 normal topic id (a topic name in SUBSCRIBE/UNSUBSCRIBE), 0b01 predefined, 0b10 short name, 0b11 reserved. */
export const TopicIdType = { NORMAL: 0, PREDEFINED: 1, SHORT_NAME: 2, RESERVED: 3 } as const;
export type TopicIdTypeValue = 0 | 1 | 2 | 3;

/** §5.3.4 Flags octet: DUP bit 7, QoS bits 6-5, Retain bit 4, Will bit 3, CleanSession bit 2, TopicIdType bits 1-0. */
export interface Flags {
  dup: boolean;
  qos: QoS;
  retain: boolean;
  will: boolean;
  cleanSession: boolean;
  topicIdType: TopicIdTypeValue;
}

/**
 * One MQTT-SN message (§5.4). In PUBLISH, SUBSCRIBE and UNSUBSCRIBE, `topic` is a number for a
 * (normal or predefined) topic id and a string for a short topic name (PUBLISH, §5.3.11) or a
 * topic name (SUBSCRIBE/UNSUBSCRIBE TopicIdType 0b00, §5.4.15); the flags' topicIdType decides.
 * Optional fields are absent (not `undefined`) when the message lacks them.
 */
export type SnPacket =
  | { type: 'ADVERTISE'; gwId: number; duration: number } // §5.4.1
  | { type: 'SEARCHGW'; radius: number } // §5.4.2
  | { type: 'GWINFO'; gwId: number; gwAdd?: Buffer } // §5.4.3, GwAdd only when sent by a client
  | { type: 'CONNECT'; flags: Flags; protocolId: number; duration: number; clientId: string } // §5.4.4
  | { type: 'CONNACK'; returnCode: number } // §5.4.5
  | { type: 'WILLTOPICREQ' } // §5.4.6
  | { type: 'WILLTOPIC'; flags?: Flags; willTopic?: string } // §5.4.7, both absent = empty WILLTOPIC
  | { type: 'WILLMSGREQ' } // §5.4.8
  | { type: 'WILLMSG'; willMsg: Buffer } // §5.4.9
  | { type: 'REGISTER'; topicId: number; msgId: number; topicName: string } // §5.4.10
  | { type: 'REGACK'; topicId: number; msgId: number; returnCode: number } // §5.4.11
  | { type: 'PUBLISH'; flags: Flags; topic: number | string; msgId: number; data: Buffer } // §5.4.12
  | { type: 'PUBACK'; topicId: number; msgId: number; returnCode: number } // §5.4.13
  | { type: 'PUBCOMP'; msgId: number } // §5.4.14
  | { type: 'PUBREC'; msgId: number }
  | { type: 'PUBREL'; msgId: number }
  | { type: 'SUBSCRIBE'; flags: Flags; msgId: number; topic: number | string } // §5.4.15
  | { type: 'SUBACK'; flags: Flags; topicId: number; msgId: number; returnCode: number } // §5.4.16
  | { type: 'UNSUBSCRIBE'; flags: Flags; msgId: number; topic: number | string } // §5.4.17
  | { type: 'UNSUBACK'; msgId: number } // §5.4.18
  | { type: 'PINGREQ'; clientId?: string } // §5.4.19
  | { type: 'PINGRESP' } // §5.4.20
  | { type: 'DISCONNECT'; duration?: number } // §5.4.21
  | { type: 'WILLTOPICUPD'; flags?: Flags; willTopic?: string } // §5.4.22, both absent = empty
  | { type: 'WILLTOPICRESP'; returnCode: number } // §5.4.24
  | { type: 'WILLMSGUPD'; willMsg: Buffer } // §5.4.23
  | { type: 'WILLMSGRESP'; returnCode: number }; // §5.4.25

/** What `encode` takes: a message whose flags may be partial (missing bits are 0). */
type PartialFlags<P> = P extends unknown ? ('flags' extends keyof P ? Omit<P, 'flags'> & { flags?: Partial<Flags> } : P) : never;
export type SnPacketInput = PartialFlags<SnPacket>;

export type PacketOf<K extends MsgTypeName> = Extract<SnPacket, { type: K }>;

/** Thrown for every datagram that does not match the §5 formats; `messageName` names the message (or "datagram"). */
export class MqttSnDecodeError extends Error {
  constructor(
    readonly messageName: string,
    detail: string,
    readonly bytes?: Buffer,
  ) {
    super(`MQTT-SN decode: ${messageName}: ${detail}${bytes ? ` [${bytes.toString('hex')}]` : ''}`);
    this.name = 'MqttSnDecodeError';
  }
}

/** Thrown by `encode` for values the §5 formats cannot carry. */
export class MqttSnEncodeError extends Error {
  constructor(messageName: string, detail: string) {
    super(`MQTT-SN encode: ${messageName}: ${detail}`);
    this.name = 'MqttSnEncodeError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function flagsByte(name: string, f: Partial<Flags> | undefined): number {
  const qos = f?.qos ?? 0;
  if (![-1, 0, 1, 2].includes(qos)) throw new MqttSnEncodeError(name, `QoS ${qos} is not -1, 0, 1 or 2 (§5.3.4)`);
  const tt = f?.topicIdType ?? 0;
  if (![0, 1, 2, 3].includes(tt)) throw new MqttSnEncodeError(name, `TopicIdType ${tt} does not fit 2 bits (§5.3.4)`);
  return (
    (f?.dup ? 0x80 : 0) |
    ((qos === -1 ? 0b11 : qos) << 5) |
    (f?.retain ? 0x10 : 0) |
    (f?.will ? 0x08 : 0) |
    (f?.cleanSession ? 0x04 : 0) |
    tt
  );
}

function parseFlags(b: number): Flags {
  const q = (b >> 5) & 0b11;
  return {
    dup: (b & 0x80) !== 0,
    qos: q === 0b11 ? -1 : (q as 0 | 1 | 2),
    retain: (b & 0x10) !== 0,
    will: (b & 0x08) !== 0,
    cleanSession: (b & 0x04) !== 0,
    topicIdType: (b & 0b11) as TopicIdTypeValue,
  };
}

function u8(name: string, field: string, v: number): Buffer {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new MqttSnEncodeError(name, `${field} ${v} does not fit 1 octet`);
  return Buffer.from([v]);
}

function u16(name: string, field: string, v: number): Buffer {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new MqttSnEncodeError(name, `${field} ${v} does not fit 2 octets`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** A short topic name is exactly 2 octets (§6.7, §5.3.11). */
function shortName(name: string, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length !== 2) throw new MqttSnEncodeError(name, `short topic name "${s}" is ${b.length} octets, not 2 (§5.3.11)`);
  return b;
}

/** The 2-octet TopicId value of a short topic name (as PUBACK carries it, §5.3.11, §5.4.13). */
export function shortTopicId(s: string): number {
  return shortName('short topic name', s).readUInt16BE(0);
}

/** TopicId field of PUBLISH / topic field of SUBSCRIBE and UNSUBSCRIBE, per TopicIdType. */
function topicField(name: string, tt: number, topic: number | string, inSubscribe: boolean): Buffer {
  if (tt === TopicIdType.SHORT_NAME) {
    if (typeof topic !== 'string') throw new MqttSnEncodeError(name, 'TopicIdType short name needs a string topic');
    return shortName(name, topic);
  }
  if (inSubscribe && tt === TopicIdType.NORMAL) {
    if (typeof topic !== 'string') throw new MqttSnEncodeError(name, 'TopicIdType 0b00 carries a topic name (string) (§5.4.15)');
    return Buffer.from(topic, 'utf8');
  }
  if (typeof topic !== 'number') throw new MqttSnEncodeError(name, `TopicIdType ${tt} carries a 2-octet topic id (number)`);
  return u16(name, 'TopicId', topic);
}

/** §5.2.1: 1-octet Length when the whole message is < 256 octets, else 0x01 + 2 octets (big-endian) covering the whole message. */
function frame(name: MsgTypeName, body: Buffer, longLength: boolean): Buffer {
  const type = MsgType[name];
  if (!longLength && body.length + 2 <= 0xff) return Buffer.concat([Buffer.from([body.length + 2, type]), body]);
  const total = body.length + 4;
  if (total > 0xffff) throw new MqttSnEncodeError(name, `${total} octets exceed the 65535 the Length field can carry (§5.2.1)`);
  const h = Buffer.alloc(4);
  h[0] = 0x01;
  h.writeUInt16BE(total, 1);
  h[3] = type;
  return Buffer.concat([h, body]);
}

function payload(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/**
 * Encode one message (§5.4). `longLength` forces the 3-octet Length form even below 256 octets
 * (allowed by §5.2.1, "may use the shorter 1-octet format").
 */
export function encode(p: SnPacketInput, opts: { longLength?: boolean } = {}): Buffer {
  const n = p.type;
  const parts: Buffer[] = [];
  switch (p.type) {
    case 'ADVERTISE':
      parts.push(u8(n, 'GwId', p.gwId), u16(n, 'Duration', p.duration));
      break;
    case 'SEARCHGW':
      parts.push(u8(n, 'Radius', p.radius));
      break;
    case 'GWINFO':
      parts.push(u8(n, 'GwId', p.gwId));
      if (p.gwAdd) parts.push(p.gwAdd);
      break;
    case 'CONNECT':
      parts.push(
        Buffer.from([flagsByte(n, p.flags)]),
        u8(n, 'ProtocolId', p.protocolId),
        u16(n, 'Duration', p.duration),
        Buffer.from(p.clientId, 'utf8'),
      );
      break;
    case 'CONNACK':
    case 'WILLTOPICRESP':
    case 'WILLMSGRESP':
      parts.push(u8(n, 'ReturnCode', p.returnCode));
      break;
    case 'WILLTOPICREQ':
    case 'WILLMSGREQ':
    case 'PINGRESP':
      break;
    case 'WILLTOPIC':
    case 'WILLTOPICUPD':
      // §5.4.7/§5.4.22: the empty form (no Flags, no WillTopic) deletes the Will.
      if (p.willTopic !== undefined) parts.push(Buffer.from([flagsByte(n, p.flags)]), Buffer.from(p.willTopic, 'utf8'));
      else if (p.flags) throw new MqttSnEncodeError(n, 'flags without willTopic: the empty form has neither (§5.4.7)');
      break;
    case 'WILLMSG':
    case 'WILLMSGUPD':
      parts.push(p.willMsg);
      break;
    case 'REGISTER':
      parts.push(u16(n, 'TopicId', p.topicId), u16(n, 'MsgId', p.msgId), Buffer.from(p.topicName, 'utf8'));
      break;
    case 'REGACK':
    case 'PUBACK':
      parts.push(u16(n, 'TopicId', p.topicId), u16(n, 'MsgId', p.msgId), u8(n, 'ReturnCode', p.returnCode));
      break;
    case 'PUBLISH': {
      const fb = flagsByte(n, p.flags);
      parts.push(Buffer.from([fb]), topicField(n, fb & 0b11, p.topic, false), u16(n, 'MsgId', p.msgId), p.data);
      break;
    }
    case 'PUBCOMP':
    case 'PUBREC':
    case 'PUBREL':
    case 'UNSUBACK':
      parts.push(u16(n, 'MsgId', p.msgId));
      break;
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      const fb = flagsByte(n, p.flags);
      parts.push(Buffer.from([fb]), u16(n, 'MsgId', p.msgId), topicField(n, fb & 0b11, p.topic, true));
      break;
    }
    case 'SUBACK':
      parts.push(Buffer.from([flagsByte(n, p.flags)]), u16(n, 'TopicId', p.topicId), u16(n, 'MsgId', p.msgId), u8(n, 'ReturnCode', p.returnCode));
      break;
    case 'PINGREQ':
      if (p.clientId !== undefined) parts.push(Buffer.from(p.clientId, 'utf8'));
      break;
    case 'DISCONNECT':
      if (p.duration !== undefined) parts.push(u16(n, 'Duration', p.duration));
      break;
    default: {
      const never: never = p;
      throw new MqttSnEncodeError(String((never as { type: unknown }).type), 'unknown message type');
    }
  }
  return frame(n, Buffer.concat(parts), opts.longLength ?? false);
}

/** Decode one datagram (one message per datagram, §5.2.1 Length = whole datagram). Throws MqttSnDecodeError. */
export function decode(buf: Buffer): SnPacket {
  if (buf.length < 2) throw new MqttSnDecodeError('datagram', `${buf.length} octet(s), shorter than the 2-octet header (§5.2)`, buf);
  let len: number;
  let hdr: number;
  if (buf.readUInt8(0) === 0x01) {
    if (buf.length < 4) throw new MqttSnDecodeError('datagram', `3-octet Length form (0x01) needs 4 header octets, got ${buf.length} (§5.2.1)`, buf);
    len = buf.readUInt16BE(1);
    hdr = 4;
  } else {
    len = buf.readUInt8(0);
    hdr = 2;
  }
  const code = buf.readUInt8(hdr - 1);
  const n = TYPE_NAMES.get(code);
  if (n === undefined) {
    const what = code === 0xfe ? 'Encapsulated message (0xFE, §5.5) is not supported by this client' : `MsgType 0x${code.toString(16).padStart(2, '0')} is reserved (§5.2.2)`;
    throw new MqttSnDecodeError('datagram', what, buf);
  }
  if (len !== buf.length) throw new MqttSnDecodeError(n, `Length field says ${len} octets, the datagram has ${buf.length} (§5.2.1)`, buf);
  const b = buf.subarray(hdr);
  const fail = (detail: string): never => {
    throw new MqttSnDecodeError(n, detail, buf);
  };
  const exactly = (k: number, sect: string): void => {
    if (b.length !== k) fail(`variable part is ${b.length} octets, expected ${k} (${sect})`);
  };
  const atLeast = (k: number, sect: string): void => {
    if (b.length < k) fail(`variable part is ${b.length} octets, expected at least ${k} (${sect})`);
  };
  const text = (from: number, field: string): string => {
    try {
      return utf8.decode(b.subarray(from));
    } catch {
      return fail(`${field} is not valid UTF-8`);
    }
  };
  const bytes = (from: number): Buffer => Buffer.from(b.subarray(from));
  const topicOf = (tt: number, from: number, inSubscribe: boolean, sect: string): number | string => {
    if (tt === TopicIdType.RESERVED) fail(`TopicIdType 0b11 is reserved (§5.3.4)`);
    if (inSubscribe && tt === TopicIdType.NORMAL) return text(from, 'TopicName');
    if (inSubscribe && b.length - from !== 2) fail(`a topic id or short topic name is 2 octets, got ${b.length - from} (${sect})`);
    if (tt === TopicIdType.SHORT_NAME) {
      try {
        return utf8.decode(b.subarray(from, from + 2));
      } catch {
        return fail('short topic name is not valid UTF-8');
      }
    }
    return b.readUInt16BE(from);
  };
  switch (n) {
    case 'ADVERTISE':
      exactly(3, '§5.4.1');
      return { type: n, gwId: b.readUInt8(0), duration: b.readUInt16BE(1) };
    case 'SEARCHGW':
      exactly(1, '§5.4.2');
      return { type: n, radius: b.readUInt8(0) };
    case 'GWINFO':
      atLeast(1, '§5.4.3');
      return b.length === 1 ? { type: n, gwId: b.readUInt8(0) } : { type: n, gwId: b.readUInt8(0), gwAdd: bytes(1) };
    case 'CONNECT':
      atLeast(4, '§5.4.4');
      return { type: n, flags: parseFlags(b.readUInt8(0)), protocolId: b.readUInt8(1), duration: b.readUInt16BE(2), clientId: text(4, 'ClientId') };
    case 'CONNACK':
    case 'WILLTOPICRESP':
    case 'WILLMSGRESP':
      exactly(1, n === 'CONNACK' ? '§5.4.5' : n === 'WILLTOPICRESP' ? '§5.4.24' : '§5.4.25');
      return { type: n, returnCode: b.readUInt8(0) };
    case 'WILLTOPICREQ':
    case 'WILLMSGREQ':
    case 'PINGRESP':
      exactly(0, n === 'PINGRESP' ? '§5.4.20' : n === 'WILLTOPICREQ' ? '§5.4.6' : '§5.4.8');
      return { type: n };
    case 'WILLTOPIC':
    case 'WILLTOPICUPD':
      if (b.length === 0) return { type: n };
      return { type: n, flags: parseFlags(b.readUInt8(0)), willTopic: text(1, 'WillTopic') };
    case 'WILLMSG':
    case 'WILLMSGUPD':
      return { type: n, willMsg: bytes(0) };
    case 'REGISTER':
      atLeast(4, '§5.4.10');
      return { type: n, topicId: b.readUInt16BE(0), msgId: b.readUInt16BE(2), topicName: text(4, 'TopicName') };
    case 'REGACK':
    case 'PUBACK':
      exactly(5, n === 'REGACK' ? '§5.4.11' : '§5.4.13');
      return { type: n, topicId: b.readUInt16BE(0), msgId: b.readUInt16BE(2), returnCode: b.readUInt8(4) };
    case 'PUBLISH': {
      atLeast(5, '§5.4.12');
      const flags = parseFlags(b.readUInt8(0));
      return { type: n, flags, topic: topicOf(flags.topicIdType, 1, false, '§5.4.12'), msgId: b.readUInt16BE(3), data: bytes(5) };
    }
    case 'PUBCOMP':
    case 'PUBREC':
    case 'PUBREL':
    case 'UNSUBACK':
      exactly(2, n === 'UNSUBACK' ? '§5.4.18' : '§5.4.14');
      return { type: n, msgId: b.readUInt16BE(0) };
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      const sect = n === 'SUBSCRIBE' ? '§5.4.15' : '§5.4.17';
      atLeast(3, sect);
      const flags = parseFlags(b.readUInt8(0));
      return { type: n, flags, msgId: b.readUInt16BE(1), topic: topicOf(flags.topicIdType, 3, true, sect) };
    }
    case 'SUBACK':
      exactly(6, '§5.4.16');
      return { type: n, flags: parseFlags(b.readUInt8(0)), topicId: b.readUInt16BE(1), msgId: b.readUInt16BE(3), returnCode: b.readUInt8(5) };
    case 'PINGREQ':
      return b.length === 0 ? { type: n } : { type: n, clientId: text(0, 'ClientId') };
    case 'DISCONNECT':
      if (b.length === 0) return { type: n };
      exactly(2, '§5.4.21 (Duration is 2 octets)');
      return { type: n, duration: b.readUInt16BE(0) };
    default: {
      const never: never = n;
      return fail(`unhandled ${String(never)}`);
    }
  }
}

/** Hex (whitespace ignored) or bytes. */
function toBytes(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v.replace(/\s+/g, ''), 'hex') : v;
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/** A PUBLISH received from the gateway. */
export interface ReceivedPublish {
  /** Topic name when known: registered (REGISTER/REGACK, SUBACK of a plain name), `predefinedTopics`, or the short name itself. */
  topic: string | undefined;
  topicId: number;
  topicIdType: TopicIdTypeValue;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  msgId: number;
}

/** A topic to publish to: a name (registered first if not yet known), a raw normal topic id, a predefined id, or a short name. */
export type PublishTopic = string | { topicId: number } | { predefined: number } | { short: string };
/** A topic to subscribe to: a name (wildcards allowed), a predefined id, or a short name. */
export type SubscribeTopic = string | { predefined: number } | { short: string };

export interface Will {
  topic: string;
  message: Buffer | string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export interface ClientOptions {
  /** Gateway address (IPv4/IPv6 literal or a host name, resolved once). */
  host: string;
  port: number;
  /** Tretry in ms (§6.13 suggests 10-15 s; 1000 here for tests). */
  retryMs?: number;
  /** Nretry: retransmissions before giving up (§6.13 suggests 3-5); default 3. */
  maxRetries?: number;
  /** Predefined topic id -> name, known in advance by client and gateway (§6.7). */
  predefinedTopics?: Record<number, string>;
  /** Acknowledge received QoS 1/2 PUBLISHes (PUBACK / PUBREC); default true. False lets a test watch the gateway retransmit. */
  autoAck?: boolean;
  /** Local address to bind (default: any). */
  bindAddress?: string;
}

export interface ConnectOptions {
  clientId: string;
  cleanSession?: boolean;
  /** Keep-alive Duration in seconds (§5.4.4); default 60. */
  duration?: number;
  will?: Will;
}

export type ClientState = 'disconnected' | 'active' | 'asleep' | 'awake' | 'lost';

/** A reply carried a non-zero ReturnCode (§5.3.10). */
export class MqttSnRejectedError extends Error {
  constructor(
    readonly messageName: string,
    readonly returnCode: number,
  ) {
    const why = ['accepted', 'rejected: congestion', 'rejected: invalid topic ID', 'rejected: not supported'][returnCode] ?? 'reserved';
    super(`MQTT-SN: ${messageName} ReturnCode 0x${returnCode.toString(16).padStart(2, '0')} (${why})`);
    this.name = 'MqttSnRejectedError';
  }
}

/** The awaited reply did not come after 1 + Nretry transmissions (§6.13), or within the given time. */
export class MqttSnTimeoutError extends Error {
  constructor(
    readonly awaited: string,
    detail: string,
  ) {
    super(`MQTT-SN: no ${awaited} ${detail}`);
    this.name = 'MqttSnTimeoutError';
  }
}

/** The gateway sent DISCONNECT while a reply was awaited (§5.4.21). */
export class MqttSnDisconnectedError extends Error {
  constructor(awaited: string) {
    super(`MQTT-SN: the gateway sent DISCONNECT while ${awaited} was awaited`);
    this.name = 'MqttSnDisconnectedError';
  }
}

interface ClientEvents {
  message: ReceivedPublish;
  register: { topicId: number; topicName: string };
  disconnect: PacketOf<'DISCONNECT'>;
  advertise: PacketOf<'ADVERTISE'>;
  gwinfo: PacketOf<'GWINFO'>;
  unexpected: SnPacket;
  error: Error;
}
type Listener<T> = (v: T) => void;

const PROGRESS = Symbol('progress');
type Progress = typeof PROGRESS;

interface Waiter {
  awaited: string;
  /** true when the packet was consumed. */
  offer(p: SnPacket): boolean;
  fail(e: Error): void;
}

interface LogEntry {
  dir: 'in' | 'out';
  bytes: Buffer;
}

function udpType(family: number): 'udp4' | 'udp6' {
  return family === 6 ? 'udp6' : 'udp4';
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const f = net.isIP(host);
  if (f === 4 || f === 6) return { address: host, family: f };
  const r = await lookup(host);
  return { address: r.address, family: r.family === 6 ? 6 : 4 };
}

function bindSocket(s: dgram.Socket, port: number, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port, address }, () => {
      s.off('error', reject);
      resolve();
    });
  });
}

function isMulticast(address: string): boolean {
  if (net.isIPv4(address)) {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return net.isIPv6(address) && address.toLowerCase().startsWith('ff');
}

export class MqttSnClient {
  readonly host: string;
  readonly port: number;
  readonly retryMs: number;
  readonly maxRetries: number;
  autoAck: boolean;
  state: ClientState = 'disconnected';
  /** Client id of the last connect(), sent by wake() (§5.4.19). */
  clientId: string | undefined;
  /** Messages the client did not expect (duplicate replies, requests it cannot serve): tests may assert it stays empty. */
  readonly unexpected: SnPacket[] = [];
  /** Every datagram in and out, oldest first (last 1000). */
  readonly log: LogEntry[] = [];

  private readonly socket: dgram.Socket;
  private readonly waiters: Waiter[] = [];
  private readonly rawWaiters: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  private readonly inbox: ReceivedPublish[] = [];
  private readonly inboxWaiters: Array<{ resolve: (m: ReceivedPublish) => void; reject: (e: Error) => void }> = [];
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  private readonly topicNames = new Map<number, string>(); // normal topic id -> name
  private readonly topicIds = new Map<string, number>(); // name -> normal topic id
  private readonly predefined: Map<number, string>;
  private readonly inboundQos2 = new Set<number>(); // msgIds PUBREC'd and not yet released
  private collector: ReceivedPublish[] | undefined;
  private connecting: { will: Will | undefined } | undefined;
  private failure: Error | undefined;
  private closed = false;
  private msgId = 0;

  private constructor(socket: dgram.Socket, address: string, o: ClientOptions) {
    this.socket = socket;
    this.host = address;
    this.port = o.port;
    this.retryMs = o.retryMs ?? 1000;
    this.maxRetries = o.maxRetries ?? 3;
    this.autoAck = o.autoAck ?? true;
    this.predefined = new Map(Object.entries(o.predefinedTopics ?? {}).map(([k, v]) => [Number(k), v]));
    socket.on('message', (buf) => this.onDatagram(buf));
    socket.on('error', (e) => this.poison(e));
  }

  /** Open a UDP socket towards the gateway (IPv4 or IPv6 after the host's family). */
  static async create(o: ClientOptions): Promise<MqttSnClient> {
    const { address, family } = await resolveHost(o.host);
    const socket = dgram.createSocket(udpType(family));
    await bindSocket(socket, 0, o.bindAddress);
    return new MqttSnClient(socket, address, o);
  }

  /** The local UDP port. */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** Topic name of a normal topic id learnt from REGACK, SUBACK or a gateway REGISTER. */
  topicName(topicId: number): string | undefined {
    return this.topicNames.get(topicId);
  }

  on<K extends keyof ClientEvents>(event: K, l: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(l as Listener<never>);
    return () => set.delete(l as Listener<never>);
  }

  private emit<K extends keyof ClientEvents>(event: K, v: ClientEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as Listener<ClientEvents[K]>)(v);
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Encode and send one message, awaiting nothing. */
  send(p: SnPacketInput, opts: { longLength?: boolean } = {}): void {
    this.sendBytes(encode(p, opts));
  }

  /** Send arbitrary bytes (Buffer or hex), e.g. a malformed datagram for a gateway negative test. */
  sendRaw(bytes: Buffer | string): void {
    this.usable();
    this.sendBytes(toBytes(bytes));
  }

  /** The next datagram, undecoded and unprocessed (it bypasses the client's handling). */
  nextRaw(timeoutMs = this.defaultTimeout()): Promise<Buffer> {
    this.usable();
    return new Promise((resolve, reject) => {
      const entry = {
        resolve: (b: Buffer) => {
          clearTimeout(t);
          resolve(b);
        },
        reject: (e: Error) => {
          clearTimeout(t);
          reject(e);
        },
      };
      const t = setTimeout(() => {
        const i = this.rawWaiters.indexOf(entry);
        if (i >= 0) this.rawWaiters.splice(i, 1);
        reject(new MqttSnTimeoutError('datagram', `from ${this.host}:${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.rawWaiters.push(entry);
    });
  }

  /** Send bytes and await the next datagram (raw escape hatch). */
  raw(bytes: Buffer | string, timeoutMs = this.defaultTimeout()): Promise<Buffer> {
    const next = this.nextRaw(timeoutMs);
    this.sendRaw(bytes);
    return next;
  }

  /** Await the next message of a type (consumed: the client does not process it). */
  waitFor<K extends MsgTypeName>(type: K, timeoutMs = this.defaultTimeout()): Promise<PacketOf<K>> {
    this.usable();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        awaited: type,
        offer: (p) => {
          if (p.type !== type) return false;
          done();
          resolve(p as PacketOf<K>);
          return true;
        },
        fail: (e) => {
          done();
          reject(e);
        },
      };
      const done = (): void => {
        clearTimeout(t);
        this.removeWaiter(w);
      };
      const t = setTimeout(() => w.fail(new MqttSnTimeoutError(type, `from ${this.host}:${this.port} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push(w);
    });
  }

  // ---- operations ---------------------------------------------------------------------------

  /** CONNECT (§6.2), answering WILLTOPICREQ/WILLMSGREQ with the will (§6.2). Rejects with MqttSnRejectedError on a refusing CONNACK. */
  async connect(o: ConnectOptions): Promise<void> {
    this.clientId = o.clientId;
    this.connecting = { will: o.will };
    try {
      const rc = await this.request(
        { type: 'CONNECT', flags: { will: o.will !== undefined, cleanSession: o.cleanSession ?? true }, protocolId: 0x01, duration: o.duration ?? 60, clientId: o.clientId },
        'CONNACK',
        (p) => (p.type === 'CONNACK' ? p.returnCode : p.type === 'WILLTOPICREQ' || p.type === 'WILLMSGREQ' ? PROGRESS : undefined),
      );
      if (rc !== ReturnCode.ACCEPTED) throw new MqttSnRejectedError('CONNACK', rc);
      this.state = 'active';
    } finally {
      this.connecting = undefined;
    }
  }

  /** REGISTER a topic name (§6.5) -> its topic id. Rejects with MqttSnRejectedError on a refusing REGACK. */
  async register(topicName: string): Promise<number> {
    const msgId = this.nextMsgId();
    const ack = await this.request({ type: 'REGISTER', topicId: 0x0000, msgId, topicName }, 'REGACK', (p) => (p.type === 'REGACK' && p.msgId === msgId ? p : undefined));
    if (ack.returnCode !== ReturnCode.ACCEPTED) throw new MqttSnRejectedError('REGACK', ack.returnCode);
    this.remember(ack.topicId, topicName);
    return ack.topicId;
  }

  /**
   * PUBLISH (§6.6, §6.7 for predefined ids and short names). QoS 1 resolves on PUBACK, QoS 2 on PUBCOMP (after PUBREC -> PUBREL), QoS 0/-1
   * once sent. A PUBACK with a non-zero ReturnCode (also in answer to QoS 2, §5.4.13) rejects
   * with MqttSnRejectedError. A topic name not yet known is REGISTERed first.
   */
  async publish(topic: PublishTopic, data: Buffer | string, opts: { qos?: QoS; retain?: boolean } = {}): Promise<{ msgId: number; topicId: number }> {
    const qos = opts.qos ?? 0;
    const t = await this.resolvePublishTopic(topic);
    const msgId = qos > 0 ? this.nextMsgId() : 0x0000;
    const pkt: SnPacketInput = { type: 'PUBLISH', flags: { qos, retain: opts.retain ?? false, topicIdType: t.topicIdType }, topic: t.topic, msgId, data: payload(data) };
    if (qos <= 0) {
      this.usable();
      this.send(pkt);
      return { msgId, topicId: t.topicId };
    }
    const first = await this.request(
      pkt,
      qos === 1 ? 'PUBACK' : 'PUBREC',
      (p) => ((p.type === 'PUBACK' || (qos === 2 && p.type === 'PUBREC')) && p.msgId === msgId ? p : undefined),
      { dupOnRetry: true },
    );
    if (first.type === 'PUBACK') {
      if (first.returnCode !== ReturnCode.ACCEPTED) throw new MqttSnRejectedError('PUBACK', first.returnCode);
      if (qos === 2) throw new Error(`MQTT-SN: accepting PUBACK in answer to a QoS 2 PUBLISH (msgId ${msgId}); expected PUBREC (§6.6)`);
      if (first.topicId !== t.topicId) throw new Error(`MQTT-SN: PUBACK TopicId ${first.topicId} differs from the PUBLISH's ${t.topicId} (§5.4.13)`);
      return { msgId, topicId: t.topicId };
    }
    await this.request({ type: 'PUBREL', msgId }, 'PUBCOMP', (p) => (p.type === 'PUBCOMP' && p.msgId === msgId ? true : undefined));
    return { msgId, topicId: t.topicId };
  }

  /** SUBSCRIBE (§6.9) -> SUBACK's topic id, granted QoS and ReturnCode (no throw on refusal). */
  async subscribe(topic: SubscribeTopic, qos: 0 | 1 | 2 = 0): Promise<{ topicId: number; grantedQos: QoS; returnCode: number; msgId: number }> {
    const t = subscribeTopic(topic);
    const msgId = this.nextMsgId();
    const ack = await this.request(
      { type: 'SUBSCRIBE', flags: { qos, topicIdType: t.topicIdType }, msgId, topic: t.topic },
      'SUBACK',
      (p) => (p.type === 'SUBACK' && p.msgId === msgId ? p : undefined),
      { dupOnRetry: true },
    );
    // §5.4.16: the TopicId is relevant for a plain topic name only (0x0000 for wildcards).
    if (ack.returnCode === ReturnCode.ACCEPTED && typeof topic === 'string' && !/[#+]/.test(topic) && ack.topicId !== 0) this.remember(ack.topicId, topic);
    return { topicId: ack.topicId, grantedQos: ack.flags.qos, returnCode: ack.returnCode, msgId };
  }

  /** UNSUBSCRIBE (§6.9), resolved by UNSUBACK. */
  async unsubscribe(topic: SubscribeTopic): Promise<void> {
    const t = subscribeTopic(topic);
    const msgId = this.nextMsgId();
    await this.request({ type: 'UNSUBSCRIBE', flags: { topicIdType: t.topicIdType }, msgId, topic: t.topic }, 'UNSUBACK', (p) =>
      p.type === 'UNSUBACK' && p.msgId === msgId ? true : undefined,
    );
  }

  /** PINGREQ without ClientId -> PINGRESP (§6.11). */
  async ping(): Promise<void> {
    await this.request({ type: 'PINGREQ' }, 'PINGRESP', (p) => (p.type === 'PINGRESP' ? true : undefined));
  }

  /** DISCONNECT with Duration (§6.14): the gateway answers DISCONNECT and the client is asleep. */
  async sleep(durationSec: number): Promise<void> {
    await this.request({ type: 'DISCONNECT', duration: durationSec }, 'DISCONNECT', (p) => (p.type === 'DISCONNECT' ? true : undefined));
    this.state = 'asleep';
  }

  /**
   * PINGREQ with ClientId (§6.14): the client is awake; the gateway sends what it buffered, then
   * PINGRESP, and the client is asleep again. Returns the PUBLISHes received meanwhile (acknowledged
   * as usual, emitted as 'message', and not queued for nextMessage()).
   */
  async wake(): Promise<ReceivedPublish[]> {
    if (this.clientId === undefined) throw new Error('MQTT-SN: wake() needs the ClientId of an earlier connect()');
    const got: ReceivedPublish[] = [];
    this.collector = got;
    this.state = 'awake';
    try {
      await this.request({ type: 'PINGREQ', clientId: this.clientId }, 'PINGRESP', (p) =>
        p.type === 'PINGRESP' ? true : p.type === 'PUBLISH' || p.type === 'REGISTER' || p.type === 'PUBREL' ? PROGRESS : undefined,
      );
    } finally {
      this.collector = undefined;
    }
    this.state = 'asleep';
    return got;
  }

  /** DISCONNECT without Duration, acknowledged by DISCONNECT (§6.12). */
  async disconnect(): Promise<void> {
    await this.request({ type: 'DISCONNECT' }, 'DISCONNECT', (p) => (p.type === 'DISCONNECT' ? true : undefined));
    this.state = 'disconnected';
  }

  /** WILLTOPICUPD (§6.4); no argument sends the empty form, deleting the will. Rejects on a refusing WILLTOPICRESP. */
  async willTopicUpdate(will?: { topic: string; qos?: 0 | 1 | 2; retain?: boolean }): Promise<void> {
    const p: SnPacketInput = will ? { type: 'WILLTOPICUPD', flags: { qos: will.qos ?? 0, retain: will.retain ?? false }, willTopic: will.topic } : { type: 'WILLTOPICUPD' };
    const rc = await this.request(p, 'WILLTOPICRESP', (r) => (r.type === 'WILLTOPICRESP' ? r.returnCode : undefined));
    if (rc !== ReturnCode.ACCEPTED) throw new MqttSnRejectedError('WILLTOPICRESP', rc);
  }

  /** WILLMSGUPD (§6.4). Rejects on a refusing WILLMSGRESP. */
  async willMessageUpdate(message: Buffer | string): Promise<void> {
    const rc = await this.request({ type: 'WILLMSGUPD', willMsg: payload(message) }, 'WILLMSGRESP', (r) => (r.type === 'WILLMSGRESP' ? r.returnCode : undefined));
    if (rc !== ReturnCode.ACCEPTED) throw new MqttSnRejectedError('WILLMSGRESP', rc);
  }

  /** The next received PUBLISH (queued in arrival order). */
  nextMessage(timeoutMs = this.defaultTimeout()): Promise<ReceivedPublish> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    this.usable();
    return new Promise((resolve, reject) => {
      const entry = {
        resolve: (m: ReceivedPublish) => {
          if (t) clearTimeout(t);
          resolve(m);
        },
        reject: (e: Error) => {
          if (t) clearTimeout(t);
          reject(e);
        },
      };
      const t =
        timeoutMs === Infinity
          ? undefined
          : setTimeout(() => {
              const i = this.inboxWaiters.indexOf(entry);
              if (i >= 0) this.inboxWaiters.splice(i, 1);
              reject(new MqttSnTimeoutError('PUBLISH', `from ${this.host}:${this.port} within ${timeoutMs} ms`));
            }, timeoutMs);
      this.inboxWaiters.push(entry);
    });
  }

  /** Received PUBLISHes as an async iterator; ends when the client is closed. */
  async *messages(): AsyncGenerator<ReceivedPublish> {
    for (;;) {
      if (this.closed && this.inbox.length === 0) return;
      try {
        yield await this.nextMessage(Infinity);
      } catch (e) {
        if (this.closed && !this.failure) return;
        throw e;
      }
    }
  }

  /** Close the socket; pending calls reject. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('MQTT-SN: client closed'));
    this.socket.close();
  }

  /** QoS -1 PUBLISH (§6.8): no connection, a predefined topic id (number) or a short topic name. */
  static async publishMinusOne(address: string, port: number, topic: number | { short: string }, data: Buffer | string, opts: { retain?: boolean } = {}): Promise<void> {
    const { address: a, family } = await resolveHost(address);
    const s = dgram.createSocket(udpType(family));
    const pkt = encode({
      type: 'PUBLISH',
      flags: { qos: -1, retain: opts.retain ?? false, topicIdType: typeof topic === 'number' ? TopicIdType.PREDEFINED : TopicIdType.SHORT_NAME },
      topic: typeof topic === 'number' ? topic : topic.short,
      msgId: 0x0000,
      data: payload(data),
    });
    await new Promise<void>((resolve, reject) => s.send(pkt, port, a, (e) => (e ? reject(e) : resolve())));
    s.close();
  }

  /**
   * SEARCHGW (§6.1) to `multicastAddress:port` and await GWINFO, retransmitting every `retryMs`
   * `retries` times. GWINFO is awaited both by unicast (to the sending socket) and, for a multicast
   * address, on the group (the spec broadcasts it; joining needs the gateway's group socket to allow
   * address reuse). A unicast address (e.g. 127.0.0.1) skips the group.
   */
  static async searchGateway(
    radius: number,
    o: { multicastAddress: string; port: number; interface?: string; retryMs?: number; retries?: number; listenOnGroup?: boolean },
  ): Promise<{ gwId: number; gwAdd?: Buffer; address: string; port: number }> {
    const family = net.isIPv6(o.multicastAddress) ? 6 : 4;
    const multicast = isMulticast(o.multicastAddress);
    const sender = dgram.createSocket(udpType(family));
    await bindSocket(sender, 0);
    if (multicast) {
      if (o.interface) sender.setMulticastInterface(o.interface);
      sender.setMulticastLoopback(true);
      if (radius > 0) sender.setMulticastTTL(radius); // §5.3.9: Radius 0x00 = all nodes; keep the default hop limit then
    }
    const group = multicast && (o.listenOnGroup ?? true) ? await GatewayListener.open({ multicastAddress: o.multicastAddress, port: o.port, interface: o.interface }) : undefined;
    const retryMs = o.retryMs ?? 1000;
    const retries = o.retries ?? 3;
    const bytes = encode({ type: 'SEARCHGW', radius });
    try {
      return await new Promise((resolve, reject) => {
        let sends = 0;
        let timer: NodeJS.Timeout | undefined;
        const finish = (e: Error | undefined, v?: { gwId: number; gwAdd?: Buffer; address: string; port: number }): void => {
          clearTimeout(timer);
          sender.removeAllListeners('message');
          group?.stopWaiting();
          if (e) reject(e);
          else if (v) resolve(v);
        };
        const onGwInfo = (buf: Buffer, rinfo: dgram.RemoteInfo): void => {
          let p: SnPacket;
          try {
            p = decode(buf);
          } catch (e) {
            finish(e as Error);
            return;
          }
          if (p.type !== 'GWINFO') return; // e.g. our own SEARCHGW looped back, or ADVERTISE
          finish(undefined, { gwId: p.gwId, ...(p.gwAdd ? { gwAdd: p.gwAdd } : {}), address: rinfo.address, port: rinfo.port });
        };
        sender.on('message', onGwInfo);
        group?.onDatagram(onGwInfo);
        const fire = (): void => {
          if (sends > retries) {
            finish(new MqttSnTimeoutError('GWINFO', `from ${o.multicastAddress}:${o.port} after ${sends} SEARCHGW (every ${retryMs} ms)`));
            return;
          }
          sends++;
          sender.send(bytes, o.port, o.multicastAddress, (e) => {
            if (e) finish(e);
          });
          timer = setTimeout(fire, retryMs);
        };
        fire();
      });
    } finally {
      sender.close();
      group?.close();
    }
  }

  /** Listen on a multicast group for ADVERTISE (§6.1) and GWINFO broadcasts. */
  static listen(o: { multicastAddress: string; port: number; interface?: string }): Promise<GatewayListener> {
    return GatewayListener.open(o);
  }

  // ---- internals ----------------------------------------------------------------------------

  private defaultTimeout(): number {
    return this.retryMs * (this.maxRetries + 1);
  }

  private nextMsgId(): number {
    this.msgId = (this.msgId % 0xffff) + 1; // 1..65535; 0x0000 means "no MsgId" (§5.3.7)
    return this.msgId;
  }

  private remember(topicId: number, name: string): void {
    this.topicNames.set(topicId, name);
    this.topicIds.set(name, topicId);
  }

  private async resolvePublishTopic(t: PublishTopic): Promise<{ topic: number | string; topicIdType: TopicIdTypeValue; topicId: number }> {
    if (typeof t === 'string') {
      const id = this.topicIds.get(t) ?? (await this.register(t));
      return { topic: id, topicIdType: TopicIdType.NORMAL, topicId: id };
    }
    if ('topicId' in t) return { topic: t.topicId, topicIdType: TopicIdType.NORMAL, topicId: t.topicId };
    if ('predefined' in t) return { topic: t.predefined, topicIdType: TopicIdType.PREDEFINED, topicId: t.predefined };
    return { topic: t.short, topicIdType: TopicIdType.SHORT_NAME, topicId: shortTopicId(t.short) };
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('MQTT-SN: client closed');
  }

  private sendBytes(b: Buffer): void {
    this.usable();
    this.record('out', b);
    this.socket.send(b, this.port, this.host, (e) => {
      if (e) this.poison(e);
    });
  }

  private record(dir: 'in' | 'out', bytes: Buffer): void {
    this.log.push({ dir, bytes });
    if (this.log.length > 1000) this.log.shift();
  }

  /**
   * Send `first` and await the reply `match` accepts, retransmitting after Tretry up to Nretry
   * times (§6.13); PUBLISH/SUBSCRIBE retransmissions carry DUP=1 (§5.3.4). A PROGRESS answer
   * (e.g. WILLTOPICREQ during CONNECT) shows the gateway got the message: retransmission stops,
   * the wait restarts, and the packet still goes to the default handling.
   */
  private request<T>(first: SnPacketInput, awaited: string, match: (p: SnPacket) => T | Progress | undefined, o: { dupOnRetry?: boolean } = {}): Promise<T> {
    this.usable();
    const bytes = encode(first);
    const retry = o.dupOnRetry && 'flags' in first ? encode({ ...first, flags: { ...first.flags, dup: true } } as SnPacketInput) : bytes;
    return new Promise<T>((resolve, reject) => {
      let sends = 0;
      let waits = 0;
      let progressed = false;
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.removeWaiter(w);
      };
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(onTimer, this.retryMs);
      };
      const transmit = (): void => {
        try {
          this.sendBytes(sends === 0 ? bytes : retry);
        } catch (e) {
          done();
          reject(e as Error);
          return;
        }
        sends++;
      };
      const onTimer = (): void => {
        waits++;
        if (waits > this.maxRetries) {
          done();
          const what = progressed ? `after the gateway's last message (${waits} x Tretry ${this.retryMs} ms)` : `after ${sends} transmission(s) of ${first.type} (Tretry ${this.retryMs} ms, Nretry ${this.maxRetries}, §6.13)`;
          reject(new MqttSnTimeoutError(awaited, `from ${this.host}:${this.port} ${what}`));
          return;
        }
        if (!progressed) transmit();
        arm();
      };
      const w: Waiter = {
        awaited,
        offer: (p) => {
          const r = match(p);
          if (r === undefined) return false;
          if (r === PROGRESS) {
            progressed = true;
            waits = 0;
            arm();
            return false;
          }
          done();
          resolve(r);
          return true;
        },
        fail: (e) => {
          done();
          reject(e);
        },
      };
      this.waiters.push(w);
      transmit();
      if (sends > 0) arm();
    });
  }

  private removeWaiter(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private failAll(e: Error): void {
    for (const w of [...this.waiters]) w.fail(e);
    for (const r of this.rawWaiters.splice(0)) r.reject(e);
    for (const r of this.inboxWaiters.splice(0)) r.reject(e);
  }

  /** A decode failure or socket error: every pending and later call rejects with it. */
  private poison(e: Error): void {
    if (!this.failure) this.failure = e;
    this.state = 'lost';
    this.emit('error', e);
    this.failAll(e);
  }

  private onDatagram(buf: Buffer): void {
    if (this.closed || this.failure) return;
    this.record('in', buf);
    const raw = this.rawWaiters.shift();
    if (raw) {
      raw.resolve(buf);
      return;
    }
    let p: SnPacket;
    try {
      p = decode(buf);
    } catch (e) {
      this.poison(e as Error);
      return;
    }
    for (const w of [...this.waiters]) if (w.offer(p)) return;
    this.handle(p);
  }

  /** Messages no pending call consumed. */
  private handle(p: SnPacket): void {
    switch (p.type) {
      case 'PUBLISH':
        this.onPublish(p);
        return;
      case 'PUBREL': // QoS 2, receiver side (§6.10, as §6.6 in reverse)
        this.inboundQos2.delete(p.msgId);
        this.send({ type: 'PUBCOMP', msgId: p.msgId });
        return;
      case 'REGISTER': // gateway-initiated registration before a PUBLISH (§6.10)
        this.remember(p.topicId, p.topicName);
        this.send({ type: 'REGACK', topicId: p.topicId, msgId: p.msgId, returnCode: ReturnCode.ACCEPTED });
        this.emit('register', { topicId: p.topicId, topicName: p.topicName });
        return;
      case 'PINGREQ': // keep-alive from the gateway (§5.4.19, §6.11)
        this.send({ type: 'PINGRESP' });
        return;
      case 'DISCONNECT': {
        this.state = 'disconnected';
        const pending = [...this.waiters];
        this.emit('disconnect', p);
        for (const w of pending) w.fail(new MqttSnDisconnectedError(w.awaited));
        return;
      }
      case 'WILLTOPICREQ': // §6.2: answered also when the gateway retransmits it
        if (this.connecting?.will) {
          const w = this.connecting.will;
          this.send({ type: 'WILLTOPIC', flags: { qos: w.qos ?? 0, retain: w.retain ?? false }, willTopic: w.topic });
          return;
        }
        break;
      case 'WILLMSGREQ':
        if (this.connecting?.will) {
          this.send({ type: 'WILLMSG', willMsg: payload(this.connecting.will.message) });
          return;
        }
        break;
      case 'ADVERTISE':
        this.emit('advertise', p);
        return;
      case 'GWINFO':
        this.emit('gwinfo', p);
        return;
      default:
        break;
    }
    this.unexpected.push(p);
    this.emit('unexpected', p);
  }

  private onPublish(p: PacketOf<'PUBLISH'>): void {
    const tt = p.flags.topicIdType;
    let topicId: number;
    let topic: string | undefined;
    if (typeof p.topic === 'string') {
      topic = p.topic;
      topicId = shortTopicId(p.topic);
    } else {
      topicId = p.topic;
      topic = tt === TopicIdType.PREDEFINED ? this.predefined.get(topicId) : this.topicNames.get(topicId);
    }
    const m: ReceivedPublish = { topic, topicId, topicIdType: tt, payload: p.data, qos: p.flags.qos, retain: p.flags.retain, dup: p.flags.dup, msgId: p.msgId };
    if (m.qos === 2) {
      // QoS 2 (§6.10): exactly once: a PUBLISH whose msgId awaits PUBREL is a duplicate; acknowledge it again, deliver once.
      const dup = this.inboundQos2.has(p.msgId);
      this.inboundQos2.add(p.msgId);
      if (!dup) this.deliver(m);
      if (this.autoAck) this.send({ type: 'PUBREC', msgId: p.msgId });
      return;
    }
    this.deliver(m);
    if (m.qos === 1 && this.autoAck) this.send({ type: 'PUBACK', topicId, msgId: p.msgId, returnCode: ReturnCode.ACCEPTED });
  }

  private deliver(m: ReceivedPublish): void {
    this.emit('message', m);
    if (this.collector) {
      this.collector.push(m);
      return;
    }
    const w = this.inboxWaiters.shift();
    if (w) w.resolve(m);
    else this.inbox.push(m);
  }
}

function subscribeTopic(t: SubscribeTopic): { topic: number | string; topicIdType: TopicIdTypeValue } {
  if (typeof t === 'string') return { topic: t, topicIdType: TopicIdType.NORMAL };
  if ('predefined' in t) return { topic: t.predefined, topicIdType: TopicIdType.PREDEFINED };
  return { topic: t.short, topicIdType: TopicIdType.SHORT_NAME };
}

/** A socket joined to the gateways' multicast group: ADVERTISE and GWINFO broadcasts (§6.1). */
export class GatewayListener {
  private readonly queue: Array<{ packet: SnPacket; address: string; port: number }> = [];
  private waiter: (() => void) | undefined;
  private extra: ((buf: Buffer, rinfo: dgram.RemoteInfo) => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (buf, rinfo) => {
      if (this.extra) {
        this.extra(buf, rinfo);
        return;
      }
      try {
        this.queue.push({ packet: decode(buf), address: rinfo.address, port: rinfo.port });
      } catch (e) {
        this.failure ??= e as Error;
      }
      this.waiter?.();
    });
  }

  static async open(o: { multicastAddress: string; port: number; interface?: string }): Promise<GatewayListener> {
    const s = dgram.createSocket({ type: net.isIPv6(o.multicastAddress) ? 'udp6' : 'udp4', reuseAddr: true });
    await bindSocket(s, o.port);
    if (isMulticast(o.multicastAddress)) s.addMembership(o.multicastAddress, o.interface);
    return new GatewayListener(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** @internal searchGateway() takes the datagrams while it waits. */
  onDatagram(f: (buf: Buffer, rinfo: dgram.RemoteInfo) => void): void {
    this.extra = f;
  }

  /** @internal */
  stopWaiting(): void {
    this.extra = undefined;
  }

  /** The next ADVERTISE on the group (other messages are skipped). */
  async nextAdvertise(timeoutMs = 5000): Promise<{ gwId: number; duration: number; address: string; port: number }> {
    const r = await this.next('ADVERTISE', timeoutMs);
    return { gwId: r.packet.gwId, duration: r.packet.duration, address: r.address, port: r.port };
  }

  /** The next message of a type on the group (others are skipped). Rejects on a datagram that fails to decode. */
  async next<K extends MsgTypeName>(type: K, timeoutMs = 5000): Promise<{ packet: PacketOf<K>; address: string; port: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const i = this.queue.findIndex((q) => q.packet.type === type);
      if (i >= 0) {
        const [hit] = this.queue.splice(0, i + 1).slice(-1);
        if (hit) return { packet: hit.packet as PacketOf<K>, address: hit.address, port: hit.port };
      }
      this.queue.length = 0;
      const left = deadline - Date.now();
      if (left <= 0) throw new MqttSnTimeoutError(type, `on the group within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  close(): void {
    this.socket.close();
  }
}
