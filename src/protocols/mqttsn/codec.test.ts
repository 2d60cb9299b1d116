/**
 * MQTT-SN 1.2 codec (codec.ts). The octets are typed by hand from the message tables of the
 * specification (5.4.1-5.4.25, 5.5), never produced by the encoder: Length | MsgType | fields.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, MAX_MESSAGE_SIZE } from './codec.js';
import { DecodeError } from './packets.js';
import type { Message, Packet } from './packets.js';

/** Hex octets, '|' between fields for reading, "quoted" text as UTF-8: b('05 09 | "bye"'). */
function b(spec: string): Buffer {
  return Buffer.concat(
    spec.split('"').map((part, i) => (i % 2 === 1 ? Buffer.from(part, 'utf8') : Buffer.from(part.replace(/[\s|]/g, ''), 'hex'))),
  );
}
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

function decoded(buf: Buffer): Packet {
  const p = decode(buf);
  if (p instanceof DecodeError) assert.fail(`unexpected DecodeError: ${p.reason}`);
  return p;
}

// Every message type, both directions: decode(octets) deep-equals the packet and encode(packet) gives the octets.
const VECTORS: Array<[string, string, Packet]> = [
  ['ADVERTISE (5.4.1)', '05 00 | 07 | 03 84', { type: 'ADVERTISE', gwId: 7, duration: 900 }],
  ['SEARCHGW (5.4.2)', '03 01 | 01', { type: 'SEARCHGW', radius: 1 }],
  ['GWINFO from a gateway (5.4.3), no GwAdd', '03 02 | 07', { type: 'GWINFO', gwId: 7, gwAdd: Buffer.alloc(0) }],
  ['GWINFO from a client (5.4.3), with GwAdd', '07 02 | 07 | c0 a8 01 0a', { type: 'GWINFO', gwId: 7, gwAdd: b('c0 a8 01 0a') }],
  [
    'CONNECT (5.4.4) CleanSession',
    '0e 04 | 04 | 01 | 00 3c | "sensor-1"',
    { type: 'CONNECT', will: false, cleanSession: true, protocolId: 1, duration: 60, clientId: 'sensor-1' },
  ],
  ['CONNECT (5.4.4) Will + CleanSession', '07 04 | 0c | 01 | ff ff | "c"', { type: 'CONNECT', will: true, cleanSession: true, protocolId: 1, duration: 65535, clientId: 'c' }],
  ['CONNECT (5.4.4) neither flag', '07 04 | 00 | 01 | 00 00 | "c"', { type: 'CONNECT', will: false, cleanSession: false, protocolId: 1, duration: 0, clientId: 'c' }],
  ['CONNACK (5.4.5) accepted', '03 05 | 00', { type: 'CONNACK', returnCode: 0 }],
  ['CONNACK (5.4.5) rejected: congestion', '03 05 | 01', { type: 'CONNACK', returnCode: 1 }],
  ['WILLTOPICREQ (5.4.6)', '02 06', { type: 'WILLTOPICREQ' }],
  ['WILLTOPIC (5.4.7) QoS 1 retained', '09 07 | 30 | "will/t"', { type: 'WILLTOPIC', will: { qos: 1, retain: true, topic: 'will/t' } }],
  ['WILLTOPIC (5.4.7) QoS 2', '04 07 | 40 | "w"', { type: 'WILLTOPIC', will: { qos: 2, retain: false, topic: 'w' } }],
  ['WILLTOPIC (5.4.7) empty: delete the will', '02 07', { type: 'WILLTOPIC', will: null }],
  ['WILLMSGREQ (5.4.8)', '02 08', { type: 'WILLMSGREQ' }],
  ['WILLMSG (5.4.9)', '05 09 | "bye"', { type: 'WILLMSG', willMsg: text('bye') }],
  ['WILLMSG (5.4.9) empty message', '02 09', { type: 'WILLMSG', willMsg: Buffer.alloc(0) }],
  ['REGISTER (5.4.10) from a client: TopicId 0', '10 0a | 00 00 | 00 01 | "temp/room1"', { type: 'REGISTER', topicId: 0, msgId: 1, topicName: 'temp/room1' }],
  ['REGISTER (5.4.10) from the gateway, UTF-8 name', '0b 0a | 00 2a | ab cd | "é/ü"', { type: 'REGISTER', topicId: 42, msgId: 0xabcd, topicName: 'é/ü' }],
  ['REGACK (5.4.11)', '07 0b | 00 05 | 00 01 | 00', { type: 'REGACK', topicId: 5, msgId: 1, returnCode: 0 }],
  [
    'PUBLISH (5.4.12) QoS 1, normal topic id',
    '0b 0c | 20 | 00 05 | 00 02 | "21.5"',
    { type: 'PUBLISH', dup: false, qos: 1, retain: false, topic: { kind: 'normal', id: 5 }, msgId: 2, data: text('21.5') },
  ],
  [
    'PUBLISH (5.4.12) QoS -1, retained, predefined topic id',
    '09 0c | 71 | 00 01 | 00 00 | 01 02',
    { type: 'PUBLISH', dup: false, qos: -1, retain: true, topic: { kind: 'predefined', id: 1 }, msgId: 0, data: b('01 02') },
  ],
  [
    'PUBLISH (5.4.12) QoS 2, DUP, short topic name, empty data',
    '07 0c | c2 | "ab" | 12 34',
    { type: 'PUBLISH', dup: true, qos: 2, retain: false, topic: { kind: 'short', name: 'ab' }, msgId: 0x1234, data: Buffer.alloc(0) },
  ],
  [
    'PUBLISH (5.4.12) QoS 0, binary data that is not UTF-8',
    '09 0c | 00 | 00 07 | 00 00 | ff 00',
    { type: 'PUBLISH', dup: false, qos: 0, retain: false, topic: { kind: 'normal', id: 7 }, msgId: 0, data: b('ff 00') },
  ],
  ['PUBACK (5.4.13) rejected: invalid topic ID', '07 0d | 00 05 | 00 02 | 02', { type: 'PUBACK', topicId: 5, msgId: 2, returnCode: 2 }],
  ['PUBCOMP (5.4.14)', '04 0e | 00 02', { type: 'PUBCOMP', msgId: 2 }],
  ['PUBREC (5.4.14)', '04 0f | 12 34', { type: 'PUBREC', msgId: 0x1234 }],
  ['PUBREL (5.4.14)', '04 10 | 12 34', { type: 'PUBREL', msgId: 0x1234 }],
  [
    'SUBSCRIBE (5.4.15) topic name with wildcards, QoS 1',
    '13 12 | 20 | 00 03 | "sensors/+/temp"',
    { type: 'SUBSCRIBE', dup: false, qos: 1, msgId: 3, topic: { kind: 'name', name: 'sensors/+/temp' } },
  ],
  [
    'SUBSCRIBE (5.4.15) predefined topic id, DUP, QoS 0',
    '07 12 | 81 | 00 04 | 01 02',
    { type: 'SUBSCRIBE', dup: true, qos: 0, msgId: 4, topic: { kind: 'predefined', id: 0x0102 } },
  ],
  ['SUBSCRIBE (5.4.15) short topic name, QoS 2', '07 12 | 42 | 00 05 | "xy"', { type: 'SUBSCRIBE', dup: false, qos: 2, msgId: 5, topic: { kind: 'short', name: 'xy' } }],
  ['SUBACK (5.4.16) granted QoS 1', '08 13 | 20 | 00 05 | 00 03 | 00', { type: 'SUBACK', qos: 1, topicId: 5, msgId: 3, returnCode: 0 }],
  ['SUBACK (5.4.16) rejected: not supported', '08 13 | 00 | 00 00 | 00 04 | 03', { type: 'SUBACK', qos: 0, topicId: 0, msgId: 4, returnCode: 3 }],
  ['UNSUBSCRIBE (5.4.17) topic name', '0a 14 | 00 | 00 06 | "a/b/c"', { type: 'UNSUBSCRIBE', msgId: 6, topic: { kind: 'name', name: 'a/b/c' } }],
  ['UNSUBSCRIBE (5.4.17) predefined topic id', '07 14 | 01 | 00 07 | 00 09', { type: 'UNSUBSCRIBE', msgId: 7, topic: { kind: 'predefined', id: 9 } }],
  ['UNSUBSCRIBE (5.4.17) short topic name', '07 14 | 02 | 00 08 | "zz"', { type: 'UNSUBSCRIBE', msgId: 8, topic: { kind: 'short', name: 'zz' } }],
  ['UNSUBACK (5.4.18)', '04 15 | 00 06', { type: 'UNSUBACK', msgId: 6 }],
  ['PINGREQ (5.4.19)', '02 16', { type: 'PINGREQ', clientId: null }],
  ['PINGREQ (5.4.19) with ClientId: a sleeping client wakes up', '0a 16 | "sensor-1"', { type: 'PINGREQ', clientId: 'sensor-1' }],
  ['PINGRESP (5.4.20)', '02 17', { type: 'PINGRESP' }],
  ['DISCONNECT (5.4.21)', '02 18', { type: 'DISCONNECT', duration: null }],
  ['DISCONNECT (5.4.21) with Duration: going to sleep', '04 18 | 0e 10', { type: 'DISCONNECT', duration: 3600 }],
  ['WILLTOPICUPD (5.4.22)', '05 1a | 50 | "wt"', { type: 'WILLTOPICUPD', will: { qos: 2, retain: true, topic: 'wt' } }],
  ['WILLTOPICUPD (5.4.22) empty: delete the will', '02 1a', { type: 'WILLTOPICUPD', will: null }],
  ['WILLTOPICRESP (5.4.24)', '03 1b | 00', { type: 'WILLTOPICRESP', returnCode: 0 }],
  ['WILLMSGUPD (5.4.23)', '04 1c | "on"', { type: 'WILLMSGUPD', willMsg: text('on') }],
  ['WILLMSGRESP (5.4.25)', '03 1d | 03', { type: 'WILLMSGRESP', returnCode: 3 }],
  [
    'Encapsulated (5.5) PINGREQ, radius 1, 2-octet node id',
    '05 fe | 01 | 12 34 | 02 16',
    { type: 'ENCAPSULATED', radius: 1, wirelessNodeId: b('12 34'), message: { type: 'PINGREQ', clientId: null } },
  ],
  [
    'Encapsulated (5.5) CONNECT behind an EUI-64 node id',
    '0b fe | 00 | 00 11 22 33 44 55 66 77 | 07 04 | 04 | 01 | 00 3c | "c"',
    {
      type: 'ENCAPSULATED',
      radius: 0,
      wirelessNodeId: b('00 11 22 33 44 55 66 77'),
      message: { type: 'CONNECT', will: false, cleanSession: true, protocolId: 1, duration: 60, clientId: 'c' },
    },
  ],
  [
    'Encapsulated (5.5) empty node id, radius 3',
    '03 fe | 03 | 04 0f | 00 01',
    { type: 'ENCAPSULATED', radius: 3, wirelessNodeId: Buffer.alloc(0), message: { type: 'PUBREC', msgId: 1 } },
  ],
];

for (const [name, octets, packet] of VECTORS) {
  test(`vector: ${name}`, () => {
    const wire = b(octets);
    assert.deepEqual(decoded(wire), packet);
    assert.deepEqual(encode(packet), wire);
  });
}

test('every message type has a vector', () => {
  const types = new Set(VECTORS.map(([, , p]) => p.type));
  const inner = new Set(VECTORS.flatMap(([, , p]) => (p.type === 'ENCAPSULATED' ? [p.message.type] : [])));
  assert.equal(types.size, 28);
  assert.ok(inner.size >= 3);
});

// ---- Length field (5.2.1) ----

const publishOf = (dataSize: number): Message => ({
  type: 'PUBLISH', dup: false, qos: 0, retain: false, topic: { kind: 'normal', id: 5 }, msgId: 0, data: Buffer.alloc(dataSize, 0x61),
});
const publishWire = (header: string, dataSize: number): Buffer => Buffer.concat([b(`${header} | 0c | 00 | 00 05 | 00 00`), Buffer.alloc(dataSize, 0x61)]);

test('Length: 1 octet up to 255, then 0x01 + 2 octets (5.2.1)', () => {
  // MsgType + 5 octets of fields + data: 248 octets of data make 255 with the 1-octet Length ...
  for (const [header, dataSize] of [['ff', 248], ['01 01 02', 249], ['01 01 35', 300], ['01 ff ff', 65526]] as const) {
    const wire = publishWire(header, dataSize);
    assert.deepEqual(encode(publishOf(dataSize)), wire, header);
    assert.deepEqual(decoded(wire), publishOf(dataSize), header);
  }
});

test('Length: the 3-octet form with 256 or 257 is accepted, and re-encoded in the 1-octet form', () => {
  // 256 octets in the 3-octet form: 3 + 1 + 5 + 247 of data; the 1-octet form holds it in 254.
  for (const [header, dataSize, short] of [['01 01 00', 247, 'fe'], ['01 01 01', 248, 'ff']] as const) {
    const p = decoded(publishWire(header, dataSize));
    assert.deepEqual(p, publishOf(dataSize));
    assert.deepEqual(encode(p), publishWire(short, dataSize));
  }
});

test('decoded Data, WillMsg, GwAdd and Wireless Node Id are views of the datagram, not copies', () => {
  const wire = b('0b 0c | 20 | 00 05 | 00 02 | "21.5"');
  const p = decoded(wire);
  assert.ok(p.type === 'PUBLISH');
  wire[wire.length - 1] = 0x36;
  assert.equal(p.data.toString(), '21.6');
  assert.equal(p.data.buffer, wire.buffer);
  const outer = b('05 fe | 01 | 12 34 | 02 16');
  const e = decoded(outer);
  assert.ok(e.type === 'ENCAPSULATED');
  assert.equal(e.wirelessNodeId.buffer, outer.buffer);
  assert.equal(e.wirelessNodeId.byteOffset, outer.byteOffset + 3);
});

// ---- accepted although unusual (the decisions in codec.ts's header) ----

test('flag bits a message does not use are ignored, and encoded as 0', () => {
  // CONNECT with every flag bit set: only Will and CleanSession count (5.4.4).
  const connect = decoded(b('07 04 | ff | 01 | 00 3c | "c"'));
  assert.deepEqual(connect, { type: 'CONNECT', will: true, cleanSession: true, protocolId: 1, duration: 60, clientId: 'c' });
  assert.deepEqual(encode(connect), b('07 04 | 0c | 01 | 00 3c | "c"'));
  // UNSUBSCRIBE uses only TopicIdType (5.4.17); SUBACK only QoS (5.4.16); WILLTOPIC QoS and Retain (5.4.7).
  assert.deepEqual(decoded(b('07 14 | fd | 00 07 | 00 09')), { type: 'UNSUBSCRIBE', msgId: 7, topic: { kind: 'predefined', id: 9 } });
  assert.deepEqual(decoded(b('08 13 | bf | 00 05 | 00 03 | 00')), { type: 'SUBACK', qos: 1, topicId: 5, msgId: 3, returnCode: 0 });
  assert.deepEqual(decoded(b('04 07 | 3f | "w"')), { type: 'WILLTOPIC', will: { qos: 1, retain: true, topic: 'w' } });
  // Encapsulation Ctrl: bits 7-2 reserved (5.5).
  const e = decoded(b('04 fe | fd | 99 | 02 17'));
  assert.deepEqual(e, { type: 'ENCAPSULATED', radius: 1, wirelessNodeId: b('99'), message: { type: 'PINGRESP' } });
  assert.deepEqual(encode(e), b('04 fe | 01 | 99 | 02 17'));
});

test('content left to the gateway: empty ClientId and names, any ProtocolId, QoS -1 anywhere, long ClientId, BOM kept', () => {
  assert.deepEqual(decoded(b('06 04 | 04 | 02 | 00 3c')), { type: 'CONNECT', will: false, cleanSession: true, protocolId: 2, duration: 60, clientId: '' });
  assert.deepEqual(decoded(b('03 07 | 20')), { type: 'WILLTOPIC', will: { qos: 1, retain: false, topic: '' } });
  assert.deepEqual(encode({ type: 'WILLTOPIC', will: { qos: 1, retain: false, topic: '' } }), b('03 07 | 20'));
  assert.deepEqual(decoded(b('06 0a | 00 00 | 00 01')), { type: 'REGISTER', topicId: 0, msgId: 1, topicName: '' });
  assert.deepEqual(decoded(b('05 12 | 60 | 00 01')), { type: 'SUBSCRIBE', dup: false, qos: -1, msgId: 1, topic: { kind: 'name', name: '' } });
  const id = 'x'.repeat(40);
  assert.deepEqual(decoded(b(`2e 04 | 04 | 01 | 00 3c | "${id}"`)), { type: 'CONNECT', will: false, cleanSession: true, protocolId: 1, duration: 60, clientId: id });
  // A leading U+FEFF is content, not a byte order mark to strip: the name round-trips.
  assert.deepEqual(decoded(b('09 0a | 00 00 | 00 01 | ef bb bf')), { type: 'REGISTER', topicId: 0, msgId: 1, topicName: '\ufeff' });
  // A short topic name may be one 2-octet character.
  assert.deepEqual(decoded(b('07 0c | 02 | c3 a9 | 00 00')), {
    type: 'PUBLISH', dup: false, qos: 0, retain: false, topic: { kind: 'short', name: 'é' }, msgId: 0, data: Buffer.alloc(0),
  });
});

// ---- malformed: decode returns a DecodeError with a reason and never throws ----

const MALFORMED: Array<[string, Buffer | string, RegExp]> = [
  ['empty datagram', '', /shorter than a header/],
  ['one octet', '05', /shorter than a header/],
  ['Length 0', '00 16', /Length 0 is shorter than a header/],
  ['truncated 3-octet Length', '01 00', /truncated 3-octet Length/],
  ['3-octet Length below 256', '01 00 04 16', /3-octet Length 4 below 256/],
  ['3-octet Length 255', Buffer.concat([b('01 00 ff 09'), Buffer.alloc(251)]), /3-octet Length 255 below 256/],
  ['Length beyond the datagram (truncated)', '03 16', /Length 3 but the datagram has 2 octets/],
  ['octets after the message', '02 16 00', /Length 2 but the datagram has 3 octets/],
  ['3-octet Length beyond the datagram', Buffer.concat([b('01 01 10 09'), Buffer.alloc(100)]), /Length 272 but the datagram has 104/],
  ['reserved MsgType 0x03', '02 03', /unknown MsgType 0x03/],
  ['reserved MsgType 0x11', '02 11', /unknown MsgType 0x11/],
  ['reserved MsgType 0x19', '02 19', /unknown MsgType 0x19/],
  ['reserved MsgType 0x1E', '02 1e', /unknown MsgType 0x1e/],
  ['reserved MsgType 0xFD', '02 fd', /unknown MsgType 0xfd/],
  ['reserved MsgType 0xFF', '02 ff', /unknown MsgType 0xff/],
  // fixed sizes
  ['ADVERTISE too long', '06 00 | 07 | 03 84 | 00', /ADVERTISE: 4 octets after MsgType, expected 3/],
  ['ADVERTISE too short', '04 00 | 07 | 03', /ADVERTISE: 2 octets/],
  ['SEARCHGW without Radius', '02 01', /SEARCHGW: 0 octets/],
  ['CONNACK too long', '04 05 | 00 00', /CONNACK: 2 octets/],
  ['WILLTOPICREQ with a field', '03 06 | 00', /WILLTOPICREQ: 1 octets/],
  ['WILLMSGREQ with a field', '03 08 | 00', /WILLMSGREQ: 1 octets/],
  ['REGACK too short', '06 0b | 00 05 | 00 01', /REGACK: 4 octets/],
  ['PUBACK too long', '08 0d | 00 05 | 00 02 | 00 00', /PUBACK: 6 octets/],
  ['PUBCOMP too short', '03 0e | 00', /PUBCOMP: 1 octets/],
  ['PUBREC too long', '05 0f | 00 01 00', /PUBREC: 3 octets/],
  ['PUBREL empty', '02 10', /PUBREL: 0 octets/],
  ['SUBACK too short', '07 13 | 20 | 00 05 | 00 03', /SUBACK: 5 octets/],
  ['UNSUBACK too short', '03 15 | 00', /UNSUBACK: 1 octets/],
  ['PINGRESP with a field', '03 17 | 00', /PINGRESP: 1 octets/],
  ['DISCONNECT with a 1-octet Duration', '03 18 | 0e', /DISCONNECT: 1 octets after MsgType, expected 2/],
  ['DISCONNECT with a 3-octet Duration', '05 18 | 00 0e 10', /DISCONNECT: 3 octets/],
  ['WILLTOPICRESP empty', '02 1b', /WILLTOPICRESP: 0 octets/],
  ['WILLMSGRESP too long', '04 1d | 00 00', /WILLMSGRESP: 2 octets/],
  // minimum sizes
  ['GWINFO without GwId', '02 02', /GWINFO: 0 octets after MsgType, expected at least 1/],
  ['CONNECT without Duration', '05 04 | 04 | 01 | 00', /CONNECT: 3 octets after MsgType, expected at least 4/],
  ['REGISTER without MsgId', '05 0a | 00 00 | 00', /REGISTER: 3 octets/],
  ['PUBLISH without MsgId', '06 0c | 00 | 00 01 | 00', /PUBLISH: 4 octets/],
  ['SUBSCRIBE without MsgId', '04 12 | 00 | 00', /SUBSCRIBE: 2 octets/],
  ['UNSUBSCRIBE flags only', '03 14 | 00', /UNSUBSCRIBE: 1 octets/],
  // TopicIdType (5.3.4)
  ['PUBLISH with TopicIdType 0b11', '07 0c | 03 | 00 01 | 00 00', /PUBLISH: reserved TopicIdType 0b11/],
  ['SUBSCRIBE with TopicIdType 0b11', '07 12 | 23 | 00 01 | 00 01', /SUBSCRIBE: reserved TopicIdType 0b11/],
  ['UNSUBSCRIBE with TopicIdType 0b11', '07 14 | 03 | 00 01 | 00 01', /UNSUBSCRIBE: reserved TopicIdType 0b11/],
  ['SUBSCRIBE predefined topic id of 1 octet', '06 12 | 01 | 00 01 | 05', /SUBSCRIBE: a predefined topic id is 2 octets, got 1/],
  ['SUBSCRIBE predefined topic id of 3 octets', '08 12 | 01 | 00 01 | 00 05 00', /predefined topic id is 2 octets, got 3/],
  ['SUBSCRIBE short topic name of 3 characters', '08 12 | 02 | 00 01 | "abc"', /SUBSCRIBE: a short topic name is 2 octets, got 3/],
  ['UNSUBSCRIBE short topic name of 1 character', '06 14 | 02 | 00 01 | "a"', /UNSUBSCRIBE: a short topic name is 2 octets, got 1/],
  // ReturnCode (5.3.10)
  ['CONNACK reserved ReturnCode 0x04', '03 05 | 04', /CONNACK: reserved ReturnCode 0x04/],
  ['REGACK reserved ReturnCode 0xFF', '07 0b | 00 05 | 00 01 | ff', /REGACK: reserved ReturnCode 0xff/],
  ['PUBACK reserved ReturnCode 0x04', '07 0d | 00 05 | 00 02 | 04', /PUBACK: reserved ReturnCode 0x04/],
  ['SUBACK reserved ReturnCode 0x80', '08 13 | 20 | 00 05 | 00 03 | 80', /SUBACK: reserved ReturnCode 0x80/],
  ['WILLTOPICRESP reserved ReturnCode', '03 1b | 10', /WILLTOPICRESP: reserved ReturnCode 0x10/],
  ['WILLMSGRESP reserved ReturnCode', '03 1d | 05', /WILLMSGRESP: reserved ReturnCode 0x05/],
  // strings: well-formed UTF-8 without U+0000
  ['CONNECT ClientId 0xFF', '07 04 | 04 | 01 | 00 3c | ff', /CONNECT: ClientId is not UTF-8/],
  ['CONNECT ClientId with U+0000', '08 04 | 04 | 01 | 00 3c | 61 00', /CONNECT: ClientId is not UTF-8 without U\+0000/],
  ['REGISTER TopicName with a bad continuation octet', '08 0a | 00 00 | 00 01 | c3 28', /REGISTER: TopicName is not UTF-8/],
  ['REGISTER TopicName with an overlong "/"', '08 0a | 00 00 | 00 01 | c0 af', /REGISTER: TopicName/],
  ['REGISTER TopicName with an encoded surrogate', '09 0a | 00 00 | 00 01 | ed a0 80', /REGISTER: TopicName/],
  ['REGISTER TopicName beyond U+10FFFF', '0a 0a | 00 00 | 00 01 | f4 90 80 80', /REGISTER: TopicName/],
  ['PUBLISH short topic name not UTF-8', '07 0c | 02 | ff fe | 00 00', /PUBLISH: short topic name is not UTF-8/],
  ['PUBLISH short topic name with U+0000', '07 0c | 02 | 61 00 | 00 00', /PUBLISH: short topic name/],
  ['SUBSCRIBE TopicName truncated in a character', '07 12 | 00 | 00 01 | e2 82', /SUBSCRIBE: TopicName is not UTF-8/],
  ['SUBSCRIBE short topic name of two continuation octets', '07 12 | 02 | 00 01 | 80 80', /SUBSCRIBE: short topic name is not UTF-8/],
  ['UNSUBSCRIBE TopicName with U+0000', '06 14 | 00 | 00 01 | 00', /UNSUBSCRIBE: TopicName/],
  ['PINGREQ ClientId not UTF-8', '03 16 | ff', /PINGREQ: ClientId is not UTF-8/],
  ['WILLTOPIC WillTopic not UTF-8', '04 07 | 20 | fe', /WILLTOPIC: WillTopic is not UTF-8/],
  ['WILLTOPICUPD WillTopic with U+0000', '05 1a | 20 | 61 00', /WILLTOPICUPD: WillTopic/],
  // encapsulation (5.5)
  ['encapsulation Length 2', '02 fe', /encapsulation Length 2 is below 3/],
  ['encapsulation Length 0', '00 fe 00 02 16', /encapsulation Length 0 is below 3/],
  ['encapsulation without a message', '04 fe | 00 | aa', /encapsulation Length 4 leaves no message in 4 octets/],
  ['encapsulation Length beyond the datagram', '09 fe | 00 | aa 02 16', /encapsulation Length 9 leaves no message in 6 octets/],
  ['encapsulation with a truncated message', '03 fe | 00 | 03 16', /encapsulated message: Length 3 but the datagram has 2 octets/],
  ['encapsulation with a 1-octet message', '03 fe | 00 | 02', /encapsulated message: a datagram of 1 octet\(s\) is shorter/],
  ['encapsulation with a malformed message', '03 fe | 00 | 03 05 | 09', /encapsulated message: CONNACK: reserved ReturnCode 0x09/],
  ['nested encapsulation', '03 fe | 00 | 05 fe | 00 | 02 16', /encapsulated message: an encapsulation has a 1-octet Length and is never nested/],
  ['encapsulation with a 3-octet Length', Buffer.concat([b('01 01 00 fe 00'), Buffer.alloc(251, 0x02)]), /an encapsulation has a 1-octet Length/],
];

for (const [name, octets, reason] of MALFORMED) {
  test(`malformed: ${name}`, () => {
    const r = decode(typeof octets === 'string' ? b(octets) : octets);
    assert.ok(r instanceof DecodeError, `decoded as ${JSON.stringify(r)}`);
    assert.match(r.reason, reason);
  });
}

test('a DecodeError names the MsgType once it was read', () => {
  const r = decode(b('03 05 | 04'));
  assert.ok(r instanceof DecodeError);
  assert.equal(r.msgType, 0x05);
  const inner = decode(b('04 fe | 00 | aa | 03 0e'));
  assert.ok(inner instanceof DecodeError);
  assert.equal(inner.msgType, 0x0e);
  const none = decode(Buffer.alloc(0));
  assert.ok(none instanceof DecodeError);
  assert.equal(none.msgType, null);
});

// ---- encode refuses what it cannot write ----

test('encode: at most 65535 octets (5.2.1)', () => {
  assert.equal(encode(publishOf(65526)).length, MAX_MESSAGE_SIZE);
  assert.throws(() => encode(publishOf(65527)), RangeError);
  assert.throws(() => encode({ type: 'WILLMSG', willMsg: Buffer.alloc(65533) }), RangeError);
  assert.equal(encode({ type: 'WILLMSG', willMsg: Buffer.alloc(65531) }).length, 65535);
  const encapsulated = (nodeId: number, data: number): Packet => ({ type: 'ENCAPSULATED', radius: 0, wirelessNodeId: Buffer.alloc(nodeId), message: publishOf(data) });
  assert.equal(encode(encapsulated(252, 1)).length, 255 + 8);
  assert.throws(() => encode(encapsulated(253, 1)), /Wireless Node Id of 253 octets/);
  assert.throws(() => encode(encapsulated(4, 65526)), RangeError);
});

test('encode: field values out of range throw RangeError', () => {
  const bad: Packet[] = [
    { type: 'PUBREC', msgId: 65536 },
    { type: 'PUBREC', msgId: -1 },
    { type: 'PUBREC', msgId: 1.5 },
    { type: 'PUBREC', msgId: Number.NaN },
    { type: 'ADVERTISE', gwId: 256, duration: 0 },
    { type: 'DISCONNECT', duration: 70000 },
    { type: 'ENCAPSULATED', radius: 4, wirelessNodeId: Buffer.alloc(1), message: { type: 'PINGRESP' } },
    { type: 'PINGREQ', clientId: '' },
    { type: 'PUBLISH', dup: false, qos: 0, retain: false, topic: { kind: 'short', name: 'abc' }, msgId: 0, data: Buffer.alloc(0) },
    { type: 'SUBSCRIBE', dup: false, qos: 0, msgId: 1, topic: { kind: 'short', name: 'a' } },
    { type: 'UNSUBSCRIBE', msgId: 1, topic: { kind: 'predefined', id: 0x10000 } },
    { type: 'REGISTER', topicId: 0, msgId: 1, topicName: 'a\0b' },
    { type: 'CONNECT', will: false, cleanSession: true, protocolId: 1, duration: 0, clientId: 'x\ud800' },
    { type: 'WILLTOPIC', will: { qos: 0, retain: false, topic: '\udc00' } },
  ];
  for (const p of bad) assert.throws(() => encode(p), RangeError, JSON.stringify(p));
});
