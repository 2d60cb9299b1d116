/** Encoder specifics: level-dependent forms, the PUBLISH fast path and packet-id patching, limits. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decoder.js';
import { connackReturnCode, copyWithPacketId, encodePacket, encodePublish, publishPacketIdOffset } from './encoder.js';
import { PacketType } from './packets.js';
import type { Properties } from './packets.js';
import { EMPTY_PROPERTIES } from './properties.js';

const h = (b: Buffer): string => b.toString('hex');
const hex = (s: string): string => s.replace(/\s+/g, '').toLowerCase();

test('CONNACK: 3.1.1 return codes at levels 3/4, v5 reason codes at 5', () => {
  const ack = (reasonCode: number, level: 3 | 4 | 5): string => h(encodePacket({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties: {} }, level));
  assert.equal(ack(0x84, 4), hex('20 02 00 01'));
  assert.equal(ack(0x84, 3), hex('20 02 00 01'));
  assert.equal(ack(0x85, 4), hex('20 02 00 02'));
  assert.equal(ack(0x88, 4), hex('20 02 00 03'));
  assert.equal(ack(0x86, 4), hex('20 02 00 04'));
  assert.equal(ack(0x87, 4), hex('20 02 00 05'));
  assert.equal(ack(2, 4), hex('20 02 00 02')); // already a return code
  assert.equal(ack(0x84, 5), hex('20 03 00 84 00'));
  assert.deepEqual([0, 1, 5, 0x80, 0x89, 0x8a, 0x8c, 0x9f].map(connackReturnCode), [0, 1, 5, 3, 3, 5, 5, 3]);
});

test('v5 acknowledgements: short forms (section 3.4.2.1) and long forms', () => {
  const ack = (reasonCode: number, properties: Properties): string => h(encodePacket({ type: PacketType.PUBACK, packetId: 1, reasonCode, properties }, 5));
  assert.equal(ack(0, {}), hex('40 02 0001'));
  assert.equal(ack(0, EMPTY_PROPERTIES), hex('40 02 0001'));
  assert.equal(ack(0, { reasonString: undefined }), hex('40 02 0001')); // undefined values are absent
  assert.equal(ack(0x10, {}), hex('40 03 0001 10'));
  assert.equal(ack(0, { reasonString: 'r' }), hex('40 08 0001 00 04 1F 0001 72'));
  // 3.1.1 never carries a reason code.
  assert.equal(h(encodePacket({ type: PacketType.PUBREC, packetId: 2, reasonCode: 0x80, properties: { reasonString: 'x' } }, 4)), hex('50 02 0002'));
  assert.equal(h(encodePacket({ type: PacketType.PUBREL, packetId: 2, reasonCode: 0, properties: {} }, 4)), hex('62 02 0002'));
});

test('level 3/4 drop v5-only fields: UNSUBACK codes, DISCONNECT reason, SUBACK failures become 0x80', () => {
  assert.equal(h(encodePacket({ type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [0, 0x11], properties: { reasonString: 'x' } }, 4)), hex('B0 02 0003'));
  assert.equal(h(encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0x8b, properties: { reasonString: 'x' } }, 4)), hex('E0 00'));
  assert.equal(h(encodePacket({ type: PacketType.SUBACK, packetId: 3, reasonCodes: [1, 0x87, 0x8f], properties: {} }, 4)), hex('90 05 0003 01 80 80'));
  assert.equal(h(encodePacket({ type: PacketType.SUBACK, packetId: 3, reasonCodes: [1, 0x87], properties: {} }, 5)), hex('90 05 0003 00 01 87'));
  assert.throws(() => encodePacket({ type: PacketType.AUTH, reasonCode: 0x18, properties: {} }, 4), TypeError);
  assert.equal(h(encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0x8b, properties: {} }, 5)), hex('E0 01 8B'));
});

test('encodePublish: exact size, string or Buffer topic, 1-4 byte remaining lengths', () => {
  for (const size of [0, 100, 200, 20_000, 2_100_000]) {
    for (const level of [4, 5] as const) {
      const payload = Buffer.alloc(size, 7);
      const a = encodePublish(level, 'a/é', payload, 1, false, false, 42);
      const b = encodePublish(level, Buffer.from('a/é'), payload, 1, false, false, 42);
      assert.equal(h(a), h(b));
      const p = decodePacket(a, level);
      if (p.type !== PacketType.PUBLISH) return assert.fail();
      assert.equal(p.topic, 'a/é');
      assert.equal(p.packetId, 42);
      assert.equal(p.payload.length, size);
      assert.equal(a.length, p.raw!.length);
    }
  }
  // QoS 0 has no packet id; flags land in the first byte.
  assert.equal(h(encodePublish(4, 't', Buffer.from('x'), 0, true, false, 9)), hex('31 04 0001 74 78'));
  assert.equal(h(encodePublish(4, 't', Buffer.from('x'), 2, false, true, 9)), hex('3C 06 0001 74 0009 78'));
  assert.equal(h(encodePublish(5, 't', Buffer.from('x'), 0, false, false, 0)), hex('30 05 0001 74 00 78'));
  assert.equal(h(encodePublish(5, 't', Buffer.from('x'), 0, false, false, 0, {})), hex('30 05 0001 74 00 78'));
});

test('properties: user properties keep order and repeats, multi-byte strings measured in bytes', () => {
  const properties: Properties = {
    userProperties: [
      ['z', '1'],
      ['a', 'é'],
      ['z', '€'],
    ],
    subscriptionIdentifiers: [1, 300, 268_435_455],
    correlationData: Buffer.from([0, 1, 2]),
    messageExpiryInterval: 0xffffffff,
  };
  const buf = encodePublish(5, 't', Buffer.from('x'), 0, false, false, 0, properties);
  const p = decodePacket(buf, 5, 'client');
  if (p.type !== PacketType.PUBLISH) return assert.fail();
  assert.deepEqual(p.properties.userProperties, properties.userProperties);
  assert.deepEqual(p.properties.subscriptionIdentifiers, [1, 300, 268_435_455]);
  assert.deepEqual([...p.properties.correlationData!], [0, 1, 2]);
  assert.equal(p.properties.messageExpiryInterval, 0xffffffff);
  assert.equal(p.payload.toString(), 'x');
});

test('publishPacketIdOffset and copyWithPacketId: one encoding, one copy + patch per subscriber', () => {
  for (const level of [4, 5] as const) {
    for (const size of [10, 300, 70_000]) {
      const base = encodePublish(level, 'some/topic', Buffer.alloc(size, 1), 1, false, false, 1, level === 5 ? { contentType: 'c' } : undefined);
      const off = publishPacketIdOffset(base);
      assert.equal(base.readUInt16BE(off), 1);
      const copy = copyWithPacketId(base, 0xbeef);
      assert.equal(base.readUInt16BE(off), 1, 'original untouched');
      assert.equal(h(copy), h(encodePublish(level, 'some/topic', Buffer.alloc(size, 1), 1, false, false, 0xbeef, level === 5 ? { contentType: 'c' } : undefined)));
      const dup = copyWithPacketId(base, 5, true);
      const p = decodePacket(dup, level);
      if (p.type !== PacketType.PUBLISH) return assert.fail();
      assert.deepEqual([p.dup, p.packetId], [true, 5]);
    }
  }
  assert.equal(publishPacketIdOffset(encodePublish(4, 't', Buffer.alloc(1), 0, false, false, 0)), -1);
  assert.equal(publishPacketIdOffset(Buffer.from([0x40, 2, 0, 1])), -1);
  assert.throws(() => copyWithPacketId(encodePublish(4, 't', Buffer.alloc(1), 0, false, false, 0), 1), TypeError);
});

test('limits: strings over 65535 bytes and bodies over 268,435,455 bytes are refused', () => {
  assert.throws(() => encodePublish(4, 'x'.repeat(65536), Buffer.alloc(0), 0, false, false, 0), RangeError);
  assert.throws(() => encodePublish(4, 'é'.repeat(40_000), Buffer.alloc(0), 0, false, false, 0), RangeError);
  assert.throws(() => encodePublish(5, 't', Buffer.alloc(0), 0, false, false, 0, { contentType: 'x'.repeat(70_000) }), RangeError);
  assert.throws(() => encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ filter: 'f'.repeat(65536), qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }], properties: {} }, 4), RangeError);
  const huge = { length: 268_435_456 } as unknown as Buffer; // size is all the encoder looks at before allocating
  assert.throws(() => encodePublish(4, 't', huge, 0, false, false, 0), RangeError);
  // The largest string fits.
  const max = encodePublish(4, 'x'.repeat(65535), Buffer.alloc(0), 0, false, false, 0);
  assert.equal(max.readUInt16BE(4), 65535);
});

test('CONNECT encodes level 3 as MQIsdp and drops v5 properties below 5', () => {
  const c = {
    type: PacketType.CONNECT as const,
    protocolName: '',
    protocolLevel: 3 as const,
    cleanStart: true,
    keepAlive: 10,
    clientId: 'p',
    will: null,
    username: null,
    password: null,
    properties: { sessionExpiryInterval: 5 },
  };
  assert.equal(h(encodePacket(c, 3)), hex('10 0F 0006 4D5149736470 03 02 000A 0001 70'));
  assert.equal(h(encodePacket({ ...c, protocolName: 'MQTT', protocolLevel: 4 }, 4)), hex('10 0D 0004 4D515454 04 02 000A 0001 70'));
  assert.equal(h(encodePacket({ ...c, protocolName: 'MQTT', protocolLevel: 5 }, 5)), hex('10 13 0004 4D515454 05 02 000A 05 11 00000005 0001 70'));
});
