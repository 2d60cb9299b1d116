/**
 * Cross-check with the npm package mqtt-packet (an independent implementation): for a corpus of
 * packets of every type at 3.1.1 and 5.0,
 *   - what mqtt-packet generates decodes here to the same fields,
 *   - what we encode mqtt-packet parses to the same fields,
 *   - at 3.1.1 (no properties, one canonical form) both produce the same bytes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { decodePacket } from './decoder.js';
import type { Role } from './decoder.js';
import { encodePacket, encodePublish } from './encoder.js';
import { PacketType } from './packets.js';
import type { Packet, Properties, PublishPacket, QoS } from './packets.js';

type Level = 4 | 5;
type Obj = Record<string, unknown>;

const CMD: Record<number, string> = {
  1: 'connect',
  2: 'connack',
  3: 'publish',
  4: 'puback',
  5: 'pubrec',
  6: 'pubrel',
  7: 'pubcomp',
  8: 'subscribe',
  9: 'suback',
  10: 'unsubscribe',
  11: 'unsuback',
  12: 'pingreq',
  13: 'pingresp',
  14: 'disconnect',
  15: 'auth',
};

const BOOLEAN_PROPS = new Set(['payloadFormatIndicator', 'requestProblemInformation', 'requestResponseInformation', 'retainAvailable', 'wildcardSubscriptionAvailable', 'sharedSubscriptionAvailable']);

/** Our Properties in mqtt-packet's vocabulary (booleans, singular names, user properties as an object). */
function theirProps(p: Properties): Obj | undefined {
  const out: Obj = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (k === 'userProperties') {
      const up: Record<string, string | string[]> = {};
      for (const [name, value] of v as Array<[string, string]>) {
        const cur = up[name];
        up[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
      }
      out.userProperties = up;
    } else if (k === 'subscriptionIdentifiers') {
      const ids = v as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (k === 'subscriptionIdentifierAvailable') out.subscriptionIdentifiersAvailable = v === 1;
    else if (BOOLEAN_PROPS.has(k)) out[k] = v === 1;
    else out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Our packet as an mqtt-packet object. */
function theirs(p: Packet, level: Level): Obj {
  const v5 = level === 5;
  const o: Obj = { cmd: CMD[p.type] };
  const props = (x: Properties): void => {
    const t = v5 ? theirProps(x) : undefined;
    if (t !== undefined) o.properties = t;
  };
  switch (p.type) {
    case PacketType.CONNECT:
      Object.assign(o, { protocolId: p.protocolName, protocolVersion: p.protocolLevel, clean: p.cleanStart, keepalive: p.keepAlive, clientId: p.clientId });
      if (p.will !== null) {
        const w: Obj = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
        const wp = v5 ? theirProps(p.will.properties) : undefined;
        if (wp !== undefined) w.properties = wp;
        o.will = w;
      }
      if (p.username !== null) o.username = p.username;
      if (p.password !== null) o.password = p.password;
      props(p.properties);
      break;
    case PacketType.CONNACK:
      o.sessionPresent = p.sessionPresent;
      o[v5 ? 'reasonCode' : 'returnCode'] = p.reasonCode;
      props(p.properties);
      break;
    case PacketType.PUBLISH:
      Object.assign(o, { topic: p.topic, payload: p.payload, qos: p.qos, dup: p.dup, retain: p.retain });
      if (p.qos > 0) o.messageId = p.packetId;
      props(p.properties);
      break;
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      o.messageId = p.packetId;
      if (v5) o.reasonCode = p.reasonCode;
      props(p.properties);
      break;
    case PacketType.SUBSCRIBE:
      o.messageId = p.packetId;
      o.subscriptions = p.subscriptions.map((s) => (v5 ? { topic: s.filter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : { topic: s.filter, qos: s.qos }));
      props(p.properties);
      break;
    case PacketType.SUBACK:
      o.messageId = p.packetId;
      o.granted = p.reasonCodes;
      props(p.properties);
      break;
    case PacketType.UNSUBSCRIBE:
      o.messageId = p.packetId;
      o.unsubscriptions = p.filters;
      props(p.properties);
      break;
    case PacketType.UNSUBACK:
      o.messageId = p.packetId;
      if (v5) o.granted = p.reasonCodes;
      props(p.properties);
      break;
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      if (v5) o.reasonCode = p.reasonCode;
      props(p.properties);
      break;
    default:
      break;
  }
  return o;
}

/** Comparable form: Buffers as hex, null-prototype objects as plain ones, undefined dropped. */
function norm(x: unknown): unknown {
  if (Buffer.isBuffer(x)) return `bytes:${x.toString('hex')}`;
  if (Array.isArray(x)) return x.map(norm);
  if (x !== null && typeof x === 'object') {
    const out: Obj = {};
    for (const k of Object.keys(x).sort()) {
      const v = (x as Obj)[k];
      if (v !== undefined) out[k] = norm(v);
    }
    return out;
  }
  return x;
}

/** Every key of `expected` is in `actual` with an equal value (recursively for objects). */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(actual !== null && typeof actual === 'object', `${path} is an object`);
    for (const [k, v] of Object.entries(expected as Obj)) assertSubset((actual as Obj)[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, path);
}

function parseTheirs(buf: Buffer, level: Level): Obj[] {
  const parser = mqttPacket.parser({ protocolVersion: level });
  const out: Obj[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => out.push(p as unknown as Obj));
  parser.on('error', (e) => errors.push(e));
  parser.parse(buf);
  assert.deepEqual(errors, [], 'mqtt-packet parses it');
  return out;
}

const roleOf = (p: Packet): Role => (p.type === PacketType.CONNACK || p.type === PacketType.SUBACK || p.type === PacketType.UNSUBACK || p.type === PacketType.PINGRESP ? 'client' : 'server');

const publish = (qos: QoS, retain: boolean, dup: boolean, topic: string, size: number, properties: Properties = {}): PublishPacket => ({
  type: PacketType.PUBLISH,
  dup,
  qos,
  retain,
  topic,
  packetId: qos > 0 ? 1 + (size % 65535) : 0,
  properties,
  payload: Buffer.alloc(size, size & 0xff),
});

function corpus(level: Level): Packet[] {
  const v5 = level === 5;
  const P = (p: Properties): Properties => (v5 ? p : {});
  const list: Packet[] = [
    { type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: level, cleanStart: true, keepAlive: 60, clientId: 'client-1', will: null, username: null, password: null, properties: {} },
    {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: level,
      cleanStart: false,
      keepAlive: 0,
      clientId: 'ü',
      will: { topic: 'will/t', payload: Buffer.from('gone'), qos: 1, retain: true, properties: P({ willDelayInterval: 10, contentType: 'text/plain', userProperties: [['a', 'b']] }) },
      username: 'user',
      password: Buffer.from('secret'),
      properties: P({ sessionExpiryInterval: 3600, receiveMaximum: 50, maximumPacketSize: 65536, topicAliasMaximum: 8, requestProblemInformation: 0, userProperties: [['x', 'y']] }),
    },
    { type: PacketType.CONNACK, sessionPresent: true, reasonCode: 0, properties: P({ receiveMaximum: 100, topicAliasMaximum: 10, assignedClientIdentifier: 'auto-1', retainAvailable: 1, maximumQoS: 1 }) },
    { type: PacketType.CONNACK, sessionPresent: false, reasonCode: v5 ? 0x87 : 5, properties: P({ reasonString: 'no' }) },
    publish(0, false, false, 'a/b', 0),
    publish(1, true, false, 'a/é/c', 300),
    publish(2, false, true, 'x', 20_000),
    publish(1, false, false, 'p', 5, P({ payloadFormatIndicator: 1, messageExpiryInterval: 30, responseTopic: 'reply/to', correlationData: Buffer.from('corr'), userProperties: [['k', '1'], ['k', '2']], contentType: 'application/json' })),
    { type: PacketType.PUBACK, packetId: 1, reasonCode: 0, properties: {} },
    { type: PacketType.PUBREC, packetId: 65535, reasonCode: v5 ? 0x10 : 0, properties: P({ reasonString: 'nobody' }) },
    { type: PacketType.PUBREL, packetId: 3, reasonCode: 0, properties: {} },
    { type: PacketType.PUBCOMP, packetId: 4, reasonCode: v5 ? 0x92 : 0, properties: {} },
    {
      type: PacketType.SUBSCRIBE,
      packetId: 5,
      subscriptions: [
        { filter: 'a/+/c', qos: 1, noLocal: v5, retainAsPublished: v5, retainHandling: v5 ? 2 : 0 },
        { filter: '#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: v5 ? 1 : 0 },
      ],
      properties: P({ subscriptionIdentifiers: [77], userProperties: [['s', 't']] }),
    },
    { type: PacketType.SUBACK, packetId: 5, reasonCodes: v5 ? [1, 0x87] : [1, 0x80], properties: P({ reasonString: 'partly' }) },
    { type: PacketType.UNSUBSCRIBE, packetId: 6, filters: ['a/+/c', '#'], properties: P({ userProperties: [['u', 'v']] }) },
    { type: PacketType.UNSUBACK, packetId: 6, reasonCodes: v5 ? [0, 0x11] : [], properties: {} },
    { type: PacketType.PINGREQ },
    { type: PacketType.PINGRESP },
    { type: PacketType.DISCONNECT, reasonCode: 0, properties: {} },
  ];
  if (v5) {
    list.push(
      { type: PacketType.DISCONNECT, reasonCode: 0x04, properties: { sessionExpiryInterval: 0, reasonString: 'bye' } },
      { type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from([1, 2, 3]) } },
    );
  }
  return list;
}

for (const level of [4, 5] as const) {
  test(`mqtt-packet -> ours: level ${level === 5 ? '5.0' : '3.1.1'}, every packet type`, () => {
    for (const p of corpus(level)) {
      const bytes = mqttPacket.generate(theirs(p, level) as unknown as mqttPacket.Packet, { protocolVersion: level });
      const back = decodePacket(bytes, level, roleOf(p));
      assert.deepEqual(norm({ ...back, raw: undefined }), norm(p), CMD[p.type]);
    }
  });

  test(`ours -> mqtt-packet: level ${level === 5 ? '5.0' : '3.1.1'}, every packet type`, () => {
    for (const p of corpus(level)) {
      const bytes = encodePacket(p, level);
      const parsed = parseTheirs(bytes, level);
      assert.equal(parsed.length, 1, CMD[p.type]);
      assertSubset(norm(parsed[0]), norm(theirs(p, level)), CMD[p.type]!);
      if (level === 4) assert.equal(bytes.toString('hex'), mqttPacket.generate(theirs(p, level) as unknown as mqttPacket.Packet, { protocolVersion: 4 }).toString('hex'), `${CMD[p.type]} bytes`);
    }
  });
}

test('mqtt-packet <-> ours: PUBLISH matrix (QoS, flags, sizes across varint boundaries, properties)', () => {
  const sizes = [0, 1, 120, 127, 128, 16_383, 16_384, 70_000];
  for (const level of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      for (const size of sizes) {
        const retain = size % 2 === 0;
        const dup = qos > 0 && size % 3 === 0;
        const props: Properties = level === 5 && size % 2 === 1 ? { messageExpiryInterval: size, userProperties: [['n', String(size)]] } : {};
        const p = publish(qos, retain, dup, `t/${size}`, size, props);
        const ours = encodePublish(level, p.topic, p.payload, qos, retain, dup, p.packetId, props);
        const parsed = parseTheirs(ours, level);
        assertSubset(norm(parsed[0]), norm(theirs(p, level)), `ours qos ${qos} size ${size}`);
        const generated = mqttPacket.generate(theirs(p, level) as unknown as mqttPacket.Packet, { protocolVersion: level });
        assert.deepEqual(norm({ ...decodePacket(generated, level), raw: undefined }), norm(p), `theirs qos ${qos} size ${size}`);
        if (level === 4 || Object.keys(props).length === 0) assert.equal(ours.toString('hex'), generated.toString('hex'), `bytes qos ${qos} size ${size}`);
      }
    }
  }
});
