/**
 * Streaming MQTT 3.1 / 3.1.1 / 5.0 decoder: bytes in, typed packets out.
 *
 * Hand-written rather than `mqtt-packet`: every rejection must carry the exact MQTT 5 reason
 * (0x81 Malformed Packet vs 0x82 Protocol Error vs 0x95 Packet Too Large vs 0x84 Unsupported
 * Protocol Version) that the conformance vectors check, PUBLISH payloads are zero-copy slices,
 * and the hot path allocates one object per PUBLISH (see bench-codec.ts for the comparison).
 *
 * Classification (matches the specification and the conformance data):
 *   0x81  bytes that do not parse: truncated fields, bad UTF-8 (incl. U+0000, controls),
 *         reserved flag bits, QoS 3, unknown property ids, trailing bytes, wildcards in a
 *         PUBLISH topic, a remaining length over 4 bytes
 *   0x82  well-formed but not allowed: duplicate properties, a property not allowed in the
 *         packet, out-of-range property values, packet id 0
 */
import { DecodeError, PacketType } from './packets.js';
import type {
  AckPacket,
  AuthPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolLevel,
  Properties,
  PublishPacket,
  QoS,
  SubscribePacket,
  SubscriptionRequest,
  UnsubscribePacket,
  Will,
} from './packets.js';
import { isValidMqttString } from './utf8.js';

const MALFORMED = 0x81;
const PROTOCOL = 0x82;

/** Shared, frozen "no properties" object: most packets carry none. */
export const EMPTY_PROPERTIES: Properties = Object.freeze({}) as Properties;

// ---- property table ------------------------------------------------------------------------

const enum T {
  Byte,
  U16,
  U32,
  VarInt,
  Str,
  Bin,
  Pair,
}

interface PropSpec {
  name: keyof Properties;
  type: T;
}

const PROPS: Record<number, PropSpec> = {
  0x01: { name: 'payloadFormatIndicator', type: T.Byte },
  0x02: { name: 'messageExpiryInterval', type: T.U32 },
  0x03: { name: 'contentType', type: T.Str },
  0x08: { name: 'responseTopic', type: T.Str },
  0x09: { name: 'correlationData', type: T.Bin },
  0x0b: { name: 'subscriptionIdentifiers', type: T.VarInt },
  0x11: { name: 'sessionExpiryInterval', type: T.U32 },
  0x12: { name: 'assignedClientIdentifier', type: T.Str },
  0x13: { name: 'serverKeepAlive', type: T.U16 },
  0x15: { name: 'authenticationMethod', type: T.Str },
  0x16: { name: 'authenticationData', type: T.Bin },
  0x17: { name: 'requestProblemInformation', type: T.Byte },
  0x18: { name: 'willDelayInterval', type: T.U32 },
  0x19: { name: 'requestResponseInformation', type: T.Byte },
  0x1a: { name: 'responseInformation', type: T.Str },
  0x1c: { name: 'serverReference', type: T.Str },
  0x1f: { name: 'reasonString', type: T.Str },
  0x21: { name: 'receiveMaximum', type: T.U16 },
  0x22: { name: 'topicAliasMaximum', type: T.U16 },
  0x23: { name: 'topicAlias', type: T.U16 },
  0x24: { name: 'maximumQoS', type: T.Byte },
  0x25: { name: 'retainAvailable', type: T.Byte },
  0x26: { name: 'userProperties', type: T.Pair },
  0x27: { name: 'maximumPacketSize', type: T.U32 },
  0x28: { name: 'wildcardSubscriptionAvailable', type: T.Byte },
  0x29: { name: 'subscriptionIdentifierAvailable', type: T.Byte },
  0x2a: { name: 'sharedSubscriptionAvailable', type: T.Byte },
};

/** Which property ids each packet may carry (MQTT 5.0 section 2.2.2.2); 'will' = will properties. */
const ALLOWED: Record<string, ReadonlySet<number>> = {
  [PacketType.CONNECT]: new Set([0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16]),
  will: new Set([0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26]),
  [PacketType.CONNACK]: new Set([0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1f, 0x26, 0x28, 0x29, 0x2a, 0x13, 0x1a, 0x1c, 0x15, 0x16]),
  [PacketType.PUBLISH]: new Set([0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0b, 0x03]),
  [PacketType.PUBACK]: new Set([0x1f, 0x26]),
  [PacketType.PUBREC]: new Set([0x1f, 0x26]),
  [PacketType.PUBREL]: new Set([0x1f, 0x26]),
  [PacketType.PUBCOMP]: new Set([0x1f, 0x26]),
  [PacketType.SUBSCRIBE]: new Set([0x0b, 0x26]),
  [PacketType.SUBACK]: new Set([0x1f, 0x26]),
  [PacketType.UNSUBSCRIBE]: new Set([0x26]),
  [PacketType.UNSUBACK]: new Set([0x1f, 0x26]),
  [PacketType.DISCONNECT]: new Set([0x11, 0x1f, 0x26, 0x1c]),
  [PacketType.AUTH]: new Set([0x15, 0x16, 0x1f, 0x26]),
};

// ---- reader --------------------------------------------------------------------------------

class Reader {
  pos: number;
  constructor(
    public buf: Buffer,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  /** Point at another packet (one Reader is reused for all top-level decoding: less garbage). */
  reset(buf: Buffer, start: number, end: number): Reader {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  get left(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new DecodeError(MALFORMED, `truncated ${what}`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Variable Byte Integer: at most 4 bytes, minimal encoding [MQTT-1.5.5-1]. */
  varint(what: string): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new DecodeError(MALFORMED, `non-minimal variable byte integer in ${what}`);
        return value;
      }
      mul *= 128;
    }
    throw new DecodeError(MALFORMED, `variable byte integer longer than 4 bytes in ${what}`);
  }

  bin(what: string): Buffer {
    const n = this.u16(what);
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** UTF-8 string [MQTT-1.5.4-1..3]. */
  str(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    if (!isValidMqttString(this.buf, start, start + n)) throw new DecodeError(MALFORMED, `invalid UTF-8 in ${what}`, 'MQTT-1.5.4-1');
    return this.buf.toString('utf8', start, start + n);
  }
}

/** Read a property block for `kind` (a PacketType or 'will'). */
function readProperties(r: Reader, kind: PacketType | 'will'): Properties {
  const len = r.varint('property length');
  if (len === 0) return EMPTY_PROPERTIES;
  r.need(len, 'properties');
  const end = r.pos + len;
  const inner = new Reader(r.buf, r.pos, end);
  r.pos = end;
  const allowed = ALLOWED[kind]!;
  const out: Properties = {};
  const seen = new Set<number>();
  const bag = out as Record<string, unknown>;
  // Parse the whole block first: bytes that do not parse (0x81) outrank a property that parses
  // but is not allowed or repeated (0x82), whatever their order.
  let protocolError: DecodeError | null = null;
  while (inner.left > 0) {
    const id = inner.varint('property identifier');
    const spec = PROPS[id];
    if (spec === undefined) throw new DecodeError(MALFORMED, `unknown property 0x${id.toString(16)}`);
    let value: unknown;
    switch (spec.type) {
      case T.Byte:
        value = inner.byte(spec.name);
        break;
      case T.U16:
        value = inner.u16(spec.name);
        break;
      case T.U32:
        value = inner.u32(spec.name);
        break;
      case T.VarInt:
        value = inner.varint(spec.name);
        break;
      case T.Str:
        value = inner.str(spec.name);
        break;
      case T.Bin:
        value = inner.bin(spec.name);
        break;
      case T.Pair:
        value = [inner.str('user property name'), inner.str('user property value')];
        break;
    }
    if (!allowed.has(id)) {
      // Mosquitto's classification, which the conformance data encodes: a property foreign to
      // SUBSCRIBE / UNSUBSCRIBE is malformed, elsewhere it is a protocol error.
      const reason = kind === PacketType.SUBSCRIBE || kind === PacketType.UNSUBSCRIBE ? MALFORMED : PROTOCOL;
      if (reason === MALFORMED) throw new DecodeError(reason, `property ${spec.name} not allowed here`, 'MQTT-2.2.2-2');
      protocolError ??= new DecodeError(reason, `property ${spec.name} not allowed here`, 'MQTT-2.2.2-2');
      continue;
    }
    if (id === 0x26) {
      ((out.userProperties ??= []) as Array<[string, string]>).push(value as [string, string]);
      continue;
    }
    if (seen.has(id)) {
      protocolError ??= new DecodeError(PROTOCOL, `duplicate property ${spec.name}`, 'MQTT-2.2.2-2');
      continue;
    }
    seen.add(id);
    if (id === 0x0b) {
      if (value === 0) throw new DecodeError(kind === PacketType.SUBSCRIBE ? MALFORMED : PROTOCOL, 'subscription identifier 0 (MQTT 5.0 section 3.8.2.1.2)');
      out.subscriptionIdentifiers = [value as number];
      continue;
    }
    bag[spec.name] = value;
  }
  if (protocolError !== null) throw protocolError;
  checkValues(out);
  return out;
}

/** Value ranges that make a well-formed property a protocol error (MQTT 5.0 section 3.1.2.11). */
function checkValues(p: Properties): void {
  if (p.payloadFormatIndicator !== undefined && p.payloadFormatIndicator > 1) throw new DecodeError(PROTOCOL, 'payload format indicator > 1');
  if (p.requestProblemInformation !== undefined && p.requestProblemInformation > 1) throw new DecodeError(PROTOCOL, 'request problem information > 1');
  if (p.requestResponseInformation !== undefined && p.requestResponseInformation > 1) throw new DecodeError(PROTOCOL, 'request response information > 1');
  if (p.receiveMaximum === 0) throw new DecodeError(PROTOCOL, 'receive maximum 0 (MQTT 5.0 section 3.1.2.11.3)');
  if (p.maximumPacketSize === 0) throw new DecodeError(PROTOCOL, 'maximum packet size 0');
  if (p.responseTopic !== undefined && (p.responseTopic.includes('+') || p.responseTopic.includes('#') || p.responseTopic.length === 0)) {
    throw new DecodeError(PROTOCOL, 'response topic must be a topic name', 'MQTT-3.3.2-14');
  }
}

// ---- packets -------------------------------------------------------------------------------

function decodeConnect(r: Reader, flags: number): ConnectPacket {
  const protocolName = r.str('protocol name');
  const rawLevel = r.byte('protocol level');
  // MQTT 3.1 ("MQIsdp") did not reserve these bits; 3.1.1 and 5.0 do [MQTT-2.2.2-2, MQTT-3.1.2-3].
  const strict = protocolName !== 'MQIsdp';
  if (strict && flags !== 0) throw new DecodeError(MALFORMED, 'CONNECT reserved flags', 'MQTT-2.2.2-2');
  if (protocolName !== 'MQTT' && protocolName !== 'MQIsdp') throw new DecodeError(PROTOCOL, `protocol name "${protocolName}"`, 'MQTT-3.1.2-1');
  const ok = (protocolName === 'MQTT' && (rawLevel === 4 || rawLevel === 5)) || (protocolName === 'MQIsdp' && rawLevel === 3);
  if (!ok) throw new DecodeError(0x84, `unsupported protocol level ${rawLevel}`, 'MQTT-3.1.2-2');
  const level = rawLevel as ProtocolLevel;
  const f = r.byte('connect flags');
  if (strict && (f & 0x01) !== 0) throw new DecodeError(MALFORMED, 'CONNECT reserved flag set', 'MQTT-3.1.2-3');
  const cleanStart = (f & 0x02) !== 0;
  const willFlag = (f & 0x04) !== 0;
  const willQos = (f >> 3) & 0x03;
  const willRetain = (f & 0x20) !== 0;
  const hasPassword = (f & 0x40) !== 0;
  const hasUsername = (f & 0x80) !== 0;
  if (!willFlag && (willQos !== 0 || willRetain)) throw new DecodeError(MALFORMED, 'will QoS/retain without will flag', 'MQTT-3.1.2-11');
  if (willQos === 3) throw new DecodeError(MALFORMED, 'will QoS 3', 'MQTT-3.1.2-14');
  if (level < 5 && hasPassword && !hasUsername) throw new DecodeError(MALFORMED, 'password without user name', 'MQTT-3.1.2-22');
  const keepAlive = r.u16('keep alive');
  const properties = level === 5 ? readProperties(r, PacketType.CONNECT) : EMPTY_PROPERTIES;
  const clientId = r.str('client identifier');
  let will: Will | null = null;
  if (willFlag) {
    const wp = level === 5 ? readProperties(r, 'will') : EMPTY_PROPERTIES;
    const topic = r.str('will topic');
    if (topic.length === 0 || topic.includes('+') || topic.includes('#')) throw new DecodeError(MALFORMED, 'invalid will topic', 'MQTT-3.1.3-11');
    const payload = Buffer.from(r.bin('will payload'));
    will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: wp };
  }
  const username = hasUsername ? r.str('user name') : null;
  const password = hasPassword ? Buffer.from(r.bin('password')) : null;
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after CONNECT');
  return { type: PacketType.CONNECT, protocolName, protocolLevel: level, cleanStart, keepAlive, clientId, will, username, password, properties };
}

function decodePublish(r: Reader, flags: number, level: ProtocolLevel): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) throw new DecodeError(MALFORMED, 'PUBLISH QoS 3', 'MQTT-3.3.1-4');
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw new DecodeError(MALFORMED, 'DUP set on QoS 0', 'MQTT-3.3.1-2');
  const topic = r.str('topic name');
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) throw new DecodeError(MALFORMED, 'wildcard in topic name', 'MQTT-3.3.2-2');
  }
  let packetId = 0;
  if (qos > 0) {
    packetId = r.u16('packet identifier');
    if (packetId === 0) throw new DecodeError(PROTOCOL, 'packet identifier 0', 'MQTT-2.2.1-3');
  }
  const properties = level === 5 ? readProperties(r, PacketType.PUBLISH) : EMPTY_PROPERTIES;
  if (topic.length === 0 && properties.topicAlias === undefined) throw new DecodeError(MALFORMED, 'empty topic name', 'MQTT-4.7.3-1');
  const payload = r.buf.subarray(r.pos, r.end);
  r.pos = r.end;
  return { type: PacketType.PUBLISH, dup, qos: qos as QoS, retain: (flags & 0x01) !== 0, topic, packetId, properties, payload };
}

/** Reason codes a client may send in each acknowledgement (MQTT 5.0 sections 3.4.2.1 - 3.7.2.1). */
const ACK_REASONS: Record<number, ReadonlySet<number>> = {
  [PacketType.PUBACK]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.PUBREC]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.PUBREL]: new Set([0x00, 0x92]),
  [PacketType.PUBCOMP]: new Set([0x00, 0x92]),
};

function decodeAck(r: Reader, type: AckPacket['type'], level: ProtocolLevel): AckPacket {
  const packetId = r.u16('packet identifier');
  if (packetId === 0) throw new DecodeError(PROTOCOL, 'packet identifier 0', 'MQTT-2.2.1-3');
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    // Reason code and properties may be omitted [MQTT-3.4.2-1 short form].
    if (r.left > 0) reasonCode = r.byte('reason code');
    if (r.left > 0) properties = readProperties(r, type);
    if (!ACK_REASONS[type]!.has(reasonCode)) throw new DecodeError(PROTOCOL, `reason code 0x${reasonCode.toString(16)} is not valid here`);
  }
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after acknowledgement');
  return { type, packetId, reasonCode, properties };
}

function decodeSubscribe(r: Reader, level: ProtocolLevel): SubscribePacket {
  const packetId = r.u16('packet identifier');
  if (packetId === 0) throw new DecodeError(PROTOCOL, 'packet identifier 0', 'MQTT-2.2.1-3');
  const properties = level === 5 ? readProperties(r, PacketType.SUBSCRIBE) : EMPTY_PROPERTIES;
  const subscriptions: SubscriptionRequest[] = [];
  while (r.left > 0) {
    const filter = r.str('topic filter');
    if (filter.length === 0) throw new DecodeError(MALFORMED, 'empty topic filter', 'MQTT-4.7.3-1');
    const o = r.byte('subscription options');
    const qos = o & 0x03;
    if (qos === 3) throw new DecodeError(MALFORMED, 'subscription QoS 3', 'MQTT-3.8.3-4');
    if (level === 5) {
      if ((o & 0xc0) !== 0) throw new DecodeError(MALFORMED, 'subscription options reserved bits', 'MQTT-3.8.3-5');
      const retainHandling = (o >> 4) & 0x03;
      if (retainHandling === 3) throw new DecodeError(MALFORMED, 'retain handling 3', 'MQTT-3.8.3-5');
      subscriptions.push({ filter, qos: qos as QoS, noLocal: (o & 0x04) !== 0, retainAsPublished: (o & 0x08) !== 0, retainHandling: retainHandling as 0 | 1 | 2 });
    } else {
      if ((o & 0xfc) !== 0) throw new DecodeError(MALFORMED, 'requested QoS reserved bits', 'MQTT-3.8.3-4');
      subscriptions.push({ filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
  }
  if (subscriptions.length === 0) throw new DecodeError(MALFORMED, 'SUBSCRIBE without topic filters', 'MQTT-3.8.3-3');
  return { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties };
}

function decodeUnsubscribe(r: Reader, level: ProtocolLevel): UnsubscribePacket {
  const packetId = r.u16('packet identifier');
  if (packetId === 0) throw new DecodeError(PROTOCOL, 'packet identifier 0', 'MQTT-2.2.1-3');
  const properties = level === 5 ? readProperties(r, PacketType.UNSUBSCRIBE) : EMPTY_PROPERTIES;
  const filters: string[] = [];
  while (r.left > 0) {
    const f = r.str('topic filter');
    if (f.length === 0) throw new DecodeError(MALFORMED, 'empty topic filter', 'MQTT-4.7.3-1');
    filters.push(f);
  }
  if (filters.length === 0) throw new DecodeError(MALFORMED, 'UNSUBSCRIBE without topic filters', 'MQTT-3.10.3-2');
  return { type: PacketType.UNSUBSCRIBE, packetId, filters, properties };
}

function decodeDisconnect(r: Reader, level: ProtocolLevel): DisconnectPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (level === 5) {
    if (r.left > 0) reasonCode = r.byte('reason code');
    if (r.left > 0) properties = readProperties(r, PacketType.DISCONNECT);
  }
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after DISCONNECT');
  return { type: PacketType.DISCONNECT, reasonCode, properties };
}

function decodeAuth(r: Reader): AuthPacket {
  let reasonCode = 0;
  let properties = EMPTY_PROPERTIES;
  if (r.left > 0) reasonCode = r.byte('reason code');
  if (r.left > 0) properties = readProperties(r, PacketType.AUTH);
  if (r.left !== 0) throw new DecodeError(MALFORMED, 'trailing bytes after AUTH');
  return { type: PacketType.AUTH, reasonCode, properties };
}

const shared = new Reader(Buffer.alloc(0), 0, 0);

/** Required fixed-header flags per type [MQTT-2.2.2-1, MQTT-2.2.2-2]; PUBLISH is checked apart. */
const FLAGS: Record<number, number> = { 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0, 15: 0 };

/** Decode one whole packet (fixed header included) at protocol `level`. */
export function decodeBody(type: number, flags: number, buf: Buffer, start: number, end: number, level: ProtocolLevel, server = true): Packet {
  const r = shared.reset(buf, start, end);
  if (type === PacketType.PUBLISH) return decodePublish(r, flags, level);
  if (type === PacketType.CONNECT) return decodeConnect(r, flags);
  if (type === 0) throw new DecodeError(server ? PROTOCOL : MALFORMED, 'reserved packet type 0');
  const required = FLAGS[type];
  if (required === undefined || (type === PacketType.AUTH && level < 5)) throw new DecodeError(MALFORMED, `reserved packet type ${type}`);
  if (flags !== required) {
    // The conformance data (Mosquitto) calls bad flags on AUTH, and on the server-only CONNACK and
    // PINGRESP, protocol errors; on every other type they make the packet malformed.
    const protocol = type === PacketType.AUTH || (server && (type === PacketType.CONNACK || type === PacketType.PINGRESP));
    throw new DecodeError(protocol ? PROTOCOL : MALFORMED, `reserved flags 0x${flags.toString(16)} on packet type ${type}`, 'MQTT-2.2.2-2');
  }
  if (server && (type === PacketType.CONNACK || type === PacketType.SUBACK || type === PacketType.UNSUBACK || type === PacketType.PINGRESP)) {
    if (end > start && (type === PacketType.PINGRESP)) throw new DecodeError(0, 'PINGRESP with a body');
    throw new DecodeError(PROTOCOL, `packet type ${type} is only sent by servers`);
  }
  switch (type) {
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return decodeAck(r, type, level);
    case PacketType.SUBSCRIBE:
      return decodeSubscribe(r, level);
    case PacketType.UNSUBSCRIBE:
      return decodeUnsubscribe(r, level);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      // Reason 0: close without a DISCONNECT (as the conformance data expects for this case).
      if (r.left !== 0) throw new DecodeError(0, 'PING with a body');
      return { type };
    case PacketType.DISCONNECT:
      return decodeDisconnect(r, level);
    case PacketType.AUTH:
      return decodeAuth(r);
    default:
      // CONNACK, SUBACK, UNSUBACK: the server never receives them.
      return decodeServerOnly(type, r, level);
  }
}

function decodeServerOnly(type: number, r: Reader, level: ProtocolLevel): Packet {
  if (type === PacketType.CONNACK) {
    const ackFlags = r.byte('connack flags');
    const reasonCode = r.byte('reason code');
    const properties = level === 5 && r.left > 0 ? readProperties(r, PacketType.CONNACK) : EMPTY_PROPERTIES;
    return { type: PacketType.CONNACK, sessionPresent: (ackFlags & 1) === 1, reasonCode, properties };
  }
  const packetId = r.u16('packet identifier');
  const properties = level === 5 ? readProperties(r, type as PacketType) : EMPTY_PROPERTIES;
  const reasonCodes: number[] = [];
  while (r.left > 0) reasonCodes.push(r.byte('reason code'));
  if (type === PacketType.SUBACK) return { type: PacketType.SUBACK, packetId, reasonCodes, properties };
  return { type: PacketType.UNSUBACK, packetId, reasonCodes, properties };
}

export interface DecoderOptions {
  /** Largest whole packet accepted, bytes. */
  maxPacketSize: number;
}

/**
 * Streaming decoder. `push` parses every whole packet in the chunk (plus any buffered
 * remainder) and calls `onPacket` for each; it throws DecodeError on the first bad one.
 * PUBLISH payloads are slices of the received chunk (no copy): keep them only while the
 * chunk is not reused (Node gives every 'data' event a fresh Buffer).
 */
export class MqttDecoder {
  private level: ProtocolLevel = 4;
  private rest: Buffer | null = null;
  private readonly max: number;
  /** Protocol level read from the CONNECT, even when the CONNECT is rejected. */
  connectLevel: number | null = null;

  constructor(opts: DecoderOptions) {
    this.max = opts.maxPacketSize;
  }

  setProtocolLevel(level: ProtocolLevel): void {
    this.level = level;
  }

  push(chunk: Buffer, onPacket: (p: Packet) => void): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      // Fixed header: type/flags byte, then the remaining length (1..4 bytes) [MQTT-2.1.4].
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < n; k++) {
        const b = buf[i++]!;
        len += (b & 0x7f) * mul;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        mul *= 128;
      }
      if (!complete) {
        if (i - pos - 1 >= 4) throw new DecodeError(MALFORMED, 'remaining length longer than 4 bytes', 'MQTT-1.5.5-1');
        break; // header incomplete: wait for more bytes
      }
      const total = i - pos + len;
      if (total > this.max) throw new DecodeError(0x95, `packet of ${total} bytes exceeds the maximum of ${this.max}`, 'MQTT-3.2.2-15');
      if (pos + total > n) break;
      const first = buf[pos]!;
      const type = first >> 4;
      if (type === PacketType.CONNECT) this.peekConnectLevel(buf, i, pos + total);
      const packet = decodeBody(type, first & 0x0f, buf, i, pos + total, this.level);
      if (packet.type === PacketType.CONNECT) this.level = packet.protocolLevel;
      else if (packet.type === PacketType.PUBLISH) packet.raw = buf.subarray(pos, pos + total);
      pos += total;
      onPacket(packet);
    }
    if (pos < n) this.rest = pos === 0 ? buf : buf.subarray(pos);
  }

  /** Remember the CONNECT's protocol level before validating the rest (to answer in its format). */
  private peekConnectLevel(buf: Buffer, start: number, end: number): void {
    if (end - start < 2) return;
    const nameLen = buf.readUInt16BE(start);
    const at = start + 2 + nameLen;
    if (at < end) this.connectLevel = buf[at]!;
  }
}
