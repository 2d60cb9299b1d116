/**
 * Hex fixtures, hand-assembled from MQTT 3.1.1 / 5.0 chapter 3, for every packet type at both
 * levels: each decodes to the given packet and that packet encodes back to the same bytes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decoder.js';
import type { Role } from './decoder.js';
import { encodePacket } from './encoder.js';
import { PacketType } from './packets.js';
import type { Packet, ProtocolLevel } from './packets.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const b = (s: string): Buffer => Buffer.from(s);

interface Fixture {
  name: string;
  level: ProtocolLevel;
  /** Who receives it: packets only a server sends are decoded in the 'client' role. */
  role?: Role;
  hex: string;
  packet: Packet;
}

const E = {};

const FIXTURES: Fixture[] = [
  // ---- CONNECT
  {
    name: 'CONNECT 3.1 (MQIsdp)',
    level: 3,
    hex: '10 0F 0006 4D5149736470 03 02 000A 0001 70',
    packet: { type: PacketType.CONNECT, protocolName: 'MQIsdp', protocolLevel: 3, cleanStart: true, keepAlive: 10, clientId: 'p', will: null, username: null, password: null, properties: E },
  },
  {
    name: 'CONNECT 3.1.1 minimal',
    level: 4,
    hex: '10 0D 0004 4D515454 04 02 000A 0001 70',
    packet: { type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 4, cleanStart: true, keepAlive: 10, clientId: 'p', will: null, username: null, password: null, properties: E },
  },
  {
    name: 'CONNECT 3.1.1 with will, user name and password',
    level: 4,
    // flags EE: user name, password, will retain, will QoS 1, will, clean session
    hex: '10 1D 0004 4D515454 04 EE 003C 0003 636964 0001 74 0002 6869 0001 75 0002 7077',
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 4,
      cleanStart: true,
      keepAlive: 60,
      clientId: 'cid',
      will: { topic: 't', payload: b('hi'), qos: 1, retain: true, properties: E },
      username: 'u',
      password: b('pw'),
      properties: E,
    },
  },
  {
    name: 'CONNECT 5.0 with properties and will properties',
    level: 5,
    // flags 96: user name, will QoS 2, will, clean start
    hex: `10 2F 0004 4D515454 05 96 003C
          0F 11 0000001E 21 0014 26 0001 6B 0001 76
          0001 63
          09 18 00000005 03 0001 63
          0001 74 0000
          0001 75`,
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanStart: true,
      keepAlive: 60,
      clientId: 'c',
      will: { topic: 't', payload: Buffer.alloc(0), qos: 2, retain: false, properties: { willDelayInterval: 5, contentType: 'c' } },
      username: 'u',
      password: null,
      properties: { sessionExpiryInterval: 30, receiveMaximum: 20, userProperties: [['k', 'v']] },
    },
  },
  {
    name: 'CONNECT 5.0 password without user name (allowed in 5.0)',
    level: 5,
    hex: '10 11 0004 4D515454 05 40 0000 00 0000 0002 7077',
    packet: { type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 5, cleanStart: false, keepAlive: 0, clientId: '', will: null, username: null, password: b('pw'), properties: E },
  },
  // ---- CONNACK
  { name: 'CONNACK 3.1.1 session present', level: 4, role: 'client', hex: '20 02 01 00', packet: { type: PacketType.CONNACK, sessionPresent: true, reasonCode: 0, properties: E } },
  { name: 'CONNACK 3.1.1 refused (return code 5)', level: 4, role: 'client', hex: '20 02 00 05', packet: { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 5, properties: E } },
  {
    name: 'CONNACK 5.0 with properties',
    level: 5,
    role: 'client',
    hex: '20 09 00 00 06 22 000A 21 0014',
    packet: { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 10, receiveMaximum: 20 } },
  },
  { name: 'CONNACK 5.0 refused 0x87', level: 5, role: 'client', hex: '20 03 00 87 00', packet: { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0x87, properties: E } },
  // ---- PUBLISH
  {
    name: 'PUBLISH 3.1.1 QoS 0',
    level: 4,
    hex: '30 0E 0005 746F706963 7061796C6F6164',
    packet: { type: PacketType.PUBLISH, dup: false, qos: 0, retain: false, topic: 'topic', packetId: 0, properties: E, payload: b('payload') },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 2 DUP RETAIN',
    level: 4,
    hex: '3D 10 0005 746F706963 1234 7061796C6F6164',
    packet: { type: PacketType.PUBLISH, dup: true, qos: 2, retain: true, topic: 'topic', packetId: 0x1234, properties: E, payload: b('payload') },
  },
  {
    name: 'PUBLISH 3.1.1 empty payload, UTF-8 topic',
    level: 4,
    hex: '31 07 0005 41F0AA9B94',
    packet: { type: PacketType.PUBLISH, dup: false, qos: 0, retain: true, topic: 'A\u{2A6D4}', packetId: 0, properties: E, payload: Buffer.alloc(0) },
  },
  {
    name: 'PUBLISH 5.0 QoS 0 no properties',
    level: 5,
    hex: '30 0F 0005 746F706963 00 7061796C6F6164',
    packet: { type: PacketType.PUBLISH, dup: false, qos: 0, retain: false, topic: 'topic', packetId: 0, properties: E, payload: b('payload') },
  },
  {
    name: 'PUBLISH 5.0 QoS 1 with properties',
    level: 5,
    hex: '32 1B 0005 746F706963 1234 0A 01 01 02 00000E10 23 0001 7061796C6F6164',
    packet: {
      type: PacketType.PUBLISH,
      dup: false,
      qos: 1,
      retain: false,
      topic: 'topic',
      packetId: 0x1234,
      properties: { payloadFormatIndicator: 1, messageExpiryInterval: 3600, topicAlias: 1 },
      payload: b('payload'),
    },
  },
  {
    name: 'PUBLISH 5.0 empty topic with topic alias',
    level: 5,
    hex: '30 0D 0000 03 23 0001 7061796C6F6164',
    packet: { type: PacketType.PUBLISH, dup: false, qos: 0, retain: false, topic: '', packetId: 0, properties: { topicAlias: 1 }, payload: b('payload') },
  },
  {
    name: 'PUBLISH 5.0 all PUBLISH properties, repeated user properties',
    level: 5,
    hex: `30 2C 0001 74
          27 03 0001 63 08 0001 72 09 0002 6964 26 0001 6B 0001 31 26 0001 6B 0001 32 26 0001 61 0001 33 02 0000003C
          78`,
    packet: {
      type: PacketType.PUBLISH,
      dup: false,
      qos: 0,
      retain: false,
      topic: 't',
      packetId: 0,
      properties: {
        contentType: 'c',
        responseTopic: 'r',
        correlationData: b('id'),
        userProperties: [
          ['k', '1'],
          ['k', '2'],
          ['a', '3'],
        ],
        messageExpiryInterval: 60,
      },
      payload: b('x'),
    },
  },
  {
    name: 'PUBLISH 5.0 to a client with two subscription identifiers',
    level: 5,
    role: 'client',
    hex: '30 09 0001 74 04 0B 01 0B 02 78',
    packet: { type: PacketType.PUBLISH, dup: false, qos: 0, retain: false, topic: 't', packetId: 0, properties: { subscriptionIdentifiers: [1, 2] }, payload: b('x') },
  },
  // ---- PUBACK / PUBREC / PUBREL / PUBCOMP
  { name: 'PUBACK 3.1.1', level: 4, hex: '40 02 1234', packet: { type: PacketType.PUBACK, packetId: 0x1234, reasonCode: 0, properties: E } },
  { name: 'PUBACK 5.0 short form', level: 5, hex: '40 02 1234', packet: { type: PacketType.PUBACK, packetId: 0x1234, reasonCode: 0, properties: E } },
  { name: 'PUBACK 5.0 reason code only', level: 5, hex: '40 03 1234 10', packet: { type: PacketType.PUBACK, packetId: 0x1234, reasonCode: 0x10, properties: E } },
  {
    name: 'PUBACK 5.0 reason code and reason string',
    level: 5,
    hex: '40 08 1234 10 04 1F 0001 70',
    packet: { type: PacketType.PUBACK, packetId: 0x1234, reasonCode: 0x10, properties: { reasonString: 'p' } },
  },
  { name: 'PUBREC 3.1.1', level: 4, hex: '50 02 1234', packet: { type: PacketType.PUBREC, packetId: 0x1234, reasonCode: 0, properties: E } },
  { name: 'PUBREC 5.0 0x80', level: 5, hex: '50 03 1234 80', packet: { type: PacketType.PUBREC, packetId: 0x1234, reasonCode: 0x80, properties: E } },
  { name: 'PUBREL 3.1.1', level: 4, hex: '62 02 1234', packet: { type: PacketType.PUBREL, packetId: 0x1234, reasonCode: 0, properties: E } },
  { name: 'PUBREL 5.0 0x92', level: 5, hex: '62 03 1234 92', packet: { type: PacketType.PUBREL, packetId: 0x1234, reasonCode: 0x92, properties: E } },
  { name: 'PUBCOMP 3.1.1', level: 4, hex: '70 02 1234', packet: { type: PacketType.PUBCOMP, packetId: 0x1234, reasonCode: 0, properties: E } },
  {
    name: 'PUBCOMP 5.0 with user property',
    level: 5,
    hex: '70 0B 1234 00 07 26 0001 70 0001 71',
    packet: { type: PacketType.PUBCOMP, packetId: 0x1234, reasonCode: 0, properties: { userProperties: [['p', 'q']] } },
  },
  // ---- SUBSCRIBE / SUBACK
  {
    name: 'SUBSCRIBE 3.1.1 two filters',
    level: 4,
    hex: '82 0C 1234 0001 70 01 0003 612F23 02',
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 0x1234,
      subscriptions: [
        { filter: 'p', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: 'a/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: E,
    },
  },
  {
    name: 'SUBSCRIBE 5.0 options and subscription identifier',
    level: 5,
    hex: '82 09 1234 02 0B 01 0001 70 2D',
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 0x1234,
      subscriptions: [{ filter: 'p', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }],
      properties: { subscriptionIdentifiers: [1] },
    },
  },
  {
    name: 'SUBSCRIBE 5.0 largest subscription identifier',
    level: 5,
    hex: '82 0C 0001 05 0B FFFFFF7F 0001 70 00',
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: [{ filter: 'p', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      properties: { subscriptionIdentifiers: [268_435_455] },
    },
  },
  { name: 'SUBACK 3.1.1', level: 4, role: 'client', hex: '90 04 1234 01 80', packet: { type: PacketType.SUBACK, packetId: 0x1234, reasonCodes: [1, 0x80], properties: E } },
  { name: 'SUBACK 5.0', level: 5, role: 'client', hex: '90 05 1234 00 02 87', packet: { type: PacketType.SUBACK, packetId: 0x1234, reasonCodes: [2, 0x87], properties: E } },
  // ---- UNSUBSCRIBE / UNSUBACK
  { name: 'UNSUBSCRIBE 3.1.1', level: 4, hex: 'A2 05 1234 0001 70', packet: { type: PacketType.UNSUBSCRIBE, packetId: 0x1234, filters: ['p'], properties: E } },
  {
    name: 'UNSUBSCRIBE 5.0 with user property, two filters',
    level: 5,
    hex: 'A2 10 1234 07 26 0001 70 0001 71 0001 70 0001 71',
    packet: { type: PacketType.UNSUBSCRIBE, packetId: 0x1234, filters: ['p', 'q'], properties: { userProperties: [['p', 'q']] } },
  },
  { name: 'UNSUBACK 3.1.1', level: 4, role: 'client', hex: 'B0 02 1234', packet: { type: PacketType.UNSUBACK, packetId: 0x1234, reasonCodes: [], properties: E } },
  { name: 'UNSUBACK 5.0', level: 5, role: 'client', hex: 'B0 05 1234 00 00 11', packet: { type: PacketType.UNSUBACK, packetId: 0x1234, reasonCodes: [0, 0x11], properties: E } },
  // ---- PINGREQ / PINGRESP
  { name: 'PINGREQ 3.1.1', level: 4, hex: 'C0 00', packet: { type: PacketType.PINGREQ } },
  { name: 'PINGREQ 5.0', level: 5, hex: 'C0 00', packet: { type: PacketType.PINGREQ } },
  { name: 'PINGRESP 3.1.1', level: 4, role: 'client', hex: 'D0 00', packet: { type: PacketType.PINGRESP } },
  { name: 'PINGRESP 5.0', level: 5, role: 'client', hex: 'D0 00', packet: { type: PacketType.PINGRESP } },
  // ---- DISCONNECT
  { name: 'DISCONNECT 3.1.1', level: 4, hex: 'E0 00', packet: { type: PacketType.DISCONNECT, reasonCode: 0, properties: E } },
  { name: 'DISCONNECT 5.0 short form', level: 5, hex: 'E0 00', packet: { type: PacketType.DISCONNECT, reasonCode: 0, properties: E } },
  { name: 'DISCONNECT 5.0 with will', level: 5, hex: 'E0 01 04', packet: { type: PacketType.DISCONNECT, reasonCode: 4, properties: E } },
  {
    name: 'DISCONNECT 5.0 session expiry',
    level: 5,
    hex: 'E0 07 00 05 11 0000003C',
    packet: { type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 60 } },
  },
  {
    name: 'DISCONNECT 5.0 to a client: server reference',
    level: 5,
    role: 'client',
    hex: 'E0 06 9C 04 1C 0001 68',
    packet: { type: PacketType.DISCONNECT, reasonCode: 0x9c, properties: { serverReference: 'h' } },
  },
  // ---- AUTH
  { name: 'AUTH 5.0 short form', level: 5, hex: 'F0 00', packet: { type: PacketType.AUTH, reasonCode: 0, properties: E } },
  {
    name: 'AUTH 5.0 continue with method and data',
    level: 5,
    hex: 'F0 0F 18 0D 15 0004 74657374 16 0003 616263',
    packet: { type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'test', authenticationData: b('abc') } },
  },
];

/** Drop what the fixtures do not spell out (PUBLISH raw) and unfreeze shared objects. */
function plain(p: Packet): unknown {
  const { raw: _raw, ...rest } = p as Packet & { raw?: Buffer };
  return JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? `bytes:${Buffer.from((v as { data: number[] }).data).toString('hex')}` : v)));
}

for (const f of FIXTURES) {
  test(`fixture: ${f.name}`, () => {
    const bytes = hex(f.hex);
    const decoded = decodePacket(bytes, f.level, f.role ?? 'server');
    assert.deepEqual(plain(decoded), plain(f.packet), 'decodes to the packet');
    assert.equal(encodePacket(f.packet, f.level).toString('hex'), bytes.toString('hex'), 'encodes to the bytes');
    assert.equal(encodePacket(decoded, f.level).toString('hex'), bytes.toString('hex'), 'round trip');
  });
}

test('fixtures cover every packet type at 3.1.1 and 5.0', () => {
  for (const level of [4, 5]) {
    const types = new Set(FIXTURES.filter((f) => f.level === level).map((f) => f.packet.type));
    const want = level === 5 ? 15 : 14;
    for (let t = 1; t <= want; t++) assert.ok(types.has(t), `level ${level} type ${t}`);
  }
});

test('PUBLISH raw is the whole packet as received, payload a view of it', () => {
  const bytes = hex('32 10 0005 746F706963 1234 7061796C6F6164');
  const p = decodePacket(bytes, 4);
  assert.equal(p.type, PacketType.PUBLISH);
  if (p.type !== PacketType.PUBLISH) return;
  assert.equal(p.raw?.toString('hex'), bytes.toString('hex'));
  assert.equal(p.payload.buffer, bytes.buffer);
  assert.equal(p.payload.byteOffset, bytes.byteOffset + 11);
});

test('decoded CONNECT keeps no view of the input: will payload, password and binary properties are copies', () => {
  const bytes = hex(`10 28 0004 4D515454 05 C6 0000 08 15 0001 6D 16 0001 64 0001 63 04 09 0001 78 0001 74 0001 70 0001 75 0002 7077`);
  const p = decodePacket(bytes, 5);
  if (p.type !== PacketType.CONNECT) return assert.fail('not a CONNECT');
  const before = [p.will!.payload.toString(), p.password!.toString(), p.properties.authenticationData!.toString(), p.will!.properties.correlationData!.toString()];
  bytes.fill(0);
  assert.deepEqual([p.will!.payload.toString(), p.password!.toString(), p.properties.authenticationData!.toString(), p.will!.properties.correlationData!.toString()], before);
  assert.deepEqual(before, ['p', 'pw', 'd', 'x']);
});
