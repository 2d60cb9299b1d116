/** MQTT-SN 1.2 codec (codec.ts) on generated input: decode never throws, encode and decode invert each other. */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode } from './codec.js';
import { DecodeError, MsgType } from './packets.js';
import type { FilterTopic, Message, Packet, PublishTopic, QoS, ReturnCode, WillTopic } from './packets.js';

/** fc.record with ordinary objects (its default null prototype would fail deepStrictEqual). */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const qos = fc.constantFrom<QoS>(-1, 0, 1, 2);
const returnCode = fc.constantFrom<ReturnCode>(0, 1, 2, 3);
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
/** Any Unicode text but U+0000 (which the codec refuses), ASCII-heavy. */
const str = fc
  .oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }))
  .map((s) => s.replaceAll('\0', ''));
const nonEmpty = str.filter((s) => s.length > 0);
/** Exactly 2 UTF-8 octets: two ASCII characters or one from U+0080..U+07FF. */
const shortName = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 0x7f }), fc.integer({ min: 1, max: 0x7f })).map(([a, b]) => String.fromCharCode(a, b)),
  fc.integer({ min: 0x80, max: 0x7ff }).map((c) => String.fromCodePoint(c)),
);
const publishTopic: fc.Arbitrary<PublishTopic> = fc.oneof(
  u16.map((id) => ({ kind: 'normal' as const, id })),
  u16.map((id) => ({ kind: 'predefined' as const, id })),
  shortName.map((name) => ({ kind: 'short' as const, name })),
);
const filterTopic: fc.Arbitrary<FilterTopic> = fc.oneof(
  str.map((name) => ({ kind: 'name' as const, name })),
  u16.map((id) => ({ kind: 'predefined' as const, id })),
  shortName.map((name) => ({ kind: 'short' as const, name })),
);
const will: fc.Arbitrary<WillTopic | null> = fc.option(rec({ qos, retain: fc.boolean(), topic: str }));

const message: fc.Arbitrary<Message> = fc.oneof(
  rec({ type: fc.constant('ADVERTISE' as const), gwId: u8, duration: u16 }),
  rec({ type: fc.constant('SEARCHGW' as const), radius: u8 }),
  rec({ type: fc.constant('GWINFO' as const), gwId: u8, gwAdd: bytes(20) }),
  rec({ type: fc.constant('CONNECT' as const), will: fc.boolean(), cleanSession: fc.boolean(), protocolId: u8, duration: u16, clientId: str }),
  rec({ type: fc.constant('CONNACK' as const), returnCode }),
  fc.constant({ type: 'WILLTOPICREQ' as const }),
  rec({ type: fc.constant('WILLTOPIC' as const), will }),
  fc.constant({ type: 'WILLMSGREQ' as const }),
  rec({ type: fc.constant('WILLMSG' as const), willMsg: bytes(40) }),
  rec({ type: fc.constant('REGISTER' as const), topicId: u16, msgId: u16, topicName: str }),
  rec({ type: fc.constant('REGACK' as const), topicId: u16, msgId: u16, returnCode }),
  rec({
    type: fc.constant('PUBLISH' as const), dup: fc.boolean(), qos, retain: fc.boolean(), topic: publishTopic, msgId: u16,
    data: fc.oneof(bytes(40), bytes(600)), // up to 600 octets: the 3-octet Length form too
  }),
  rec({ type: fc.constant('PUBACK' as const), topicId: u16, msgId: u16, returnCode }),
  rec({ type: fc.constant('PUBCOMP' as const), msgId: u16 }),
  rec({ type: fc.constant('PUBREC' as const), msgId: u16 }),
  rec({ type: fc.constant('PUBREL' as const), msgId: u16 }),
  rec({ type: fc.constant('SUBSCRIBE' as const), dup: fc.boolean(), qos, msgId: u16, topic: filterTopic }),
  rec({ type: fc.constant('SUBACK' as const), qos, topicId: u16, msgId: u16, returnCode }),
  rec({ type: fc.constant('UNSUBSCRIBE' as const), msgId: u16, topic: filterTopic }),
  rec({ type: fc.constant('UNSUBACK' as const), msgId: u16 }),
  rec({ type: fc.constant('PINGREQ' as const), clientId: fc.option(nonEmpty) }),
  fc.constant({ type: 'PINGRESP' as const }),
  rec({ type: fc.constant('DISCONNECT' as const), duration: fc.option(u16) }),
  rec({ type: fc.constant('WILLTOPICUPD' as const), will }),
  rec({ type: fc.constant('WILLTOPICRESP' as const), returnCode }),
  rec({ type: fc.constant('WILLMSGUPD' as const), willMsg: bytes(40) }),
  rec({ type: fc.constant('WILLMSGRESP' as const), returnCode }),
);
const packet: fc.Arbitrary<Packet> = fc.oneof(
  { arbitrary: message, weight: 4 },
  { arbitrary: rec({ type: fc.constant('ENCAPSULATED' as const), radius: fc.integer({ min: 0, max: 3 }), wirelessNodeId: bytes(12), message }), weight: 1 },
);

/** decode without a DecodeError, and without the catch-all that would hide a thrown bug. */
function check(buf: Buffer): Packet | DecodeError {
  const r = decode(buf);
  if (r instanceof DecodeError) assert.doesNotMatch(r.reason, /internal error/);
  return r;
}

test('decode(encode(p)) deep-equals p, and encode(decode(x)) === x for every encoded x', () => {
  fc.assert(
    fc.property(packet, (p) => {
      const wire = encode(p);
      const back = check(wire);
      assert.deepEqual(back, p);
      assert.deepEqual(encode(back as Packet), wire);
    }),
    { numRuns: 20_000 },
  );
});

test('arbitrary octets never make decode throw', () => {
  fc.assert(fc.property(bytes(300), (buf) => void check(buf)), { numRuns: 50_000 });
});

test('octets with a right Length and any MsgType: decode never throws, and what it accepts re-encodes stably', () => {
  // Datagrams that get past the Length check: any MsgType, any fields, sometimes inside an encapsulation.
  const framed = fc
    .tuple(fc.oneof(u8, fc.constantFrom(...Object.values(MsgType))), fc.oneof(bytes(6), bytes(40)), fc.option(fc.tuple(u8, bytes(8))))
    .map(([type, body, outer]) => {
      const msg = Buffer.concat([Buffer.from([body.length + 2, type]), body]);
      return outer === null ? msg : Buffer.concat([Buffer.from([3 + outer[1].length, 0xfe, outer[0]]), outer[1], msg]);
    });
  let accepted = 0;
  fc.assert(
    fc.property(framed, (buf) => {
      const r = check(buf);
      if (r instanceof DecodeError) return;
      accepted++;
      // The octets may differ (unused flag bits, reserved Ctrl bits), the packet may not.
      const wire = encode(r);
      assert.deepEqual(check(wire), r);
      assert.ok(wire.length <= buf.length);
    }),
    { numRuns: 50_000 },
  );
  assert.ok(accepted > 3_000, `only ${accepted} accepted`);
});
