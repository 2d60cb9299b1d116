import test from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { decodePacket, MqttDecoder } from './decoder.js';
import { encodePacket, encodePublish } from './encoder.js';
import { DecodeError, PacketType } from './packets.js';
import type { Packet, ProtocolLevel } from './packets.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decode one whole packet as the broker does: a stream whose first packet is a CONNECT at `level`. */
function decode(buf: Buffer, level: ProtocolLevel = 4): Packet {
  const out: Packet[] = [];
  const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
  d.setProtocolLevel(level);
  d.push(buf, (p) => out.push(p));
  assert.equal(out.length, 1);
  return out[0]!;
}

function reason(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof DecodeError) return err.reason;
    throw err;
  }
  return -1;
}

test('CONNECT 3.1.1 and 5.0 from hex fixtures', () => {
  const v4 = decodePacket(hex('10 0d 0004 4d515454 04 02 003c 0001 61'), 4);
  if (v4.type !== PacketType.CONNECT) return assert.fail();
  assert.deepEqual([v4.protocolLevel, v4.cleanStart, v4.keepAlive, v4.clientId], [4, true, 60, 'a']);
  const v5 = decodePacket(hex('10 13 0004 4d515454 05 02 003c 05 11 0000001e 0001 62'), 5);
  if (v5.type !== PacketType.CONNECT) return assert.fail();
  assert.equal(v5.properties.sessionExpiryInterval, 30);
});

test('PUBLISH round trips at both levels; payload and raw bytes are zero-copy slices', () => {
  for (const level of [4, 5] as const) {
    const props = level === 5 ? { contentType: 'text/plain', userProperties: [['a', '1'], ['a', '2']] as Array<[string, string]>, messageExpiryInterval: 9 } : undefined;
    const buf = encodePublish(level, 'a/b', Buffer.from('hi'), 1, true, false, 7, props);
    const p = decode(buf, level);
    if (p.type !== PacketType.PUBLISH) return assert.fail();
    assert.deepEqual([p.topic, p.qos, p.retain, p.packetId, p.payload.toString()], ['a/b', 1, true, 7, 'hi']);
    if (level === 5) assert.deepEqual(p.properties.userProperties, [['a', '1'], ['a', '2']]);
    assert.equal(p.payload.buffer, buf.buffer);
    assert.deepEqual(p.raw, buf); // forwarded unchanged when a subscriber can take it
  }
});

test('every packet type round trips through encodePacket / decodePacket', () => {
  const packets: Packet[] = [
    { type: PacketType.CONNACK, sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 10, topicAliasMaximum: 5 } },
    { type: PacketType.PUBACK, packetId: 3, reasonCode: 0x10, properties: { reasonString: 'nobody' } },
    { type: PacketType.PUBREL, packetId: 4, reasonCode: 0, properties: {} },
    { type: PacketType.SUBSCRIBE, packetId: 5, subscriptions: [{ filter: 'a/+', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 }], properties: { subscriptionIdentifiers: [42] } },
    { type: PacketType.SUBACK, packetId: 5, reasonCodes: [2, 0x87], properties: {} },
    { type: PacketType.UNSUBSCRIBE, packetId: 6, filters: ['a/+', 'b'], properties: {} },
    { type: PacketType.UNSUBACK, packetId: 6, reasonCodes: [0, 0x11], properties: {} },
    { type: PacketType.DISCONNECT, reasonCode: 0x8b, properties: { reasonString: 'bye' } },
  ];
  for (const p of packets) {
    const role = p.type === PacketType.CONNACK || p.type === PacketType.SUBACK || p.type === PacketType.UNSUBACK ? 'client' : 'server';
    const back = decodePacket(encodePacket(p, 5), 5, role);
    const norm = (x: Packet): unknown => ({ ...x, properties: { ...(x as { properties?: object }).properties } });
    assert.deepEqual(norm(back), norm(p), `type ${p.type}`);
  }
});

test('streaming: byte by byte and many packets per chunk', () => {
  const stream = Buffer.concat([encodePublish(4, 't', Buffer.from('1'), 0, false, false, 0), hex('c0 00'), encodePublish(4, 't', Buffer.alloc(300, 7), 1, false, false, 9)]);
  for (const size of [1, 2, 5, stream.length]) {
    const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
    d.setProtocolLevel(4);
    const types: number[] = [];
    for (let i = 0; i < stream.length; i += size) d.push(stream.subarray(i, i + size), (p) => types.push(p.type));
    assert.deepEqual(types, [3, 12, 3], `chunk ${size}`);
  }
});

test('error classes: 0x81 malformed, 0x82 protocol error, 0x95 too large, 0x84 version', () => {
  assert.equal(reason(() => decode(hex('36 07 0001 61 0001 00 78'), 5)), 0x81); // QoS 3
  assert.equal(reason(() => decode(hex('38 05 0001 61 00 78'), 5)), 0x81); // DUP on QoS 0
  assert.equal(reason(() => decode(hex('32 07 0001 61 0000 00 78'), 5)), 0x82); // packet id 0
  assert.equal(reason(() => decode(hex('30 06 0001 2b 00 7878'), 5)), 0x81); // wildcard in topic
  assert.equal(reason(() => decode(hex('30 06 0002 6100 00 78'), 5)), 0x81); // U+0000 in topic
  assert.equal(reason(() => decode(hex('30 09 0001 61 04 0101 0101 78'), 5)), 0x82); // duplicate property
  assert.equal(reason(() => decode(hex('30 07 0001 61 02 0401 78'), 5)), 0x81); // unknown property
  assert.equal(reason(() => decodePacket(hex('10 0d 0004 4d515454 07 02 003c 0001 61'), 4)), 0x84); // level 7
  assert.equal(reason(() => decodePacket(hex('10 0d 0004 4d515454 04 03 003c 0001 61'), 4)), 0x81); // reserved flag
  assert.equal(reason(() => decode(hex('20 02 00 00'), 5)), 0x82); // CONNACK sent to a server
  const small = new MqttDecoder({ maxPacketSize: 16 });
  small.setProtocolLevel(5);
  assert.equal(reason(() => small.push(hex('30 20 0001 61'), () => {})), 0x95); // detected from the header
});

test('cross-check with mqtt-packet: its packets decode here, ours parse there', () => {
  for (const protocolVersion of [4, 5] as const) {
    const theirs = mqttPacket.generate(
      {
        cmd: 'publish', topic: 'x/y', payload: Buffer.from('payload'), qos: 2, messageId: 99, retain: false, dup: false,
        ...(protocolVersion === 5 ? { properties: { contentType: 'c', correlationData: Buffer.from('id'), userProperties: { k: 'v' } } } : {}),
      },
      { protocolVersion },
    );
    const p = decode(theirs, protocolVersion);
    if (p.type !== PacketType.PUBLISH) return assert.fail();
    assert.deepEqual([p.topic, p.qos, p.packetId, p.payload.toString()], ['x/y', 2, 99, 'payload']);
    if (protocolVersion === 5) assert.equal(p.properties.contentType, 'c');
    const ours = encodePacket({ type: PacketType.SUBSCRIBE, packetId: 12, subscriptions: [{ filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }], properties: {} }, protocolVersion);
    const parser = mqttPacket.parser({ protocolVersion });
    const got: mqttPacket.Packet[] = [];
    parser.on('packet', (x) => got.push(x));
    parser.parse(ours);
    assert.equal(got[0]?.cmd, 'subscribe');
    assert.equal((got[0] as mqttPacket.ISubscribePacket).subscriptions[0]?.topic, 'a/#');
  }
});
