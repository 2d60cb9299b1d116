/**
 * MqttDecoder as a stream: any chunking gives the same packets, whole packets are not copied,
 * partial ones are copied once, the size limit is enforced from the fixed header, and the
 * protocol level comes from the first CONNECT.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { MqttDecoder, UnsupportedProtocolError } from './decoder.js';
import { encodePacket, encodePublish } from './encoder.js';
import { DecodeError, PacketType } from './packets.js';
import type { Packet, ProtocolLevel } from './packets.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const CONNECT4 = hex('10 0D 0004 4D515454 04 02 000A 0001 70');
const CONNECT5 = hex('10 0E 0004 4D515454 05 02 000A 00 0001 70');

function stream(level: ProtocolLevel): Buffer[] {
  const v5 = level === 5;
  const out = [
    v5 ? CONNECT5 : CONNECT4,
    encodePublish(level, 'a/b', Buffer.from('x'), 0, false, false, 0),
    encodePublish(level, 'a/é', Buffer.alloc(200, 1), 1, true, false, 1, v5 ? { userProperties: [['k', 'v']] } : undefined),
    encodePublish(level, 't', Buffer.alloc(20_000, 2), 2, false, true, 65535),
    encodePacket({ type: PacketType.PUBACK, packetId: 7, reasonCode: v5 ? 0x10 : 0, properties: {} }, level),
    encodePacket({ type: PacketType.SUBSCRIBE, packetId: 8, subscriptions: [{ filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }], properties: {} }, level),
    encodePacket({ type: PacketType.PINGREQ }, level),
    encodePacket({ type: PacketType.UNSUBSCRIBE, packetId: 9, filters: ['a/#'], properties: {} }, level),
    encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0, properties: {} }, level),
  ];
  return out;
}

/** Packets as comparable values (payload bytes as hex). */
function summary(p: Packet): string {
  return JSON.stringify(p, (k, v: unknown) => (k === 'raw' ? undefined : v));
}

function feed(chunks: Buffer[], max = 1 << 20): string[] {
  const d = new MqttDecoder({ maxPacketSize: max });
  const out: string[] = [];
  for (const c of chunks) d.push(c, (p) => out.push(summary(p)));
  assert.equal(d.bufferedBytes, 0, 'nothing left over');
  return out;
}

function split(buf: Buffer, sizes: (i: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = Math.max(1, sizes(k));
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

for (const level of [4, 5] as const) {
  test(`level ${level}: one chunk, byte by byte and random chunks decode the same packets`, () => {
    const parts = stream(level);
    const all = Buffer.concat(parts);
    const whole = feed([all]);
    assert.equal(whole.length, parts.length);
    assert.deepEqual(feed(parts), whole, 'packet per chunk');
    assert.deepEqual(feed(split(all, () => 1)), whole, 'byte by byte');
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let round = 0; round < 20; round++) assert.deepEqual(feed(split(all, () => rnd() % 3000)), whole, `random round ${round}`);
    // A 1-byte chunk then the rest: the fixed header is split at every possible point.
    for (let cut = 1; cut < 40; cut++) assert.deepEqual(feed([all.subarray(0, cut), all.subarray(cut)]), whole, `cut ${cut}`);
  });
}

test('many packets in one chunk are slices of it (no copy); the level comes from the CONNECT', () => {
  const parts = [CONNECT5, encodePublish(5, 't', Buffer.from('one'), 0, false, false, 0), encodePublish(5, 't', Buffer.from('two'), 1, false, false, 3, { contentType: 'c' })];
  const chunk = Buffer.concat(parts);
  const d = new MqttDecoder({ maxPacketSize: 1000 });
  const got: Packet[] = [];
  d.push(chunk, (p) => got.push(p));
  assert.equal(d.protocolLevel, 5);
  assert.equal(got.length, 3);
  for (const p of got.slice(1)) {
    if (p.type !== PacketType.PUBLISH) return assert.fail();
    assert.equal(p.payload.buffer, chunk.buffer, 'payload is a view of the chunk');
    assert.equal(p.raw!.buffer, chunk.buffer, 'raw is a view of the chunk');
  }
  const second = got[2]!;
  if (second.type !== PacketType.PUBLISH) return assert.fail();
  assert.equal(second.properties.contentType, 'c');
  assert.equal(second.payload.toString(), 'two');
});

test('a packet split across chunks is held without copying until it is whole, then copied once', () => {
  const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
  d.setProtocolLevel(4);
  const big = encodePublish(4, 'big', Buffer.alloc(100_000, 9), 1, false, false, 5);
  const trailer = encodePublish(4, 'small', Buffer.from('s'), 0, false, false, 0);
  const got: Packet[] = [];
  let fed = 0;
  for (let i = 0; i < big.length; i += 1000) {
    const c = big.subarray(i, Math.min(i + 1000, big.length));
    fed += c.length;
    // The last chunk also carries the next packet, which must come out as a slice of it.
    const chunk = fed === big.length ? Buffer.concat([c, trailer]) : c;
    d.push(chunk, (p) => got.push(p));
    if (fed < big.length) assert.equal(d.bufferedBytes, fed);
    else {
      assert.equal(got.length, 2);
      const small = got[1]!;
      if (small.type !== PacketType.PUBLISH) return assert.fail();
      assert.equal(small.payload.buffer, chunk.buffer, 'the packet after the completed one is not copied');
    }
  }
  const p = got[0]!;
  if (p.type !== PacketType.PUBLISH) return assert.fail();
  assert.equal(p.payload.length, 100_000);
  assert.ok(p.payload.every((x) => x === 9));
  assert.equal(d.bufferedBytes, 0);
});

test('0x95 Packet Too Large is raised from the fixed header, before the body arrives', () => {
  const d = new MqttDecoder({ maxPacketSize: 100 });
  d.setProtocolLevel(5);
  assert.throws(
    () => d.push(hex('30 64'), () => {}), // remaining length 100 -> 102 bytes in all
    (e: unknown) => e instanceof DecodeError && e.reason === 0x95,
  );
  // Exactly the limit (whole packet, fixed header included) passes.
  const ok = new MqttDecoder({ maxPacketSize: 100 });
  ok.setProtocolLevel(4);
  const n: Packet[] = [];
  ok.push(encodePublish(4, 't', Buffer.alloc(100 - 2 - 3), 0, false, false, 0), (p) => n.push(p));
  assert.equal(n.length, 1);
  // A huge length announced in the header of the first chunk, split header included.
  const e = new MqttDecoder({ maxPacketSize: 1 << 20 });
  e.setProtocolLevel(4);
  e.push(hex('30 FF'), () => {});
  assert.throws(() => e.push(hex('FF 7F'), () => {}), (x: unknown) => x instanceof DecodeError && x.reason === 0x95);
});

test('remaining length: 5 bytes is malformed as soon as the 5th byte is seen', () => {
  const d = new MqttDecoder({ maxPacketSize: 1 << 30 });
  d.setProtocolLevel(4);
  d.push(hex('30 FF FF'), () => {});
  assert.throws(() => d.push(hex('FF FF'), () => {}), (e: unknown) => e instanceof DecodeError && e.reason === 0x81 && e.rule === 'MQTT-1.5.5-1');
});

test('the first packet must be CONNECT [MQTT-3.1.0-1] unless the level was set', () => {
  const d = new MqttDecoder({ maxPacketSize: 1000 });
  assert.throws(() => d.push(hex('C0 00'), () => {}), (e: unknown) => e instanceof DecodeError && e.reason === 0x82 && e.rule === 'MQTT-3.1.0-1');
  const ok = new MqttDecoder({ maxPacketSize: 1000 });
  ok.setProtocolLevel(4);
  let n = 0;
  ok.push(hex('C0 00'), () => n++);
  assert.equal(n, 1);
  // A client-role decoder has no such rule.
  const client = new MqttDecoder({ maxPacketSize: 1000, role: 'client' });
  client.push(hex('20 02 00 00 D0 00'), () => n++);
  assert.equal(n, 3);
});

test('a second CONNECT is handed to the handler and does not change the level', () => {
  const d = new MqttDecoder({ maxPacketSize: 1000 });
  const got: Packet[] = [];
  d.push(Buffer.concat([CONNECT5, CONNECT4, hex('30 0F 0005 746F706963 00 7061796C6F6164')]), (p) => got.push(p));
  assert.deepEqual(
    got.map((p) => p.type),
    [PacketType.CONNECT, PacketType.CONNECT, PacketType.PUBLISH],
  );
  assert.equal(d.protocolLevel, 5);
  const p = got[2]!;
  if (p.type !== PacketType.PUBLISH) return assert.fail();
  assert.equal(p.payload.toString(), 'payload'); // parsed with a v5 property block
});

test('an unsupported CONNECT leaves connectLevel and the error says how to answer', () => {
  for (const [h, level, code] of [
    ['10 0D 0004 4D515454 06 02 000A 0001 70', 6, 1],
    ['10 0F 0006 4D5149736470 05 02 000A 0001 70', 5, 0x84],
  ] as const) {
    const d = new MqttDecoder({ maxPacketSize: 1000 });
    assert.throws(
      () => d.push(hex(h), () => {}),
      (e: unknown) => e instanceof UnsupportedProtocolError && e.reason === 0x84 && e.connackCode === code,
    );
    assert.equal(d.connectLevel, level);
  }
  // connectLevel is known even when the CONNECT is malformed after the level byte.
  const m = new MqttDecoder({ maxPacketSize: 1000 });
  assert.throws(() => m.push(hex('10 0D 0004 4D515454 05 03 000A 0001 70'), () => {}), DecodeError);
  assert.equal(m.connectLevel, 5);
});

test('a bad packet after good ones: the good ones are delivered first, then DecodeError', () => {
  const d = new MqttDecoder({ maxPacketSize: 1000 });
  const got: number[] = [];
  assert.throws(
    () => d.push(Buffer.concat([CONNECT4, hex('C0 00'), hex('36 03 0001 74')]), (p) => got.push(p.type)),
    (e: unknown) => e instanceof DecodeError && e.reason === 0x81,
  );
  assert.deepEqual(got, [PacketType.CONNECT, PacketType.PINGREQ]);
});

test('empty chunks are harmless', () => {
  const d = new MqttDecoder({ maxPacketSize: 1000 });
  const got: number[] = [];
  d.push(Buffer.alloc(0), (p) => got.push(p.type));
  d.push(CONNECT4.subarray(0, 1), (p) => got.push(p.type));
  d.push(Buffer.alloc(0), (p) => got.push(p.type));
  d.push(CONNECT4.subarray(1), (p) => got.push(p.type));
  assert.deepEqual(got, [PacketType.CONNECT]);
});
