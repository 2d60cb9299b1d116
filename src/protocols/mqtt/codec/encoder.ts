/**
 * MQTT encoder: typed packets -> one exactly-sized Buffer each.
 * `encodePublish` is the hot path: sizes are computed first, then the packet is written into
 * one Buffer.allocUnsafe without intermediate copies.
 */
import { PacketType } from './packets.js';
import type { Packet, ProtocolLevel, Properties, QoS } from './packets.js';

const IDS: Array<[keyof Properties, number, 'b' | 'u16' | 'u32' | 'vi' | 's' | 'bin' | 'pair']> = [
  ['payloadFormatIndicator', 0x01, 'b'],
  ['messageExpiryInterval', 0x02, 'u32'],
  ['contentType', 0x03, 's'],
  ['responseTopic', 0x08, 's'],
  ['correlationData', 0x09, 'bin'],
  ['subscriptionIdentifiers', 0x0b, 'vi'],
  ['sessionExpiryInterval', 0x11, 'u32'],
  ['assignedClientIdentifier', 0x12, 's'],
  ['serverKeepAlive', 0x13, 'u16'],
  ['authenticationMethod', 0x15, 's'],
  ['authenticationData', 0x16, 'bin'],
  ['requestProblemInformation', 0x17, 'b'],
  ['willDelayInterval', 0x18, 'u32'],
  ['requestResponseInformation', 0x19, 'b'],
  ['responseInformation', 0x1a, 's'],
  ['serverReference', 0x1c, 's'],
  ['reasonString', 0x1f, 's'],
  ['receiveMaximum', 0x21, 'u16'],
  ['topicAliasMaximum', 0x22, 'u16'],
  ['topicAlias', 0x23, 'u16'],
  ['maximumQoS', 0x24, 'b'],
  ['retainAvailable', 0x25, 'b'],
  ['userProperties', 0x26, 'pair'],
  ['maximumPacketSize', 0x27, 'u32'],
  ['wildcardSubscriptionAvailable', 0x28, 'b'],
  ['subscriptionIdentifierAvailable', 0x29, 'b'],
  ['sharedSubscriptionAvailable', 0x2a, 'b'],
];

function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[pos++] = b;
  } while (n > 0);
  return pos;
}

/** Byte size of a property block's content (without its length prefix). */
function propertiesSize(p: Properties): number {
  let size = 0;
  const bag = p as Record<string, unknown>;
  for (const [name, , kind] of IDS) {
    const v = bag[name];
    if (v === undefined) continue;
    switch (kind) {
      case 'b':
        size += 2;
        break;
      case 'u16':
        size += 3;
        break;
      case 'u32':
        size += 5;
        break;
      case 'vi':
        for (const id of v as number[]) size += 1 + varintSize(id);
        break;
      case 's':
        size += 3 + Buffer.byteLength(v as string);
        break;
      case 'bin':
        size += 3 + (v as Buffer).length;
        break;
      case 'pair':
        for (const [k, val] of v as Array<[string, string]>) size += 5 + Buffer.byteLength(k) + Buffer.byteLength(val);
        break;
    }
  }
  return size;
}

function writeString(buf: Buffer, pos: number, s: string): number {
  const n = buf.write(s, pos + 2, 'utf8');
  buf.writeUInt16BE(n, pos);
  return pos + 2 + n;
}

function writeProperties(buf: Buffer, pos: number, p: Properties, size: number): number {
  pos = writeVarint(buf, pos, size);
  const bag = p as Record<string, unknown>;
  for (const [name, id, kind] of IDS) {
    const v = bag[name];
    if (v === undefined) continue;
    if (kind === 'vi') {
      for (const x of v as number[]) {
        buf[pos++] = id;
        pos = writeVarint(buf, pos, x);
      }
      continue;
    }
    if (kind === 'pair') {
      for (const [k, val] of v as Array<[string, string]>) {
        buf[pos++] = id;
        pos = writeString(buf, pos, k);
        pos = writeString(buf, pos, val);
      }
      continue;
    }
    buf[pos++] = id;
    switch (kind) {
      case 'b':
        buf[pos++] = v as number;
        break;
      case 'u16':
        buf.writeUInt16BE(v as number, pos);
        pos += 2;
        break;
      case 'u32':
        buf.writeUInt32BE(v as number, pos);
        pos += 4;
        break;
      case 's':
        pos = writeString(buf, pos, v as string);
        break;
      case 'bin': {
        const b = v as Buffer;
        buf.writeUInt16BE(b.length, pos);
        b.copy(buf, pos + 2);
        pos += 2 + b.length;
        break;
      }
    }
  }
  return pos;
}

function hasProperties(p: Properties | undefined): p is Properties {
  if (p === undefined) return false;
  for (const k in p) if ((p as Record<string, unknown>)[k] !== undefined) return true;
  return false;
}

/** Encode a PUBLISH. `topic` may be a pre-encoded Buffer. */
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
  const topicLen = typeof topic === 'string' ? Buffer.byteLength(topic) : topic.length;
  const v5 = level === 5;
  const psize = v5 && hasProperties(properties) ? propertiesSize(properties) : 0;
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + (v5 ? varintSize(psize) + psize : 0) + payload.length;
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let pos = writeVarint(buf, 1, remaining);
  buf.writeUInt16BE(topicLen, pos);
  pos += 2;
  if (typeof topic === 'string') pos += buf.write(topic, pos, 'utf8');
  else pos += topic.copy(buf, pos);
  if (qos > 0) {
    buf.writeUInt16BE(packetId, pos);
    pos += 2;
  }
  if (v5) {
    if (psize === 0) buf[pos++] = 0;
    else pos = writeProperties(buf, pos, properties!, psize);
  }
  payload.copy(buf, pos);
  return buf;
}

/** Assemble fixed header + body parts into one Buffer. */
function frame(first: number, parts: Array<(buf: Buffer, pos: number) => number>, sizes: number[]): Buffer {
  const remaining = sizes.reduce((a, b) => a + b, 0);
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  buf[0] = first;
  let pos = writeVarint(buf, 1, remaining);
  for (const w of parts) pos = w(buf, pos);
  return buf;
}

function propsPart(p: Properties): [(buf: Buffer, pos: number) => number, number] {
  const size = hasProperties(p) ? propertiesSize(p) : 0;
  return [(buf, pos) => (size === 0 ? ((buf[pos] = 0), pos + 1) : writeProperties(buf, pos, p, size)), varintSize(size) + size];
}

const u8 = (v: number): [(b: Buffer, p: number) => number, number] => [(b, p) => ((b[p] = v), p + 1), 1];
const u16 = (v: number): [(b: Buffer, p: number) => number, number] => [(b, p) => (b.writeUInt16BE(v, p), p + 2), 2];
const str = (s: string): [(b: Buffer, p: number) => number, number] => [(b, p) => writeString(b, p, s), 2 + Buffer.byteLength(s)];
const bin = (x: Buffer): [(b: Buffer, p: number) => number, number] => [(b, p) => (b.writeUInt16BE(x.length, p), x.copy(b, p + 2), p + 2 + x.length), 2 + x.length];

function build(first: number, items: Array<[(b: Buffer, p: number) => number, number]>): Buffer {
  return frame(first, items.map((i) => i[0]), items.map((i) => i[1]));
}

/** Encode any packet at `level` (v5-only fields are dropped for 3.1/3.1.1). */
export function encodePacket(p: Packet, level: ProtocolLevel): Buffer {
  const v5 = level === 5;
  switch (p.type) {
    case PacketType.CONNECT: {
      const items = [str(p.protocolName), u8(p.protocolLevel)];
      let flags = p.cleanStart ? 0x02 : 0;
      if (p.will) flags |= 0x04 | (p.will.qos << 3) | (p.will.retain ? 0x20 : 0);
      if (p.password !== null) flags |= 0x40;
      if (p.username !== null) flags |= 0x80;
      items.push(u8(flags), u16(p.keepAlive));
      if (v5) items.push(propsPart(p.properties));
      items.push(str(p.clientId));
      if (p.will) {
        if (v5) items.push(propsPart(p.will.properties));
        items.push(str(p.will.topic), bin(p.will.payload));
      }
      if (p.username !== null) items.push(str(p.username));
      if (p.password !== null) items.push(bin(p.password));
      return build(0x10, items);
    }
    case PacketType.CONNACK: {
      const items = [u8(p.sessionPresent ? 1 : 0), u8(p.reasonCode)];
      if (v5) items.push(propsPart(p.properties));
      return build(0x20, items);
    }
    case PacketType.PUBLISH:
      return encodePublish(level, p.topic, p.payload, p.qos, p.retain, p.dup, p.packetId, p.properties);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      const first = (p.type << 4) | (p.type === PacketType.PUBREL ? 0x02 : 0);
      const items = [u16(p.packetId)];
      // Short form when the reason is Success and there are no properties [MQTT-3.4.2-1].
      if (v5 && (p.reasonCode !== 0 || hasProperties(p.properties))) {
        items.push(u8(p.reasonCode));
        if (hasProperties(p.properties)) items.push(propsPart(p.properties));
      }
      return build(first, items);
    }
    case PacketType.SUBSCRIBE: {
      const items = [u16(p.packetId)];
      if (v5) items.push(propsPart(p.properties));
      for (const s of p.subscriptions) {
        items.push(str(s.filter));
        const o = s.qos | (v5 ? (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4) : 0);
        items.push(u8(o));
      }
      return build(0x82, items);
    }
    case PacketType.SUBACK: {
      const items = [u16(p.packetId)];
      if (v5) items.push(propsPart(p.properties));
      for (const c of p.reasonCodes) items.push(u8(c));
      return build(0x90, items);
    }
    case PacketType.UNSUBSCRIBE: {
      const items = [u16(p.packetId)];
      if (v5) items.push(propsPart(p.properties));
      for (const f of p.filters) items.push(str(f));
      return build(0xa2, items);
    }
    case PacketType.UNSUBACK: {
      const items = [u16(p.packetId)];
      if (v5) {
        items.push(propsPart(p.properties));
        for (const c of p.reasonCodes) items.push(u8(c));
      }
      return build(0xb0, items);
    }
    case PacketType.PINGREQ:
      return Buffer.from([0xc0, 0]);
    case PacketType.PINGRESP:
      return Buffer.from([0xd0, 0]);
    case PacketType.DISCONNECT: {
      if (!v5 || (p.reasonCode === 0 && !hasProperties(p.properties))) return Buffer.from([0xe0, 0]);
      const items = [u8(p.reasonCode)];
      if (hasProperties(p.properties)) items.push(propsPart(p.properties));
      return build(0xe0, items);
    }
    case PacketType.AUTH: {
      if (p.reasonCode === 0 && !hasProperties(p.properties)) return Buffer.from([0xf0, 0]);
      return build(0xf0, [u8(p.reasonCode), propsPart(p.properties)]);
    }
  }
}
