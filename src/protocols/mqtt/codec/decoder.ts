/**
 * Streaming MQTT 3.1 / 3.1.1 / 5.0 decoder: bytes in, typed packets out.
 *
 * Hand-written: every rejection carries the exact MQTT 5 reason the broker must send, PUBLISH
 * payloads are zero-copy slices, and the hot path (PUBLISH) allocates only the packet, its
 * topic string and two slices, payload and raw (plus a properties object when the block is not empty).
 * bench-codec.ts compares it with mqtt-packet.
 *
 * Error classification, DecodeError.reason (matches the specification and the conformance data,
 * Mosquitto's broker test vectors):
 *   0x81 Malformed Packet: bytes that do not parse: a truncated field, bad UTF-8 (including
 *        U+0000 and control characters), reserved fixed-header flags, QoS 3, an unknown
 *        property, trailing bytes, a Topic Name with wildcards, an empty topic or filter,
 *        a remaining length over 4 bytes or not minimally encoded, reserved packet type 15 before v5
 *   0x82 Protocol Error: bytes that parse but break a rule: a repeated property, a property the
 *        packet may not carry, a value out of range, packet identifier 0, a reason code the
 *        packet may not carry, packets only the other side sends (CONNACK, SUBACK, UNSUBACK,
 *        PINGRESP to a server), reserved packet type 0 (server), bad flags on AUTH/CONNACK/PINGRESP,
 *        a first packet that is not CONNECT [MQTT-3.1.0-1], a wrong protocol name
 *   0x84 Unsupported Protocol Version: a CONNECT whose level the broker does not speak; thrown
 *        as UnsupportedProtocolError, whose connackCode is what the CONNACK must carry
 *        (0x84 for a v5 CONNECT, return code 1 otherwise) [MQTT-3.1.2-2]
 *   0x95 Packet Too Large: remaining length says the packet exceeds maxPacketSize; detected
 *        from the fixed header, before the body is buffered
 *   0    close without a DISCONNECT (PINGREQ/PINGRESP with a body, as the data expects)
 * Within one packet a 0x81 anywhere outranks a 0x82 (body-level protocol errors are deferred
 * until the whole packet has parsed); fixed-header and packet-type errors are raised at once.
 */
import { Interner } from '../../../shared/interner.js';
import { DecodeError, PacketType } from './packets.js';
import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolLevel,
  Properties,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  SubscriptionRequest,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from './packets.js';
import { EMPTY_PROPERTIES, WILL_PROPERTIES, readProperties } from './properties.js';
import { MALFORMED, PACKET_TOO_LARGE, PROTOCOL_ERROR, Reader, UNSUPPORTED_PROTOCOL_VERSION } from './reader.js';
import { TOPIC_ASCII, TOPIC_WILDCARD, scanTopicName } from './utf8.js';

export { EMPTY_PROPERTIES } from './properties.js';

/** Which side is receiving: a broker decodes what clients send ('server'), a client the reverse. */
export type Role = 'server' | 'client';

/**
 * A CONNECT asking for a protocol level (or name/level pair) the broker does not speak
 * [MQTT-3.1.2-2]. reason is 0x84; answer with CONNACK `connackCode` and close.
 */
export class UnsupportedProtocolError extends DecodeError {
  constructor(
    readonly protocolName: string,
    readonly protocolLevel: number,
  ) {
    super(UNSUPPORTED_PROTOCOL_VERSION, `unsupported protocol "${protocolName}" level ${protocolLevel}`, 'MQTT-3.1.2-2');
  }

  /** 0x84 in the v5 CONNACK format when the client asked for level 5, else 3.1.1 return code 1. */
  get connackCode(): number {
    return this.protocolLevel === 5 ? UNSUPPORTED_PROTOCOL_VERSION : 1;
  }
}

// One reader for every packet: decoding never re-enters (packets are handed out when complete).
const reader = new Reader();
/** Valid topic names of recent PUBLISH packets (all connections). */
const topicNames = new Interner(1024, 64);

/** Body-level protocol errors wait for the end of the packet (see Reader.deferred). */
function defer(message: string, rule?: string): void {
  reader.protocolError(message, rule);
}

function packetId(r: Reader): number {
  const id = r.u16('packet identifier');
  if (id === 0) defer('packet identifier 0', 'MQTT-2.2.1-3');
  return id;
}

// ---- CONNECT -------------------------------------------------------------------------------

function decodeConnect(r: Reader, flags: number): ConnectPacket {
  const protocolName = r.str('protocol name');
  const rawLevel = r.byte('protocol level');
  // MQTT 3.1 ("MQIsdp") did not reserve the fixed-header flags nor connect-flags bit 0; 3.1.1 and
  // 5.0 do [MQTT-2.2.2-2, MQTT-3.1.2-3]. (The conformance data accepts 0x14 for 3.1.)
  const strict = protocolName !== 'MQIsdp';
  if (strict && flags !== 0) throw new DecodeError(MALFORMED, 'CONNECT fixed-header flags must be 0', 'MQTT-2.2.2-2');
  if (protocolName !== 'MQTT' && protocolName !== 'MQIsdp') throw new DecodeError(PROTOCOL_ERROR, `protocol name "${protocolName}"`, 'MQTT-3.1.2-1');
  if (!((protocolName === 'MQTT' && (rawLevel === 4 || rawLevel === 5)) || (protocolName === 'MQIsdp' && rawLevel === 3))) {
    throw new UnsupportedProtocolError(protocolName, rawLevel);
  }
  const level = rawLevel as ProtocolLevel;
  const f = r.byte('connect flags');
  if (strict && (f & 0x01) !== 0) throw new DecodeError(MALFORMED, 'CONNECT reserved flag set', 'MQTT-3.1.2-3');
  const cleanStart = (f & 0x02) !== 0;
  const willFlag = (f & 0x04) !== 0;
  const willQos = (f >> 3) & 0x03;
  const willRetain = (f & 0x20) !== 0;
  const hasPassword = (f & 0x40) !== 0;
  const hasUsername = (f & 0x80) !== 0;
  if (!willFlag && willQos !== 0) throw new DecodeError(MALFORMED, 'will QoS without will flag', 'MQTT-3.1.2-13');
  if (!willFlag && willRetain) throw new DecodeError(MALFORMED, 'will retain without will flag', 'MQTT-3.1.2-15');
  if (willQos === 3) throw new DecodeError(MALFORMED, 'will QoS 3', 'MQTT-3.1.2-14');
  if (level < 5 && hasPassword && !hasUsername) throw new DecodeError(MALFORMED, 'password without user name', 'MQTT-3.1.2-22');
  const keepAlive = r.u16('keep alive');
  const properties = level === 5 ? readProperties(r, PacketType.CONNECT) : EMPTY_PROPERTIES;
  const clientId = r.str('client identifier');
  let will: Will | null = null;
  if (willFlag) {
    const wp = level === 5 ? readProperties(r, WILL_PROPERTIES) : EMPTY_PROPERTIES;
    const topic = r.str('will topic'); // [MQTT-3.1.3-9]
    if (topic.length === 0 || topic.includes('+') || topic.includes('#')) throw new DecodeError(MALFORMED, 'will topic is not a valid topic name', 'MQTT-3.3.2-2');
    // Copies: the will outlives this read.
    const payload = Buffer.from(r.bin('will payload'));
    will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: copyBinaries(wp) };
  }
  const username = hasUsername ? r.str('user name') : null; // [MQTT-3.1.3-11]
  const password = hasPassword ? Buffer.from(r.bin('password')) : null;
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after CONNECT');
  return {
    type: PacketType.CONNECT,
    protocolName,
    protocolLevel: level,
    cleanStart,
    keepAlive,
    clientId,
    will,
    username,
    password,
    properties: copyBinaries(properties),
  };
}

/** Properties kept past the read (CONNECT, will) must not hold slices of the receive buffer. */
function copyBinaries(p: Properties): Properties {
  if (p.correlationData !== undefined) p.correlationData = Buffer.from(p.correlationData);
  if (p.authenticationData !== undefined) p.authenticationData = Buffer.from(p.authenticationData);
  return p;
}

// ---- PUBLISH (hot path) --------------------------------------------------------------------

function decodePublish(r: Reader, packetStart: number, flags: number, level: ProtocolLevel, role: Role): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) throw new DecodeError(MALFORMED, 'PUBLISH QoS 3', 'MQTT-3.3.1-4');
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw new DecodeError(MALFORMED, 'DUP set on a QoS 0 PUBLISH', 'MQTT-3.3.1-2');
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  if (end - pos < 2) throw new DecodeError(MALFORMED, 'truncated topic name');
  const topicLen = (buf[pos]! << 8) | buf[pos + 1]!;
  pos += 2;
  if (end - pos < topicLen) throw new DecodeError(MALFORMED, 'truncated topic name');
  let topic = '';
  if (topicLen > 0) {
    // A topic name seen lately is the same string: checked then, not decoded again.
    const slot = topicNames.slotOf(buf, pos, topicLen);
    const known = topicNames.lookup(slot, buf, pos, topicLen);
    if (known !== null) topic = known;
    else {
      const kind = scanTopicName(buf, pos, pos + topicLen);
      if (kind < 0) {
        if (kind === TOPIC_WILDCARD) throw new DecodeError(MALFORMED, 'wildcard in a topic name', 'MQTT-3.3.2-2');
        throw new DecodeError(MALFORMED, 'invalid UTF-8 in topic name', 'MQTT-1.5.4-1');
      }
      topic = topicNames.put(slot, buf, pos, topicLen, buf.toString(kind === TOPIC_ASCII ? 'latin1' : 'utf8', pos, pos + topicLen));
    }
    pos += topicLen;
  }
  let packetId = 0;
  if (qos > 0) {
    if (end - pos < 2) throw new DecodeError(MALFORMED, 'truncated packet identifier');
    packetId = (buf[pos]! << 8) | buf[pos + 1]!;
    pos += 2;
    if (packetId === 0) defer('packet identifier 0', 'MQTT-2.2.1-3');
  }
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    if (pos < end && buf[pos] === 0) pos++; // the common case: an empty block
    else {
      r.pos = pos;
      properties = readProperties(r, PacketType.PUBLISH, role === 'client');
      pos = r.pos;
    }
  }
  // A zero-length Topic Name is only valid with a Topic Alias (v5) [MQTT-4.7.3-1, MQTT-3.3.2-1].
  if (topicLen === 0 && properties.topicAlias === undefined) throw new DecodeError(MALFORMED, 'empty topic name', 'MQTT-4.7.3-1');
  r.pos = end;
  return {
    type: PacketType.PUBLISH,
    dup,
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    topic,
    packetId,
    properties,
    payload: buf.subarray(pos, end), // zero copy: a view of the receive buffer
    raw: buf.subarray(packetStart, end), // the packet as received, for forwarding unchanged
  };
}

// ---- acknowledgements ----------------------------------------------------------------------

const PUB_ACK_REASONS = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
const PUB_REL_REASONS = new Set([0x00, 0x92]);

/** Reason codes each acknowledgement may carry (MQTT 5.0 sections 3.4.2.1 - 3.7.2.1). */
const ACK_REASONS: Record<number, ReadonlySet<number>> = {
  [PacketType.PUBACK]: PUB_ACK_REASONS,
  [PacketType.PUBREC]: PUB_ACK_REASONS,
  [PacketType.PUBREL]: PUB_REL_REASONS,
  [PacketType.PUBCOMP]: PUB_REL_REASONS,
};

function decodeAck(r: Reader, type: AckPacket['type'], level: ProtocolLevel): AckPacket {
  const id = packetId(r);
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    // Reason code and property length may be omitted (sections 3.4.2.1, 3.4.2.2.1).
    if (r.left > 0) reasonCode = r.byte('reason code');
    if (r.left > 0) properties = readProperties(r, type);
  }
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after the acknowledgement');
  if (level === 5 && !ACK_REASONS[type]!.has(reasonCode)) defer(`reason code 0x${reasonCode.toString(16)} is not valid in packet type ${type}`);
  return { type, packetId: id, reasonCode, properties };
}

// ---- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------------------------

function decodeSubscribe(r: Reader, level: ProtocolLevel): SubscribePacket {
  const id = packetId(r);
  const properties = level === 5 ? readProperties(r, PacketType.SUBSCRIBE) : EMPTY_PROPERTIES;
  const subscriptions: SubscriptionRequest[] = [];
  while (r.left > 0) {
    const filter = r.str('topic filter');
    if (filter.length === 0) throw new DecodeError(MALFORMED, 'empty topic filter', 'MQTT-4.7.3-1');
    const o = r.byte('subscription options');
    const qos = o & 0x03;
    if (qos === 3) throw new DecodeError(MALFORMED, 'subscription QoS 3', 'MQTT-3.8.3-4');
    if (level === 5) {
      if ((o & 0xc0) !== 0) throw new DecodeError(MALFORMED, 'subscription options reserved bits set', 'MQTT-3.8.3-5');
      const retainHandling = (o >> 4) & 0x03;
      // Section 3.8.3.1 calls it a Protocol Error; the conformance data expects 0x81.
      if (retainHandling === 3) throw new DecodeError(MALFORMED, 'retain handling 3', 'MQTT-3.8.3-5');
      subscriptions.push({ filter, qos: qos as QoS, noLocal: (o & 0x04) !== 0, retainAsPublished: (o & 0x08) !== 0, retainHandling: retainHandling as 0 | 1 | 2 });
    } else {
      if ((o & 0xfc) !== 0) throw new DecodeError(MALFORMED, 'requested QoS reserved bits set', 'MQTT-3-8.3-4');
      subscriptions.push({ filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
  }
  if (subscriptions.length === 0) throw new DecodeError(MALFORMED, 'SUBSCRIBE without topic filters', 'MQTT-3.8.3-3');
  return { type: PacketType.SUBSCRIBE, packetId: id, subscriptions, properties };
}

function decodeUnsubscribe(r: Reader, level: ProtocolLevel): UnsubscribePacket {
  const id = packetId(r);
  const properties = level === 5 ? readProperties(r, PacketType.UNSUBSCRIBE) : EMPTY_PROPERTIES;
  const filters: string[] = [];
  while (r.left > 0) {
    const f = r.str('topic filter');
    if (f.length === 0) throw new DecodeError(MALFORMED, 'empty topic filter', 'MQTT-4.7.3-1');
    filters.push(f);
  }
  if (filters.length === 0) throw new DecodeError(MALFORMED, 'UNSUBSCRIBE without topic filters', 'MQTT-3.10.3-2');
  return { type: PacketType.UNSUBSCRIBE, packetId: id, filters, properties };
}

// ---- DISCONNECT / AUTH ---------------------------------------------------------------------

function decodeDisconnect(r: Reader, level: ProtocolLevel): DisconnectPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    // Any reason byte is passed on: the conformance data expects a plain close for codes a client
    // may not send, which is what the handler does with every DISCONNECT.
    if (r.left > 0) reasonCode = r.byte('reason code');
    if (r.left > 0) properties = readProperties(r, PacketType.DISCONNECT);
  }
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after DISCONNECT');
  return { type: PacketType.DISCONNECT, reasonCode, properties };
}

const AUTH_REASONS = new Set([0x00, 0x18, 0x19]);

function decodeAuth(r: Reader): AuthPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (r.left > 0) reasonCode = r.byte('reason code');
  if (r.left > 0) properties = readProperties(r, PacketType.AUTH);
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after AUTH');
  if (!AUTH_REASONS.has(reasonCode)) defer(`reason code 0x${reasonCode.toString(16)} is not valid in AUTH`);
  return { type: PacketType.AUTH, reasonCode, properties };
}

// ---- packets a client receives (role 'client': tests, tools) -------------------------------

const CONNACK_REASONS = new Set([0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]);
const SUBACK_REASONS_5 = new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]);
const SUBACK_REASONS_4 = new Set([0x00, 0x01, 0x02, 0x80]);
const UNSUBACK_REASONS = new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]);

function decodeConnack(r: Reader, level: ProtocolLevel): ConnackPacket {
  const ackFlags = r.byte('connect acknowledge flags');
  if ((ackFlags & 0xfe) !== 0) throw new DecodeError(MALFORMED, 'CONNACK reserved flags set', 'MQTT-3.2.2-1');
  const reasonCode = r.byte('reason code');
  const properties = level === 5 ? readProperties(r, PacketType.CONNACK) : EMPTY_PROPERTIES;
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after CONNACK');
  const sessionPresent = (ackFlags & 1) === 1;
  if (level === 5 ? !CONNACK_REASONS.has(reasonCode) : reasonCode > 5) defer(`CONNACK code 0x${reasonCode.toString(16)}`);
  if (sessionPresent && reasonCode !== 0) defer('session present with a refusal', 'MQTT-3.2.2-6');
  return { type: PacketType.CONNACK, sessionPresent, reasonCode, properties };
}

function decodeSuback(r: Reader, level: ProtocolLevel): SubackPacket {
  const id = packetId(r);
  const properties = level === 5 ? readProperties(r, PacketType.SUBACK) : EMPTY_PROPERTIES;
  const reasonCodes: number[] = [];
  const valid = level === 5 ? SUBACK_REASONS_5 : SUBACK_REASONS_4;
  while (r.left > 0) {
    const c = r.byte('reason code');
    if (!valid.has(c)) defer(`SUBACK code 0x${c.toString(16)}`);
    reasonCodes.push(c);
  }
  if (reasonCodes.length === 0) throw new DecodeError(MALFORMED, 'SUBACK without reason codes');
  return { type: PacketType.SUBACK, packetId: id, reasonCodes, properties };
}

function decodeUnsuback(r: Reader, level: ProtocolLevel): UnsubackPacket {
  const id = packetId(r);
  const reasonCodes: number[] = [];
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    properties = readProperties(r, PacketType.UNSUBACK);
    while (r.left > 0) {
      const c = r.byte('reason code');
      if (!UNSUBACK_REASONS.has(c)) defer(`UNSUBACK code 0x${c.toString(16)}`);
      reasonCodes.push(c);
    }
    if (reasonCodes.length === 0) throw new DecodeError(MALFORMED, 'UNSUBACK without reason codes');
  }
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after UNSUBACK');
  return { type: PacketType.UNSUBACK, packetId: id, reasonCodes, properties };
}

// ---- dispatch ------------------------------------------------------------------------------

/** Required fixed-header flags per type [MQTT-2.2.2-1, MQTT-2.2.2-2]; CONNECT and PUBLISH are checked apart. */
const FLAGS: ReadonlyArray<number> = [-1, -1, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];

function isServerOnly(type: number): boolean {
  return type === PacketType.CONNACK || type === PacketType.SUBACK || type === PacketType.UNSUBACK || type === PacketType.PINGRESP;
}

function isClientOnly(type: number): boolean {
  return type === PacketType.CONNECT || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE || type === PacketType.PINGREQ;
}

/**
 * Decode one packet whose fixed header has been read: the packet is buf[pos, end), its body
 * buf[start, end). CONNECT carries its own level; others use `level`.
 */
function decodeFrame(buf: Buffer, pos: number, start: number, end: number, level: ProtocolLevel, role: Role): Packet {
  const first = buf[pos]!;
  const type = first >> 4;
  const flags = first & 0x0f;
  const r = reader.reset(buf, start, end);
  let packet: Packet;
  if (type === PacketType.PUBLISH) packet = decodePublish(r, pos, flags, level, role);
  else {
    if (type === 0) throw new DecodeError(role === 'server' ? PROTOCOL_ERROR : MALFORMED, 'reserved packet type 0', 'MQTT-2.1.3');
    if (type === PacketType.AUTH && level < 5) throw new DecodeError(MALFORMED, 'reserved packet type 15 (AUTH is MQTT 5 only)');
    if (type === PacketType.CONNECT) {
      if (role === 'client') throw new DecodeError(PROTOCOL_ERROR, 'CONNECT is only sent by clients');
      packet = decodeConnect(r, flags);
    } else {
      if (flags !== FLAGS[type]) {
        // The conformance data calls bad flags on AUTH, and on the server-only CONNACK and
        // PINGRESP, protocol errors; on every other type they make the packet malformed.
        const protocol = type === PacketType.AUTH || (role === 'server' && (type === PacketType.CONNACK || type === PacketType.PINGRESP));
        throw new DecodeError(protocol ? PROTOCOL_ERROR : MALFORMED, `reserved flags 0x${flags.toString(16)} on packet type ${type}`, 'MQTT-2.2.2-2');
      }
      if (role === 'server' && isServerOnly(type)) {
        // Reason 0 (close without DISCONNECT) for a PINGRESP with a body, as the data expects.
        if (type === PacketType.PINGRESP && end > start) throw new DecodeError(0, 'PINGRESP with a body');
        throw new DecodeError(PROTOCOL_ERROR, `packet type ${type} is only sent by servers`);
      }
      if (role === 'client' && isClientOnly(type)) throw new DecodeError(PROTOCOL_ERROR, `packet type ${type} is only sent by clients`);
      switch (type) {
        case PacketType.PUBACK:
        case PacketType.PUBREC:
        case PacketType.PUBREL:
        case PacketType.PUBCOMP:
          packet = decodeAck(r, type, level);
          break;
        case PacketType.SUBSCRIBE:
          packet = decodeSubscribe(r, level);
          break;
        case PacketType.UNSUBSCRIBE:
          packet = decodeUnsubscribe(r, level);
          break;
        case PacketType.PINGREQ:
        case PacketType.PINGRESP:
          // A server closes without a DISCONNECT here (what the conformance data expects).
          if (end > start) throw new DecodeError(role === 'server' ? 0 : MALFORMED, 'PING packet with a body');
          packet = type === PacketType.PINGREQ ? PINGREQ : PINGRESP;
          break;
        case PacketType.DISCONNECT:
          packet = decodeDisconnect(r, level);
          break;
        case PacketType.AUTH:
          packet = decodeAuth(r);
          break;
        case PacketType.CONNACK:
          packet = decodeConnack(r, level);
          break;
        case PacketType.SUBACK:
          packet = decodeSuback(r, level);
          break;
        default:
          packet = decodeUnsuback(r, level);
      }
    }
  }
  if (r.deferred !== null) throw r.deferred;
  return packet;
}

const PINGREQ = Object.freeze({ type: PacketType.PINGREQ }) as Packet;
const PINGRESP = Object.freeze({ type: PacketType.PINGRESP }) as Packet;

/**
 * Decode exactly one whole packet (fixed header included) at protocol `level` (a CONNECT uses its
 * own). Throws DecodeError when `buf` holds less or more than one packet. PUBLISH payloads and
 * binary properties are slices of `buf`.
 */
export function decodePacket(buf: Buffer, level: ProtocolLevel, role: Role = 'server'): Packet {
  if (buf.length < 2) throw new DecodeError(MALFORMED, 'truncated fixed header');
  let len = 0;
  let mul = 1;
  let i = 1;
  for (;;) {
    if (i >= buf.length) throw new DecodeError(MALFORMED, 'truncated remaining length');
    if (i > 4) throw new DecodeError(MALFORMED, 'remaining length longer than 4 bytes', 'MQTT-1.5.5-1');
    const b = buf[i++]!;
    len += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 2) throw new DecodeError(MALFORMED, 'remaining length not minimally encoded', 'MQTT-1.5.5-1');
      break;
    }
    mul *= 128;
  }
  if (i + len > buf.length) throw new DecodeError(MALFORMED, `truncated packet: ${buf.length - i} of ${len} bytes`);
  if (i + len < buf.length) throw new DecodeError(MALFORMED, `${buf.length - i - len} bytes after the packet`);
  return decodeFrame(buf, 0, i, i + len, level, role);
}

export interface DecoderOptions {
  /** Largest whole packet accepted (fixed header included), bytes; larger -> DecodeError 0x95. */
  maxPacketSize: number;
  /** Who is receiving: 'server' (default, a broker) or 'client'. */
  role?: Role;
}

/**
 * Streaming decoder for one connection.
 *
 * `push` parses every whole packet in the chunk (plus any buffered remainder) and calls
 * `onPacket` for each, in order; it throws DecodeError on the first bad one (close the
 * connection then: the decoder is not usable afterwards).
 *
 * Zero copy: a PUBLISH payload and its `raw` bytes (and binary properties of other packets,
 * except CONNECT's, which are copied) are slices of the received chunk. Node gives every 'data' event a fresh
 * Buffer, so a slice stays valid, but it keeps the whole chunk alive: copy a payload you keep
 * for long if it is small. Only a packet split across chunks is copied (once, when complete).
 *
 * Protocol level: as a server the first packet must be CONNECT [MQTT-3.1.0-1] and the decoder
 * takes the level from it; setProtocolLevel sets it explicitly (and lifts the first-packet rule).
 */
export class MqttDecoder {
  /** Protocol level byte of the first CONNECT, read even when that CONNECT is rejected. */
  connectLevel: number | null = null;
  private level: ProtocolLevel = 4;
  private levelKnown = false;
  private readonly max: number;
  private readonly role: Role;
  /** Bytes of an incomplete packet, kept as received until the packet is whole. */
  private pending: Buffer[] | null = null;
  private pendingLen = 0;
  /** Whole size of the packet in `pending` once its fixed header is known, else 0. */
  private need = 0;

  constructor(opts: DecoderOptions) {
    this.max = opts.maxPacketSize;
    this.role = opts.role ?? 'server';
  }

  get protocolLevel(): ProtocolLevel {
    return this.level;
  }

  /** Bytes held for a packet that is not complete yet. */
  get bufferedBytes(): number {
    return this.pendingLen;
  }

  setProtocolLevel(level: ProtocolLevel): void {
    this.level = level;
    this.levelKnown = true;
  }

  /** `self` is `this` for onPacket: a connection passes a prototype method, not a closure. */
  push<T>(chunk: Buffer, onPacket: (this: T, p: Packet) => void, self?: T): void {
    let pos = 0;
    if (this.pending !== null) {
      pos = this.completePending(chunk, onPacket, self);
      if (pos < 0) return; // still incomplete
    }
    const n = chunk.length;
    while (pos < n) {
      const total = this.header(chunk, pos, n);
      if (total < 0 || n - pos < total) {
        // Keep the incomplete packet as a slice; it is copied once, when it is whole.
        const rest = pos === 0 ? chunk : chunk.subarray(pos);
        this.pending = [rest];
        this.pendingLen = rest.length;
        this.need = total < 0 ? 0 : total;
        return;
      }
      this.decodeOne(chunk, pos, this.bodyStart, pos + total, onPacket, self);
      pos += total;
    }
  }

  /** Start of the body of the packet whose header `header` parsed last. */
  private bodyStart = 0;

  /**
   * Parse the fixed header at buf[pos]: returns the whole packet size, or -1 when the header is
   * not complete in buf[pos, n). Enforces the 4-byte limit and minimal encoding [MQTT-1.5.5-1],
   * the size limit (0x95, before the body is buffered) and, as a server, CONNECT first.
   */
  private header(buf: Buffer, pos: number, n: number): number {
    if (n - pos < 2) return -1;
    let b = buf[pos + 1]!;
    let len = b & 0x7f;
    let i = pos + 2;
    if (b >= 0x80) {
      let mul = 128;
      for (;;) {
        if (i - pos - 1 >= 4) throw new DecodeError(MALFORMED, 'remaining length longer than 4 bytes', 'MQTT-1.5.5-1');
        if (i >= n) return -1;
        b = buf[i++]!;
        len += (b & 0x7f) * mul;
        if (b < 0x80) break;
        mul *= 128;
      }
      if (b === 0) throw new DecodeError(MALFORMED, 'remaining length not minimally encoded', 'MQTT-1.5.5-1');
    }
    if (!this.levelKnown && this.role === 'server' && buf[pos]! >> 4 !== PacketType.CONNECT) {
      throw new DecodeError(PROTOCOL_ERROR, 'the first packet must be CONNECT', 'MQTT-3.1.0-1');
    }
    const total = i - pos + len;
    if (total > this.max) throw new DecodeError(PACKET_TOO_LARGE, `packet of ${total} bytes exceeds the maximum of ${this.max}`, 'MQTT-3.2.2-15');
    this.bodyStart = i;
    return total;
  }

  /**
   * Feed `chunk` to the packet held in `pending`. Returns how many bytes of chunk it consumed
   * once that packet is whole and delivered, or -1 when it still is not.
   */
  private completePending<T>(chunk: Buffer, onPacket: (this: T, p: Packet) => void, self: T | undefined): number {
    const pending = this.pending!;
    if (this.need === 0) {
      // Header incomplete (at most 4 bytes held): look at it with up to 4 more bytes.
      const probe = Buffer.concat([...pending, chunk.subarray(0, 4)]);
      const total = this.header(probe, 0, probe.length);
      if (total < 0) {
        pending.push(chunk);
        this.pendingLen += chunk.length;
        return -1;
      }
      this.need = total;
    }
    const take = this.need - this.pendingLen;
    if (chunk.length < take) {
      pending.push(chunk);
      this.pendingLen += chunk.length;
      return -1;
    }
    pending.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    const whole = Buffer.concat(pending, this.need);
    this.pending = null;
    this.pendingLen = 0;
    this.need = 0;
    this.header(whole, 0, whole.length);
    this.decodeOne(whole, 0, this.bodyStart, whole.length, onPacket, self);
    return take;
  }

  private decodeOne<T>(buf: Buffer, pos: number, body: number, end: number, onPacket: (this: T, p: Packet) => void, self: T | undefined): void {
    const first = buf[pos]!;
    let packet: Packet;
    if (first >> 4 === PacketType.CONNECT && !this.levelKnown) {
      this.peekConnectLevel(buf, body, end);
      packet = decodeFrame(buf, pos, body, end, this.level, this.role);
      // Learn the level from the first CONNECT only; a second one is the handler's protocol error.
      this.level = (packet as ConnectPacket).protocolLevel;
      this.levelKnown = true;
    } else packet = decodeFrame(buf, pos, body, end, this.level, this.role);
    onPacket.call(self as T, packet);
  }

  /** Remember the CONNECT's protocol level before validating the rest (to answer in its format). */
  private peekConnectLevel(buf: Buffer, start: number, end: number): void {
    if (end - start < 2) return;
    const at = start + 2 + ((buf[start]! << 8) | buf[start + 1]!);
    if (at < end) this.connectLevel = buf[at]!;
  }
}
