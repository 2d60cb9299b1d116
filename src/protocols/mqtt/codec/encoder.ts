/**
 * MQTT encoder: typed packets -> one exactly-sized Buffer each (sizes first, then one
 * Buffer.allocUnsafe, then writes; no intermediate buffers).
 *
 * Level rules: properties, reason codes on acks/DISCONNECT/UNSUBACK and AUTH exist only for
 * level 5. For 3.1/3.1.1 a CONNACK carries the 3.1.1 return code (a v5 reason code >= 0x80 is
 * mapped, see connackReturnCode) and SUBACK failure codes become 0x80.
 * v5 acknowledgements and DISCONNECT use the short forms when they can (sections 3.4.2.1,
 * 3.14.2.1): no reason code when it is Success and there are no properties, no property
 * length when there are no properties.
 *
 * Fast path for deliveries: encodePublish, plus publishPacketIdOffset / copyWithPacketId so one
 * QoS>0 encoding can be copied and given each subscriber's packet id.
 */
import { PacketType } from './packets.js';
import type { ConnectPacket, Packet, ProtocolLevel, Properties, QoS, SubscribePacket } from './packets.js';
import { hasProperties, isAsciiShort, propertiesLength, stringFieldSize, varintSize, writeBinary, writeProperties, writeString, writeVarint } from './properties.js';

/** Largest Remaining Length a 4-byte Variable Byte Integer holds (section 1.5.5). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** Bytes of a packet with this Remaining Length; throws RangeError beyond what MQTT can carry. */
function packetSize(remaining: number): number {
  if (remaining > MAX_REMAINING_LENGTH) throw new RangeError(`packet body of ${remaining} bytes exceeds the MQTT maximum of ${MAX_REMAINING_LENGTH}`);
  return 1 + varintSize(remaining) + remaining;
}

function allocPacket(first: number, remaining: number): Buffer {
  const buf = Buffer.allocUnsafe(packetSize(remaining));
  buf[0] = first;
  return buf;
}

/** Content length of a property block (0 when it has none); its field takes varintSize(n) + n bytes. */
function propsContent(p: Properties | undefined): number {
  return hasProperties(p) ? propertiesLength(p) : 0;
}

/** Wire size of a property block with content length n; 0 for n = -1 (no block: level < 5). */
function fieldSize(n: number): number {
  return n < 0 ? 0 : varintSize(n) + n;
}

// ---- PUBLISH -------------------------------------------------------------------------------

/** What publishSize measured, for the publishAt that follows it (no object per packet). */
let planAscii = false;
let planTopicLen = 0;
let planPlen = 0;
let planPsize = 0;
let planRemaining = 0;

/**
 * Bytes a PUBLISH takes (fixed header included). Measures it for the `publishAt` call that must
 * follow, with the same arguments: sizes first, then writes, as for every packet here.
 */
export function publishSize(level: ProtocolLevel, topic: string | Buffer, payload: Buffer, qos: QoS, properties?: Properties): number {
  // Short ASCII topics (most of them) are copied char by char: no native call to size or write them.
  const ascii = (planAscii = typeof topic === 'string' && isAsciiShort(topic));
  const topicLen = (planTopicLen = typeof topic !== 'string' ? topic.length : ascii ? topic.length : stringFieldSize(topic, 'topic name') - 2);
  if (topicLen > 65535) throw new RangeError('topic name longer than 65535 bytes');
  planPlen = 0;
  planPsize = 0;
  if (level === 5) {
    if (properties !== undefined && hasProperties(properties)) {
      planPlen = propertiesLength(properties);
      planPsize = varintSize(planPlen) + planPlen;
    } else planPsize = 1;
  }
  const remaining = (planRemaining = 2 + topicLen + (qos > 0 ? 2 : 0) + planPsize + payload.length);
  return packetSize(remaining);
}

/** Write the PUBLISH just measured by `publishSize` at `at` (with that much room); returns its end. */
export function publishAt(
  buf: Buffer,
  at: number,
  topic: string | Buffer,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  packetId: number,
  properties?: Properties,
): number {
  const topicLen = planTopicLen;
  buf[at] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let pos = writeVarint(buf, at + 1, planRemaining);
  buf[pos] = topicLen >>> 8;
  buf[pos + 1] = topicLen & 0xff;
  pos += 2;
  if (planAscii) for (let i = 0; i < topicLen; i++) buf[pos++] = (topic as string).charCodeAt(i);
  else if (typeof topic === 'string') pos += buf.write(topic, pos, 'utf8');
  else pos += topic.copy(buf, pos);
  if (qos > 0) {
    if (packetId < 1 || packetId > 65535) throw new RangeError(`packet identifier ${packetId} outside 1..65535`);
    buf[pos] = packetId >>> 8;
    buf[pos + 1] = packetId & 0xff;
    pos += 2;
  }
  if (planPsize === 1) buf[pos++] = 0;
  else if (planPsize > 1) pos = writeProperties(buf, pos, properties!, planPlen);
  buf.set(payload, pos); // a builtin: no argument checks, no call into C++ (Buffer#copy)
  return pos + payload.length;
}

/**
 * Encode a PUBLISH into one Buffer of exact size. `topic` may be a pre-encoded Buffer (UTF-8)
 * to skip the string encoding per delivery. Properties are written only for level 5 (an empty
 * block when absent). For QoS 0 `packetId` is ignored.
 */
export function encodePublish(
  level: ProtocolLevel,
  topic: string | Buffer,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  packetId: number,
  properties?: Properties,
): Buffer {
  const buf = Buffer.allocUnsafe(publishSize(level, topic, payload, qos, properties));
  publishAt(buf, 0, topic, payload, qos, retain, dup, packetId, properties);
  return buf;
}

/**
 * Offset of the packet identifier in an encoded QoS 1/2 PUBLISH (fixed header, topic length,
 * topic): patch it with buf.writeUInt16BE(id, offset). Returns -1 for QoS 0 or a non-PUBLISH.
 */
export function publishPacketIdOffset(buf: Buffer): number {
  const first = buf[0]!;
  if (first >> 4 !== PacketType.PUBLISH || (first & 0x06) === 0) return -1;
  let i = 1;
  while (buf[i]! & 0x80) i++;
  i++;
  return i + 2 + ((buf[i]! << 8) | buf[i + 1]!);
}

/**
 * A copy of an encoded QoS>0 PUBLISH with another packet id (and optionally DUP set): one
 * allocation and one memcpy per subscriber instead of a full encoding.
 */
export function copyWithPacketId(encoded: Buffer, packetId: number, dup = false): Buffer {
  const offset = publishPacketIdOffset(encoded);
  if (offset < 0) throw new TypeError('not a QoS 1/2 PUBLISH');
  const out = Buffer.allocUnsafe(encoded.length);
  encoded.copy(out);
  out[offset] = packetId >>> 8;
  out[offset + 1] = packetId & 0xff;
  if (dup) out[0] = out[0]! | 0x08;
  return out;
}

// ---- acknowledgements ----------------------------------------------------------------------

function encodeAck(first: number, packetId: number, reasonCode: number, properties: Properties, level: ProtocolLevel): Buffer {
  if (packetId < 1 || packetId > 65535) throw new RangeError(`packet identifier ${packetId} outside 1..65535`);
  const props = level === 5 && hasProperties(properties);
  if (level < 5 || (reasonCode === 0 && !props)) {
    const buf = Buffer.allocUnsafe(4);
    buf[0] = first;
    buf[1] = 2;
    buf[2] = packetId >>> 8;
    buf[3] = packetId & 0xff;
    return buf;
  }
  const plen = props ? propertiesLength(properties) : 0;
  const remaining = 3 + (props ? varintSize(plen) + plen : 0);
  const buf = allocPacket(first, remaining);
  let pos = writeVarint(buf, 1, remaining);
  buf[pos++] = packetId >>> 8;
  buf[pos++] = packetId & 0xff;
  buf[pos++] = reasonCode;
  if (props) writeProperties(buf, pos, properties, plen);
  return buf;
}

// ---- CONNACK -------------------------------------------------------------------------------

/**
 * The 3.1.1 CONNACK return code for a reason: 0..5 pass through; v5 reason codes map to the
 * nearest 3.1.1 code (0x84 -> 1, 0x85 -> 2, 0x86 -> 4, 0x87/0x8A/0x8C -> 5, others -> 3).
 */
export function connackReturnCode(reasonCode: number): number {
  if (reasonCode <= 5) return reasonCode;
  switch (reasonCode) {
    case 0x84:
      return 1; // unacceptable protocol version
    case 0x85:
      return 2; // identifier rejected
    case 0x86:
      return 4; // bad user name or password
    case 0x87:
    case 0x8a:
    case 0x8c:
      return 5; // not authorized
    default:
      return 3; // server unavailable
  }
}

// ---- generic -------------------------------------------------------------------------------

function encodeConnect(p: ConnectPacket, level: ProtocolLevel): Buffer {
  const v5 = level === 5;
  const name = p.protocolName || (level === 3 ? 'MQIsdp' : 'MQTT');
  let flags = p.cleanStart ? 0x02 : 0;
  let remaining = stringFieldSize(name, 'protocol name') + 1 + 1 + 2 + stringFieldSize(p.clientId, 'client identifier');
  const pLen = v5 ? propsContent(p.properties) : -1;
  remaining += fieldSize(pLen);
  let wLen = -1;
  const will = p.will;
  if (will !== null) {
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    wLen = v5 ? propsContent(will.properties) : -1;
    remaining += fieldSize(wLen) + stringFieldSize(will.topic, 'will topic') + 2 + will.payload.length;
  }
  if (p.username !== null) {
    flags |= 0x80;
    remaining += stringFieldSize(p.username, 'user name');
  }
  if (p.password !== null) {
    flags |= 0x40;
    remaining += 2 + p.password.length;
  }
  const buf = allocPacket(0x10, remaining);
  let pos = writeVarint(buf, 1, remaining);
  pos = writeString(buf, pos, name);
  buf[pos++] = level;
  buf[pos++] = flags;
  buf[pos++] = p.keepAlive >>> 8;
  buf[pos++] = p.keepAlive & 0xff;
  if (v5) pos = writeProperties(buf, pos, p.properties, pLen);
  pos = writeString(buf, pos, p.clientId);
  if (will !== null) {
    if (v5) pos = writeProperties(buf, pos, will.properties, wLen);
    pos = writeString(buf, pos, will.topic);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (p.username !== null) pos = writeString(buf, pos, p.username);
  if (p.password !== null) writeBinary(buf, pos, p.password);
  return buf;
}

function encodeSubscribe(p: SubscribePacket, level: ProtocolLevel): Buffer {
  const v5 = level === 5;
  const pLen = v5 ? propsContent(p.properties) : -1;
  let remaining = 2 + fieldSize(pLen);
  for (const s of p.subscriptions) remaining += stringFieldSize(s.filter, 'topic filter') + 1;
  const buf = allocPacket(0x82, remaining);
  let pos = writeVarint(buf, 1, remaining);
  buf[pos++] = p.packetId >>> 8;
  buf[pos++] = p.packetId & 0xff;
  if (v5) pos = writeProperties(buf, pos, p.properties, pLen);
  for (const s of p.subscriptions) {
    pos = writeString(buf, pos, s.filter);
    buf[pos++] = s.qos | (v5 ? (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4) : 0);
  }
  return buf;
}

/** Packet id, optional properties (v5), then one byte per code (SUBACK, UNSUBACK). */
function encodeCodes(first: number, packetId: number, properties: Properties, codes: readonly number[] | null, level: ProtocolLevel): Buffer {
  const v5 = level === 5;
  const pLen = v5 ? propsContent(properties) : -1;
  const n = codes === null ? 0 : codes.length;
  const remaining = 2 + fieldSize(pLen) + n;
  const buf = allocPacket(first, remaining);
  let pos = writeVarint(buf, 1, remaining);
  buf[pos++] = packetId >>> 8;
  buf[pos++] = packetId & 0xff;
  if (v5) pos = writeProperties(buf, pos, properties, pLen);
  for (let i = 0; i < n; i++) buf[pos++] = codes![i]!;
  return buf;
}

/** Optional reason code then optional properties (v5 DISCONNECT, AUTH), short forms when possible. */
function encodeReasonOnly(first: number, reasonCode: number, properties: Properties): Buffer {
  const props = hasProperties(properties);
  if (reasonCode === 0 && !props) return Buffer.from([first, 0]);
  const plen = props ? propertiesLength(properties) : 0;
  const remaining = 1 + (props ? varintSize(plen) + plen : 0);
  const buf = allocPacket(first, remaining);
  let pos = writeVarint(buf, 1, remaining);
  buf[pos++] = reasonCode;
  if (props) writeProperties(buf, pos, properties, plen);
  return buf;
}

/**
 * Encode any packet at `level`. v5-only fields are dropped for 3.1/3.1.1; AUTH has no 3.1.1
 * form (throws). Throws RangeError for fields beyond what MQTT can carry.
 */
export function encodePacket(p: Packet, level: ProtocolLevel): Buffer {
  switch (p.type) {
    case PacketType.PUBLISH:
      return encodePublish(level, p.topic, p.payload, p.qos, p.retain, p.dup, p.packetId, p.properties);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBCOMP:
      return encodeAck(p.type << 4, p.packetId, p.reasonCode, p.properties, level);
    case PacketType.PUBREL:
      return encodeAck(0x62, p.packetId, p.reasonCode, p.properties, level); // flags 0010 [MQTT-3.6.1-1]
    case PacketType.CONNECT:
      return encodeConnect(p, level);
    case PacketType.CONNACK: {
      const v5 = level === 5;
      const pLen = v5 ? propsContent(p.properties) : -1;
      const remaining = 2 + fieldSize(pLen);
      const buf = allocPacket(0x20, remaining);
      let pos = writeVarint(buf, 1, remaining);
      buf[pos++] = p.sessionPresent ? 1 : 0;
      buf[pos++] = v5 ? p.reasonCode : connackReturnCode(p.reasonCode);
      if (v5) writeProperties(buf, pos, p.properties, pLen);
      return buf;
    }
    case PacketType.SUBSCRIBE:
      return encodeSubscribe(p, level);
    case PacketType.SUBACK: {
      // 3.1.1 knows one failure code, 0x80 [MQTT-3.9.3-2].
      const codes = level === 5 ? p.reasonCodes : p.reasonCodes.map((c) => (c >= 0x80 ? 0x80 : c));
      return encodeCodes(0x90, p.packetId, p.properties, codes, level);
    }
    case PacketType.UNSUBSCRIBE: {
      const v5 = level === 5;
      const pLen = v5 ? propsContent(p.properties) : -1;
      let remaining = 2 + fieldSize(pLen);
      for (const f of p.filters) remaining += stringFieldSize(f, 'topic filter');
      const buf = allocPacket(0xa2, remaining); // flags 0010 [MQTT-3.10.1-1]
      let pos = writeVarint(buf, 1, remaining);
      buf[pos++] = p.packetId >>> 8;
      buf[pos++] = p.packetId & 0xff;
      if (v5) pos = writeProperties(buf, pos, p.properties, pLen);
      for (const f of p.filters) pos = writeString(buf, pos, f);
      return buf;
    }
    case PacketType.UNSUBACK:
      return encodeCodes(0xb0, p.packetId, p.properties, level === 5 ? p.reasonCodes : null, level);
    case PacketType.PINGREQ:
      return Buffer.from([0xc0, 0]);
    case PacketType.PINGRESP:
      return Buffer.from([0xd0, 0]);
    case PacketType.DISCONNECT:
      if (level < 5) return Buffer.from([0xe0, 0]);
      return encodeReasonOnly(0xe0, p.reasonCode, p.properties);
    case PacketType.AUTH:
      if (level < 5) throw new TypeError('AUTH exists only in MQTT 5');
      return encodeReasonOnly(0xf0, p.reasonCode, p.properties);
  }
}
