/**
 * MQTT-SN 1.2 codec, gateway side: decode(datagram) -> Packet | DecodeError, encode(Packet) -> Buffer.
 * Section numbers refer to the MQTT-SN Protocol Specification Version 1.2 (IBM, 2013).
 * Hand-written: no maintained npm package implements MQTT-SN 1.2.
 *
 * decode never throws. Its choices where the specification leaves room:
 * - One UDP datagram is one message: the Length field (5.2.1) must equal the datagram's size,
 *   neither more (truncated) nor less (trailing octets).
 * - 0x01 starts the 3-octet Length form (5.2.1), which is for messages of 256 octets and more:
 *   a value below 256 there is refused. 256 and 257 are accepted (their body would fit the
 *   1-octet form, but the message is "256 octets or more"); encode always writes the shortest
 *   form, so only these two do not re-encode to the same octets.
 * - Flag bits a message does not use ("not used" in each 5.4.x) and the reserved Ctrl bits 7-2
 *   of an encapsulation (5.5) are ignored, and written as 0: nothing asks a sender to clear them.
 * - TopicIdType 0b11 (reserved, 5.3.4) and ReturnCode 0x04..0xFF (reserved, 5.3.10) are refused.
 * - ClientId (5.3.1) and topic names (5.3.12, 5.3.14, short names 6.7) must be well-formed UTF-8
 *   without U+0000, the rule for the MQTT strings they become (MQTT 3.1.1 1.5.3). Their length
 *   and content (1-23 characters, wildcards, empty names) are left to the gateway.
 *   WillMsg, Data, GwAdd and Wireless Node Id are binary: any octets.
 * - A predefined topic id or short topic name in SUBSCRIBE/UNSUBSCRIBE is exactly 2 octets.
 * - DISCONNECT carries nothing or a 2-octet Duration (5.4.21); any other size is refused.
 * - An encapsulation (5.5) has a 1-octet Length, carries exactly one message after the Wireless
 *   Node Id (which may be empty), and never another encapsulation.
 */
import { isUtf8 } from 'node:buffer';
import { DecodeError, MsgType } from './packets.js';
import type {
  Connect, FilterTopic, GwInfo, Message, Packet, Pingreq, Publish, PublishTopic, QoS, Register, ReturnCode, Subscribe,
  Unsubscribe, WillTopic,
} from './packets.js';

/** Largest datagram encode produces: a 3-octet Length counts at most 65535 octets (5.2.1). */
export const MAX_MESSAGE_SIZE = 0xffff;

// Flags (5.3.4)
const DUP = 0x80;
const RETAIN = 0x10;
const WILL = 0x08;
const CLEAN_SESSION = 0x04;
const QOS_BY_BITS: readonly QoS[] = [0, 1, 2, -1];
const RETURN_CODES: readonly ReturnCode[] = [0, 1, 2, 3];
const TOPIC_ID_TYPE = { normal: 0b00, name: 0b00, predefined: 0b01, short: 0b10 } as const;

const qosOf = (flags: number): QoS => QOS_BY_BITS[(flags >> 5) & 3]!;
const qosBits = (qos: QoS): number => (qos & 3) << 5;
const bit = (flags: number, mask: number): boolean => (flags & mask) !== 0;

/** One message type: the part after MsgType, decoded from a view and written in place. */
interface Codec<P extends { type: string }> {
  decode(v: Buffer): P | string; // a string is the reason it is malformed
  size(p: P): number; // octets after MsgType; throws RangeError on a value it cannot encode
  write(p: P, b: Buffer, o: number): void; // o: the first octet after MsgType
}

// ---- decoding helpers: v is the variable part, bounds are checked before reading ----

const sizeIs = (name: string, v: Buffer, n: number): string | null =>
  v.length === n ? null : `${name}: ${v.length} octets after MsgType, expected ${n}`;
const sizeAtLeast = (name: string, v: Buffer, n: number): string | null =>
  v.length >= n ? null : `${name}: ${v.length} octets after MsgType, expected at least ${n}`;

/** UTF-8 text without U+0000 (see the header), or null. */
function text(v: Buffer, start: number, end = v.length): string | null {
  const s = v.subarray(start, end);
  return isUtf8(s) && !s.includes(0) ? s.toString('utf8') : null;
}
const badText = (name: string, field: string, section: string): string =>
  `${name}: ${field} is not UTF-8 without U+0000 (${section})`;

function returnCode(name: string, octet: number): ReturnCode | string {
  return RETURN_CODES[octet] ?? `${name}: reserved ReturnCode 0x${octet.toString(16).padStart(2, '0')} (5.3.10)`;
}

/** PUBLISH TopicId field (5.4.12), 2 octets at `at`. */
function publishTopic(v: Buffer, at: number, topicIdType: number): PublishTopic | string {
  if (topicIdType === TOPIC_ID_TYPE.normal) return { kind: 'normal', id: v.readUInt16BE(at) };
  if (topicIdType === TOPIC_ID_TYPE.predefined) return { kind: 'predefined', id: v.readUInt16BE(at) };
  if (topicIdType === TOPIC_ID_TYPE.short) {
    const name = text(v, at, at + 2);
    return name === null ? badText('PUBLISH', 'short topic name', '6.7') : { kind: 'short', name };
  }
  return 'PUBLISH: reserved TopicIdType 0b11 (5.3.4)';
}

/** SUBSCRIBE / UNSUBSCRIBE TopicName or TopicId field (5.4.15, 5.4.17): the rest of v from `at`. */
function filterTopic(name: string, v: Buffer, at: number, topicIdType: number): FilterTopic | string {
  if (topicIdType === TOPIC_ID_TYPE.name) {
    const topic = text(v, at);
    return topic === null ? badText(name, 'TopicName', '5.3.12') : { kind: 'name', name: topic };
  }
  if (topicIdType === 0b11) return `${name}: reserved TopicIdType 0b11 (5.3.4)`;
  if (v.length - at !== 2) return `${name}: a ${topicIdType === TOPIC_ID_TYPE.predefined ? 'predefined topic id' : 'short topic name'} is 2 octets, got ${v.length - at}`;
  if (topicIdType === TOPIC_ID_TYPE.predefined) return { kind: 'predefined', id: v.readUInt16BE(at) };
  const short = text(v, at);
  return short === null ? badText(name, 'short topic name', '6.7') : { kind: 'short', name: short };
}

/** WILLTOPIC / WILLTOPICUPD (5.4.7, 5.4.22): empty = delete the will, else Flags + WillTopic. */
function willTopic(name: string, v: Buffer): WillTopic | null | string {
  if (v.length === 0) return null;
  const topic = text(v, 1);
  if (topic === null) return badText(name, 'WillTopic', '5.3.14');
  return { qos: qosOf(v[0]!), retain: bit(v[0]!, RETAIN), topic };
}

// ---- encoding helpers: each returns the next offset ----

function put8(b: Buffer, n: number, o: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`MQTT-SN: ${n} is not an octet`);
  b[o] = n;
  return o + 1;
}
function put16(b: Buffer, n: number, o: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`MQTT-SN: ${n} is not a 2-octet integer`);
  b[o] = n >> 8;
  b[o + 1] = n & 0xff;
  return o + 2;
}
/** Size of a string field; refuses what decode would refuse (lone surrogates, U+0000). */
function textSize(s: string): number {
  if (/[\0\p{Cs}]/u.test(s)) throw new RangeError('MQTT-SN: string with U+0000 or a lone surrogate');
  return Buffer.byteLength(s, 'utf8');
}
function shortNameSize(s: string): 2 {
  if (textSize(s) !== 2) throw new RangeError(`MQTT-SN: short topic name '${s}' is not 2 octets`);
  return 2;
}
const topicSize = (t: PublishTopic | FilterTopic): number =>
  t.kind === 'name' ? textSize(t.name) : t.kind === 'short' ? shortNameSize(t.name) : 2;
function putTopic(b: Buffer, t: PublishTopic | FilterTopic, o: number): void {
  if (t.kind === 'name' || t.kind === 'short') b.write(t.name, o, 'utf8');
  else put16(b, t.id, o);
}
const willSize = (w: WillTopic | null): number => (w === null ? 0 : 1 + textSize(w.topic));
function putWill(b: Buffer, w: WillTopic | null, o: number): void {
  if (w !== null) b.write(w.topic, put8(b, qosBits(w.qos) | (w.retain ? RETAIN : 0), o), 'utf8');
}

// ---- the message types (5.4.x) ----

type Of<T extends Message['type']> = Extract<Message, { type: T }>;

// Shared shapes, generic in the type name (each matches its interface in packets.ts).
const noFields = <T extends 'WILLTOPICREQ' | 'WILLMSGREQ' | 'PINGRESP'>(type: T): Codec<{ type: T }> => ({
  decode: (v) => sizeIs(type, v, 0) ?? { type },
  size: () => 0,
  write: () => undefined,
});

const msgIdOnly = <T extends 'PUBREC' | 'PUBREL' | 'PUBCOMP' | 'UNSUBACK'>(type: T): Codec<{ type: T; msgId: number }> => ({
  decode: (v) => sizeIs(type, v, 2) ?? { type, msgId: v.readUInt16BE(0) },
  size: () => 2,
  write: (p, b, o) => void put16(b, p.msgId, o),
});

const returnCodeOnly = <T extends 'CONNACK' | 'WILLTOPICRESP' | 'WILLMSGRESP'>(type: T): Codec<{ type: T; returnCode: ReturnCode }> => ({
  decode(v) {
    const rc = sizeIs(type, v, 1) ?? returnCode(type, v[0]!);
    return typeof rc === 'string' ? rc : { type, returnCode: rc };
  },
  size: () => 1,
  write: (p, b, o) => void put8(b, p.returnCode, o),
});

/** REGACK (5.4.11), PUBACK (5.4.13): TopicId, MsgId, ReturnCode. */
const topicAck = <T extends 'REGACK' | 'PUBACK'>(type: T): Codec<{ type: T; topicId: number; msgId: number; returnCode: ReturnCode }> => ({
  decode(v) {
    const rc = sizeIs(type, v, 5) ?? returnCode(type, v[4]!);
    return typeof rc === 'string' ? rc : { type, topicId: v.readUInt16BE(0), msgId: v.readUInt16BE(2), returnCode: rc };
  },
  size: () => 5,
  write: (p, b, o) => void put8(b, p.returnCode, put16(b, p.msgId, put16(b, p.topicId, o))),
});

const willTopicCodec = <T extends 'WILLTOPIC' | 'WILLTOPICUPD'>(type: T): Codec<{ type: T; will: WillTopic | null }> => ({
  decode(v) {
    const will = willTopic(type, v);
    return typeof will === 'string' ? will : { type, will };
  },
  size: (p) => willSize(p.will),
  write: (p, b, o) => putWill(b, p.will, o),
});

/** WILLMSG (5.4.9), WILLMSGUPD (5.4.23): the rest is the will message, possibly empty. */
const willMsgCodec = <T extends 'WILLMSG' | 'WILLMSGUPD'>(type: T): Codec<{ type: T; willMsg: Buffer }> => ({
  decode: (v) => ({ type, willMsg: v }),
  size: (p) => p.willMsg.length,
  write: (p, b, o) => void p.willMsg.copy(b, o),
});

const codecs: { [T in Message['type']]: Codec<Of<T>> } = {
  ADVERTISE: { // 5.4.1
    decode: (v) => sizeIs('ADVERTISE', v, 3) ?? { type: 'ADVERTISE', gwId: v[0]!, duration: v.readUInt16BE(1) },
    size: () => 3,
    write: (p, b, o) => void put16(b, p.duration, put8(b, p.gwId, o)),
  },
  SEARCHGW: { // 5.4.2
    decode: (v) => sizeIs('SEARCHGW', v, 1) ?? { type: 'SEARCHGW', radius: v[0]! },
    size: () => 1,
    write: (p, b, o) => void put8(b, p.radius, o),
  },
  GWINFO: { // 5.4.3
    decode: (v): GwInfo | string => sizeAtLeast('GWINFO', v, 1) ?? { type: 'GWINFO', gwId: v[0]!, gwAdd: v.subarray(1) },
    size: (p) => 1 + p.gwAdd.length,
    write: (p, b, o) => void p.gwAdd.copy(b, put8(b, p.gwId, o)),
  },
  CONNECT: { // 5.4.4
    decode(v): Connect | string {
      const bad = sizeAtLeast('CONNECT', v, 4);
      if (bad !== null) return bad;
      const clientId = text(v, 4);
      if (clientId === null) return badText('CONNECT', 'ClientId', '5.3.1');
      const f = v[0]!;
      return { type: 'CONNECT', will: bit(f, WILL), cleanSession: bit(f, CLEAN_SESSION), protocolId: v[1]!, duration: v.readUInt16BE(2), clientId };
    },
    size: (p) => 4 + textSize(p.clientId),
    write(p, b, o) {
      o = put8(b, (p.will ? WILL : 0) | (p.cleanSession ? CLEAN_SESSION : 0), o);
      b.write(p.clientId, put16(b, p.duration, put8(b, p.protocolId, o)), 'utf8');
    },
  },
  CONNACK: returnCodeOnly('CONNACK'),
  WILLTOPICREQ: noFields('WILLTOPICREQ'),
  WILLTOPIC: willTopicCodec('WILLTOPIC'),
  WILLMSGREQ: noFields('WILLMSGREQ'),
  WILLMSG: willMsgCodec('WILLMSG'),
  REGISTER: { // 5.4.10
    decode(v): Register | string {
      const bad = sizeAtLeast('REGISTER', v, 4);
      if (bad !== null) return bad;
      const topicName = text(v, 4);
      if (topicName === null) return badText('REGISTER', 'TopicName', '5.3.12');
      return { type: 'REGISTER', topicId: v.readUInt16BE(0), msgId: v.readUInt16BE(2), topicName };
    },
    size: (p) => 4 + textSize(p.topicName),
    write: (p, b, o) => void b.write(p.topicName, put16(b, p.msgId, put16(b, p.topicId, o)), 'utf8'),
  },
  REGACK: topicAck('REGACK'),
  PUBLISH: { // 5.4.12
    decode(v): Publish | string {
      const bad = sizeAtLeast('PUBLISH', v, 5);
      if (bad !== null) return bad;
      const f = v[0]!;
      const topic = publishTopic(v, 1, f & 3);
      if (typeof topic === 'string') return topic;
      return { type: 'PUBLISH', dup: bit(f, DUP), qos: qosOf(f), retain: bit(f, RETAIN), topic, msgId: v.readUInt16BE(3), data: v.subarray(5) };
    },
    size: (p) => (p.topic.kind === 'short' ? shortNameSize(p.topic.name) : 2) + 3 + p.data.length,
    write(p, b, o) {
      put8(b, (p.dup ? DUP : 0) | qosBits(p.qos) | (p.retain ? RETAIN : 0) | TOPIC_ID_TYPE[p.topic.kind], o);
      putTopic(b, p.topic, o + 1);
      p.data.copy(b, put16(b, p.msgId, o + 3));
    },
  },
  PUBACK: topicAck('PUBACK'),
  PUBCOMP: msgIdOnly('PUBCOMP'),
  PUBREC: msgIdOnly('PUBREC'),
  PUBREL: msgIdOnly('PUBREL'),
  SUBSCRIBE: { // 5.4.15
    decode(v): Subscribe | string {
      const bad = sizeAtLeast('SUBSCRIBE', v, 3);
      if (bad !== null) return bad;
      const f = v[0]!;
      const topic = filterTopic('SUBSCRIBE', v, 3, f & 3);
      if (typeof topic === 'string') return topic;
      return { type: 'SUBSCRIBE', dup: bit(f, DUP), qos: qosOf(f), msgId: v.readUInt16BE(1), topic };
    },
    size: (p) => 3 + topicSize(p.topic),
    write(p, b, o) {
      o = put8(b, (p.dup ? DUP : 0) | qosBits(p.qos) | TOPIC_ID_TYPE[p.topic.kind], o);
      putTopic(b, p.topic, put16(b, p.msgId, o));
    },
  },
  SUBACK: { // 5.4.16
    decode(v) {
      const rc = sizeIs('SUBACK', v, 6) ?? returnCode('SUBACK', v[5]!);
      if (typeof rc === 'string') return rc;
      return { type: 'SUBACK', qos: qosOf(v[0]!), topicId: v.readUInt16BE(1), msgId: v.readUInt16BE(3), returnCode: rc };
    },
    size: () => 6,
    write: (p, b, o) => void put8(b, p.returnCode, put16(b, p.msgId, put16(b, p.topicId, put8(b, qosBits(p.qos), o)))),
  },
  UNSUBSCRIBE: { // 5.4.17
    decode(v): Unsubscribe | string {
      const bad = sizeAtLeast('UNSUBSCRIBE', v, 3);
      if (bad !== null) return bad;
      const topic = filterTopic('UNSUBSCRIBE', v, 3, v[0]! & 3);
      return typeof topic === 'string' ? topic : { type: 'UNSUBSCRIBE', msgId: v.readUInt16BE(1), topic };
    },
    size: (p) => 3 + topicSize(p.topic),
    write: (p, b, o) => putTopic(b, p.topic, put16(b, p.msgId, put8(b, TOPIC_ID_TYPE[p.topic.kind], o))),
  },
  UNSUBACK: msgIdOnly('UNSUBACK'),
  PINGREQ: { // 5.4.19
    decode(v): Pingreq | string {
      if (v.length === 0) return { type: 'PINGREQ', clientId: null };
      const clientId = text(v, 0);
      return clientId === null ? badText('PINGREQ', 'ClientId', '5.3.1') : { type: 'PINGREQ', clientId };
    },
    size(p) {
      if (p.clientId === '') throw new RangeError("MQTT-SN: PINGREQ clientId is null when absent, never ''");
      return p.clientId === null ? 0 : textSize(p.clientId);
    },
    write(p, b, o) {
      if (p.clientId !== null) b.write(p.clientId, o, 'utf8');
    },
  },
  PINGRESP: noFields('PINGRESP'),
  DISCONNECT: { // 5.4.21
    decode(v) {
      if (v.length === 0) return { type: 'DISCONNECT', duration: null };
      return sizeIs('DISCONNECT', v, 2) ?? { type: 'DISCONNECT', duration: v.readUInt16BE(0) };
    },
    size: (p) => (p.duration === null ? 0 : 2),
    write(p, b, o) {
      if (p.duration !== null) put16(b, p.duration, o);
    },
  },
  WILLTOPICUPD: willTopicCodec('WILLTOPICUPD'),
  WILLTOPICRESP: returnCodeOnly('WILLTOPICRESP'),
  WILLMSGUPD: willMsgCodec('WILLMSGUPD'),
  WILLMSGRESP: returnCodeOnly('WILLMSGRESP'),
};

const BY_CODE: Array<Codec<Message> | undefined> = [];
for (const type of Object.keys(codecs) as Array<Message['type']>) BY_CODE[MsgType[type]] = codecs[type];

// ---- decode ----

/** Decodes one datagram. Never throws: a malformed one gives a DecodeError with the reason. */
export function decode(buf: Buffer): Packet | DecodeError {
  try {
    return buf.length >= 2 && buf[0] !== 0x01 && buf[1] === MsgType.ENCAPSULATED ? decodeEncapsulated(buf) : decodeMessage(buf);
  } catch (err) {
    // Not expected: every read is bounds-checked. A codec bug then costs one datagram, not the gateway.
    return new DecodeError(`internal error: ${String(err)}`);
  }
}

function decodeMessage(buf: Buffer): Message | DecodeError {
  if (buf.length < 2) return new DecodeError(`a datagram of ${buf.length} octet(s) is shorter than a header (5.2)`);
  let length: number;
  let at: number; // MsgType offset
  if (buf[0] === 0x01) {
    if (buf.length < 4) return new DecodeError('truncated 3-octet Length field (5.2.1)');
    length = buf.readUInt16BE(1);
    at = 3;
    if (length < 256) return new DecodeError(`3-octet Length ${length} below 256 (5.2.1)`, buf[3]);
  } else {
    length = buf[0]!;
    at = 1;
    if (length < 2) return new DecodeError(`Length ${length} is shorter than a header (5.2.1)`, buf[1]);
  }
  const type = buf[at]!;
  if (length !== buf.length) return new DecodeError(`Length ${length} but the datagram has ${buf.length} octets (5.2.1)`, type);
  const codec = BY_CODE[type];
  if (codec === undefined) {
    if (type === MsgType.ENCAPSULATED) return new DecodeError('an encapsulation has a 1-octet Length and is never nested (5.5)', type);
    return new DecodeError(`unknown MsgType 0x${type.toString(16).padStart(2, '0')} (5.2.2)`, type);
  }
  const r = codec.decode(buf.subarray(at + 1));
  return typeof r === 'string' ? new DecodeError(r, type) : r;
}

/** 5.5: Length (1 octet, up to the end of the Wireless Node Id), 0xFE, Ctrl, Wireless Node Id, message. */
function decodeEncapsulated(buf: Buffer): Packet | DecodeError {
  const length = buf[0]!;
  if (length < 3) return new DecodeError(`encapsulation Length ${length} is below 3 (5.5)`, MsgType.ENCAPSULATED);
  if (length >= buf.length) {
    return new DecodeError(`encapsulation Length ${length} leaves no message in ${buf.length} octets (5.5)`, MsgType.ENCAPSULATED);
  }
  const message = decodeMessage(buf.subarray(length));
  if (message instanceof DecodeError) return new DecodeError(`encapsulated message: ${message.reason}`, message.msgType);
  return { type: 'ENCAPSULATED', radius: buf[2]! & 0b11, wirelessNodeId: buf.subarray(3, length), message };
}

// ---- encode ----

/** Encodes a packet into one new Buffer. Throws RangeError on a value that cannot be encoded or a message over 65535 octets. */
export function encode(p: Packet): Buffer {
  if (p.type !== 'ENCAPSULATED') {
    const size = messageSize(p);
    return writeMessage(p, size, allocate(size), 0);
  }
  const head = 3 + p.wirelessNodeId.length;
  if (head > 0xff) throw new RangeError(`MQTT-SN: Wireless Node Id of ${p.wirelessNodeId.length} octets exceeds 252 (5.5)`);
  if (!Number.isInteger(p.radius) || p.radius < 0 || p.radius > 3) throw new RangeError(`MQTT-SN: radius ${p.radius} is not 0-3 (5.5)`);
  const size = messageSize(p.message);
  const b = allocate(head + size);
  b[0] = head;
  b[1] = MsgType.ENCAPSULATED;
  b[2] = p.radius;
  p.wirelessNodeId.copy(b, 3);
  return writeMessage(p.message, size, b, head);
}

const codecOf = (m: Message): Codec<Message> => codecs[m.type];

/** Octets of the whole message, Length field included: 1-octet form whenever it fits (5.2.1). */
function messageSize(m: Message): number {
  const body = 1 + codecOf(m).size(m); // MsgType + variable part
  return body + 1 <= 0xff ? body + 1 : body + 3;
}

function allocate(size: number): Buffer {
  if (size > MAX_MESSAGE_SIZE) throw new RangeError(`MQTT-SN: message of ${size} octets exceeds ${MAX_MESSAGE_SIZE} (5.2.1)`);
  return Buffer.alloc(size);
}

function writeMessage(m: Message, size: number, b: Buffer, o: number): Buffer {
  if (size <= 0xff) b[o++] = size;
  else o = put16(b, size, put8(b, 0x01, o));
  b[o] = MsgType[m.type];
  codecOf(m).write(m, b, o + 1);
  return b;
}
