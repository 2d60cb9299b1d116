/**
 * MQTT 5.0 properties (section 2.2.2): one table drives both the decoder and the encoder.
 *
 * Decoding classification (what the conformance data expects, see decoder.ts):
 *   0x81  an unknown identifier, a value that does not fit in the block, bad UTF-8, a
 *         non-minimal variable byte integer, a property not allowed in SUBSCRIBE/UNSUBSCRIBE,
 *         a Subscription Identifier of 0 in SUBSCRIBE
 *   0x82  a property that parses but is not allowed in this packet, a repeated property,
 *         a value out of range (e.g. Receive Maximum 0)
 * A 0x82 is only recorded (Reader.protocolError) and raised once the whole packet has parsed,
 * so bytes that do not parse anywhere in the packet outrank a misplaced or repeated property.
 */
import { DecodeError, PacketType } from './packets.js';
import type { Properties } from './packets.js';
import { MALFORMED } from './reader.js';
import type { Reader } from './reader.js';

/** Shared, frozen "no properties" object: most packets carry none. Never mutate a decoded block. */
export const EMPTY_PROPERTIES: Properties = Object.freeze({}) as Properties;

export const enum PropType {
  Byte,
  U16,
  U32,
  VarInt,
  Str,
  Bin,
  Pair,
}

export interface PropertyDef {
  readonly id: number;
  readonly name: keyof Properties;
  readonly type: PropType;
}

/** Context for the allowed-property check: a PacketType, or WILL_PROPERTIES for a CONNECT's will. */
export const WILL_PROPERTIES = 16;

const DEFS: readonly PropertyDef[] = [
  { id: 0x01, name: 'payloadFormatIndicator', type: PropType.Byte },
  { id: 0x02, name: 'messageExpiryInterval', type: PropType.U32 },
  { id: 0x03, name: 'contentType', type: PropType.Str },
  { id: 0x08, name: 'responseTopic', type: PropType.Str },
  { id: 0x09, name: 'correlationData', type: PropType.Bin },
  { id: 0x0b, name: 'subscriptionIdentifiers', type: PropType.VarInt },
  { id: 0x11, name: 'sessionExpiryInterval', type: PropType.U32 },
  { id: 0x12, name: 'assignedClientIdentifier', type: PropType.Str },
  { id: 0x13, name: 'serverKeepAlive', type: PropType.U16 },
  { id: 0x15, name: 'authenticationMethod', type: PropType.Str },
  { id: 0x16, name: 'authenticationData', type: PropType.Bin },
  { id: 0x17, name: 'requestProblemInformation', type: PropType.Byte },
  { id: 0x18, name: 'willDelayInterval', type: PropType.U32 },
  { id: 0x19, name: 'requestResponseInformation', type: PropType.Byte },
  { id: 0x1a, name: 'responseInformation', type: PropType.Str },
  { id: 0x1c, name: 'serverReference', type: PropType.Str },
  { id: 0x1f, name: 'reasonString', type: PropType.Str },
  { id: 0x21, name: 'receiveMaximum', type: PropType.U16 },
  { id: 0x22, name: 'topicAliasMaximum', type: PropType.U16 },
  { id: 0x23, name: 'topicAlias', type: PropType.U16 },
  { id: 0x24, name: 'maximumQoS', type: PropType.Byte },
  { id: 0x25, name: 'retainAvailable', type: PropType.Byte },
  { id: 0x26, name: 'userProperties', type: PropType.Pair },
  { id: 0x27, name: 'maximumPacketSize', type: PropType.U32 },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', type: PropType.Byte },
  { id: 0x29, name: 'subscriptionIdentifierAvailable', type: PropType.Byte },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', type: PropType.Byte },
];

const MAX_ID = 0x2a;
const BY_ID: Array<PropertyDef | undefined> = new Array<PropertyDef | undefined>(MAX_ID + 1).fill(undefined);
const BY_NAME = new Map<string, PropertyDef>();
for (const d of DEFS) {
  BY_ID[d.id] = d;
  BY_NAME.set(d.name, d);
}

/** The property table entry for an identifier, or undefined when the identifier is not defined. */
export function propertyById(id: number): PropertyDef | undefined {
  return id <= MAX_ID ? BY_ID[id] : undefined;
}

/** Which identifiers each packet may carry (MQTT 5.0 section 2.2.2.2, Table 2-4). */
const ALLOWED_IDS: Record<number, readonly number[]> = {
  [PacketType.CONNECT]: [0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16],
  [WILL_PROPERTIES]: [0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26],
  [PacketType.CONNACK]: [0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1f, 0x26, 0x28, 0x29, 0x2a, 0x13, 0x1a, 0x1c, 0x15, 0x16],
  [PacketType.PUBLISH]: [0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0b, 0x03],
  [PacketType.PUBACK]: [0x1f, 0x26],
  [PacketType.PUBREC]: [0x1f, 0x26],
  [PacketType.PUBREL]: [0x1f, 0x26],
  [PacketType.PUBCOMP]: [0x1f, 0x26],
  [PacketType.SUBSCRIBE]: [0x0b, 0x26],
  [PacketType.SUBACK]: [0x1f, 0x26],
  [PacketType.UNSUBSCRIBE]: [0x26],
  [PacketType.UNSUBACK]: [0x1f, 0x26],
  [PacketType.DISCONNECT]: [0x11, 0x1f, 0x26, 0x1c],
  [PacketType.AUTH]: [0x15, 0x16, 0x1f, 0x26],
};

/** ALLOWED[context][id] === 1 when allowed; one Uint8Array per context, no Set lookups. */
const ALLOWED: Uint8Array[] = [];
for (let ctx = 0; ctx <= WILL_PROPERTIES; ctx++) {
  const row = new Uint8Array(MAX_ID + 1);
  for (const id of ALLOWED_IDS[ctx] ?? []) row[id] = 1;
  ALLOWED.push(row);
}

/** Whether property `id` may appear in `context` (a PacketType or WILL_PROPERTIES). */
export function isPropertyAllowed(context: number, id: number): boolean {
  return id <= MAX_ID && ALLOWED[context]![id] === 1;
}

// Duplicate detection without a Set per block: seen[id] === generation means "already in this block".
const seen = new Uint32Array(MAX_ID + 1);
let generation = 0;

/**
 * Read a property block (its Variable Byte Integer length, then the properties) at `r.pos`.
 * Returns the shared EMPTY_PROPERTIES when the length is 0. Binary values are slices of the
 * input (callers that keep them past the current read must copy).
 * `severalSubscriptionIds`: a PUBLISH sent by a server may carry several Subscription
 * Identifiers (MQTT 5.0 section 3.3.2.3.8); everywhere else one is the limit.
 */
export function readProperties(r: Reader, context: number, severalSubscriptionIds = false): Properties {
  const len = r.varint('property length');
  if (len === 0) return EMPTY_PROPERTIES;
  r.need(len, 'properties');
  const outerEnd = r.end;
  const end = r.pos + len;
  r.end = end;
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    seen.fill(0);
    generation = 1;
  }
  const gen = generation;
  const allowed = ALLOWED[context]!;
  const out: Properties = {};
  const bag = out as Record<string, unknown>;
  while (r.pos < end) {
    const id = r.varint('property identifier');
    const def = id <= MAX_ID ? BY_ID[id] : undefined;
    if (def === undefined) throw new DecodeError(MALFORMED, `unknown property identifier 0x${id.toString(16)}`, 'MQTT-2.2.2-2');
    let value: unknown;
    switch (def.type) {
      case PropType.Byte:
        value = r.byte(def.name);
        break;
      case PropType.U16:
        value = r.u16(def.name);
        break;
      case PropType.U32:
        value = r.u32(def.name);
        break;
      case PropType.VarInt:
        value = r.varint(def.name);
        break;
      case PropType.Str:
        value = r.str(def.name);
        break;
      case PropType.Bin:
        value = r.bin(def.name);
        break;
      case PropType.Pair: {
        const k = r.str('user property name');
        value = [k, r.str('user property value')];
        break;
      }
    }
    if (allowed[id] !== 1) {
      // The conformance data (Mosquitto's reading) calls a property foreign to SUBSCRIBE or
      // UNSUBSCRIBE malformed; in every other packet it is a protocol error.
      const message = `property ${def.name} is not allowed in this packet`;
      if (context === PacketType.SUBSCRIBE || context === PacketType.UNSUBSCRIBE) throw new DecodeError(MALFORMED, message, 'MQTT-2.2.2-2');
      r.protocolError(message, 'MQTT-2.2.2-2');
      continue;
    }
    if (id === 0x26) {
      (out.userProperties ??= []).push(value as [string, string]); // order and repeats kept (section 3.3.2.3.7)
      continue;
    }
    if (id === 0x0b && value === 0) {
      // "It is a Protocol Error if the Subscription Identifier has a value of 0" (sections 3.3.2.3.8,
      // 3.8.2.1.2); the conformance data wants 0x81 for SUBSCRIBE.
      if (context === PacketType.SUBSCRIBE) throw new DecodeError(MALFORMED, 'subscription identifier 0');
      r.protocolError('subscription identifier 0');
      continue;
    }
    if (seen[id] === gen) {
      if (id === 0x0b && severalSubscriptionIds && context === PacketType.PUBLISH) {
        out.subscriptionIdentifiers!.push(value as number);
        continue;
      }
      r.protocolError(`property ${def.name} included more than once`, 'MQTT-2.2.2-2');
      continue;
    }
    seen[id] = gen;
    if (id === 0x0b) out.subscriptionIdentifiers = [value as number];
    else bag[def.name] = value;
  }
  r.end = outerEnd;
  checkValues(r, out, context);
  return out;
}

/** Ranges that make a well-formed value a Protocol Error (MQTT 5.0 sections 3.1.2.11, 3.2.2.3, 3.3.2.3). */
function checkValues(r: Reader, p: Properties, context: number): void {
  const bad = (what: string): void => r.protocolError(what);
  if (p.payloadFormatIndicator !== undefined && p.payloadFormatIndicator > 1) bad('payload format indicator other than 0 or 1');
  if (p.requestProblemInformation !== undefined && p.requestProblemInformation > 1) bad('request problem information other than 0 or 1');
  if (p.requestResponseInformation !== undefined && p.requestResponseInformation > 1) bad('request response information other than 0 or 1');
  if (p.receiveMaximum === 0) bad('receive maximum 0');
  if (p.maximumPacketSize === 0) bad('maximum packet size 0');
  if (p.maximumQoS !== undefined && p.maximumQoS > 1) bad('maximum QoS other than 0 or 1');
  if (p.retainAvailable !== undefined && p.retainAvailable > 1) bad('retain available other than 0 or 1');
  if (p.wildcardSubscriptionAvailable !== undefined && p.wildcardSubscriptionAvailable > 1) bad('wildcard subscription available other than 0 or 1');
  if (p.subscriptionIdentifierAvailable !== undefined && p.subscriptionIdentifierAvailable > 1) bad('subscription identifier available other than 0 or 1');
  if (p.sharedSubscriptionAvailable !== undefined && p.sharedSubscriptionAvailable > 1) bad('shared subscription available other than 0 or 1');
  const rt = p.responseTopic;
  if (rt !== undefined && (rt.length === 0 || rt.includes('+') || rt.includes('#'))) {
    r.protocolError('response topic must be a topic name', 'MQTT-3.3.2-14');
  }
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined && context !== WILL_PROPERTIES) {
    bad('authentication data without an authentication method'); // section 3.1.2.11.10
  }
}

// ---- encoding ------------------------------------------------------------------------------

const MAX_STRING = 65535;

function strLen(s: string, what: string): number {
  const n = isAsciiShort(s) ? s.length : Buffer.byteLength(s);
  if (n > MAX_STRING) throw new RangeError(`${what} is ${n} bytes; an MQTT string holds at most 65535`);
  return n;
}

/** Cheap ASCII test for short strings (byteLength would cross into C++ for every string). */
export function isAsciiShort(s: string): boolean {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Bytes a UTF-8 string field takes (length prefix included). Throws RangeError beyond 65535. */
export function stringFieldSize(s: string, what = 'string'): number {
  return 2 + strLen(s, what);
}

export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Write a Variable Byte Integer (n <= 268,435,455) at pos; returns the new position. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** Write a UTF-8 string field (two-byte length, bytes); returns the new position. */
export function writeString(buf: Buffer, pos: number, s: string): number {
  const n = buf.write(s, pos + 2, 'utf8');
  buf[pos] = n >>> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2 + n;
}

/** Write a Binary Data field (two-byte length, bytes); returns the new position. */
export function writeBinary(buf: Buffer, pos: number, b: Buffer): number {
  if (b.length > MAX_STRING) throw new RangeError(`binary field of ${b.length} bytes; at most 65535`);
  buf[pos] = b.length >>> 8;
  buf[pos + 1] = b.length & 0xff;
  b.copy(buf, pos + 2);
  return pos + 2 + b.length;
}

/** True when the block has at least one defined value. */
export function hasProperties(p: Properties | undefined | null): p is Properties {
  if (p === undefined || p === null || p === EMPTY_PROPERTIES) return false;
  for (const k in p) if ((p as Record<string, unknown>)[k] !== undefined) return true;
  return false;
}

/**
 * Byte size of a property block's content (without its length prefix). Keys that are not MQTT
 * properties, and undefined values, are ignored. Throws RangeError for strings over 65535 bytes.
 */
export function propertiesLength(p: Properties): number {
  let size = 0;
  const bag = p as Record<string, unknown>;
  for (const name in bag) {
    const v = bag[name];
    if (v === undefined) continue;
    const def = BY_NAME.get(name);
    if (def === undefined) continue;
    switch (def.type) {
      case PropType.Byte:
        size += 2;
        break;
      case PropType.U16:
        size += 3;
        break;
      case PropType.U32:
        size += 5;
        break;
      case PropType.VarInt:
        for (const id of v as number[]) size += 1 + varintSize(id);
        break;
      case PropType.Str:
        size += 3 + strLen(v as string, name);
        break;
      case PropType.Bin:
        size += 3 + (v as Buffer).length;
        break;
      case PropType.Pair:
        for (const [k, val] of v as Array<[string, string]>) size += 5 + strLen(k, 'user property name') + strLen(val, 'user property value');
        break;
    }
  }
  return size;
}

/** Bytes the whole block takes on the wire: length prefix plus content. */
export function propertiesFieldSize(p: Properties | undefined): number {
  if (!hasProperties(p)) return 1;
  const n = propertiesLength(p);
  return varintSize(n) + n;
}

/**
 * Write a property block: the length `length` (from propertiesLength) as a Variable Byte Integer,
 * then each property in the object's key order; user properties keep their order and repeats.
 */
export function writeProperties(buf: Buffer, pos: number, p: Properties, length: number): number {
  pos = writeVarint(buf, pos, length);
  if (length === 0) return pos;
  const bag = p as Record<string, unknown>;
  for (const name in bag) {
    const v = bag[name];
    if (v === undefined) continue;
    const def = BY_NAME.get(name);
    if (def === undefined) continue;
    const id = def.id;
    switch (def.type) {
      case PropType.Byte:
        buf[pos++] = id;
        buf[pos++] = v as number;
        break;
      case PropType.U16:
        buf[pos++] = id;
        buf.writeUInt16BE(v as number, pos);
        pos += 2;
        break;
      case PropType.U32:
        buf[pos++] = id;
        buf.writeUInt32BE(v as number, pos);
        pos += 4;
        break;
      case PropType.VarInt:
        for (const x of v as number[]) {
          buf[pos++] = id;
          pos = writeVarint(buf, pos, x);
        }
        break;
      case PropType.Str:
        buf[pos++] = id;
        pos = writeString(buf, pos, v as string);
        break;
      case PropType.Bin:
        buf[pos++] = id;
        pos = writeBinary(buf, pos, v as Buffer);
        break;
      case PropType.Pair:
        for (const [k, val] of v as Array<[string, string]>) {
          buf[pos++] = id;
          pos = writeString(buf, pos, k);
          pos = writeString(buf, pos, val);
        }
        break;
    }
  }
  return pos;
}
