/**
 * The MQTT-SN 1.2 test client: byte vectors typed by hand from the specification's §5.4 tables,
 * and its flows against a fake gateway written here (plain dgram, hand-written byte answers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import {
  decode,
  encode,
  GatewayListener,
  MqttSnClient,
  MqttSnDecodeError,
  MqttSnDisconnectedError,
  MqttSnEncodeError,
  MqttSnRejectedError,
  MqttSnTimeoutError,
  shortTopicId,
} from './client.js';
import type { Flags, SnPacket, SnPacketInput } from './client.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const F = (f: Partial<Flags> = {}): Flags => ({ dup: false, qos: 0, retain: false, will: false, cleanSession: false, topicIdType: 0, ...f });

// ------------------------------------------------------------------------------------------------
// Byte vectors. Each: the message, its bytes (Length, MsgType, fields per the §5.4 table).
// ------------------------------------------------------------------------------------------------

const A248 = 'a'.repeat(248);
const A249 = 'a'.repeat(249);
const A300 = 'a'.repeat(300);
const aHex = (n: number): string => '61'.repeat(n);

const VECTORS: Array<[string, SnPacket, string]> = [
  // §5.4.1 ADVERTISE: Length 5, 0x00, GwId, Duration(2)
  ['ADVERTISE gw 1, 900 s', { type: 'ADVERTISE', gwId: 1, duration: 900 }, '05 00 01 0384'],
  // §5.4.2 SEARCHGW: Length 3, 0x01, Radius
  ['SEARCHGW radius 0', { type: 'SEARCHGW', radius: 0 }, '03 01 00'],
  ['SEARCHGW radius 3', { type: 'SEARCHGW', radius: 3 }, '03 01 03'],
  // §5.4.3 GWINFO: Length, 0x02, GwId, GwAdd (only from a client)
  ['GWINFO from a gateway', { type: 'GWINFO', gwId: 7 }, '03 02 07'],
  ['GWINFO from a client, GwAdd 127.0.0.1:1884', { type: 'GWINFO', gwId: 7, gwAdd: hex('7f000001 075c') }, '09 02 07 7f000001075c'],
  // §5.4.4 CONNECT: Length, 0x04, Flags, ProtocolId 0x01, Duration(2), ClientId
  ['CONNECT clean, 60 s, "dev-1"', { type: 'CONNECT', flags: F({ cleanSession: true }), protocolId: 1, duration: 60, clientId: 'dev-1' }, '0b 04 04 01 003c 6465762d31'],
  ['CONNECT will + clean, 300 s, "c"', { type: 'CONNECT', flags: F({ will: true, cleanSession: true }), protocolId: 1, duration: 300, clientId: 'c' }, '07 04 0c 01 012c 63'],
  ['CONNECT persistent session', { type: 'CONNECT', flags: F(), protocolId: 1, duration: 10, clientId: 'ab' }, '08 04 00 01 000a 6162'],
  // §5.4.5 CONNACK: Length 3, 0x05, ReturnCode
  ['CONNACK accepted', { type: 'CONNACK', returnCode: 0 }, '03 05 00'],
  ['CONNACK congestion', { type: 'CONNACK', returnCode: 1 }, '03 05 01'],
  // §5.4.6 WILLTOPICREQ: Length 2, 0x06
  ['WILLTOPICREQ', { type: 'WILLTOPICREQ' }, '02 06'],
  // §5.4.7 WILLTOPIC: Length, 0x07, Flags (QoS, Retain), WillTopic; empty form 2 octets
  ['WILLTOPIC QoS 1 retain "w/t"', { type: 'WILLTOPIC', flags: F({ qos: 1, retain: true }), willTopic: 'w/t' }, '06 07 30 772f74'],
  ['WILLTOPIC QoS 2 "x"', { type: 'WILLTOPIC', flags: F({ qos: 2 }), willTopic: 'x' }, '04 07 40 78'],
  ['WILLTOPIC empty', { type: 'WILLTOPIC' }, '02 07'],
  // §5.4.8 WILLMSGREQ
  ['WILLMSGREQ', { type: 'WILLMSGREQ' }, '02 08'],
  // §5.4.9 WILLMSG: Length, 0x09, WillMsg
  ['WILLMSG "bye"', { type: 'WILLMSG', willMsg: Buffer.from('bye') }, '05 09 627965'],
  // §5.4.10 REGISTER: Length, 0x0A, TopicId(2), MsgId(2), TopicName
  ['REGISTER from a client', { type: 'REGISTER', topicId: 0, msgId: 1, topicName: 'a/b' }, '09 0a 0000 0001 612f62'],
  ['REGISTER from a gateway', { type: 'REGISTER', topicId: 5, msgId: 0x1234, topicName: 'a/b' }, '09 0a 0005 1234 612f62'],
  // §5.4.11 REGACK: Length 7, 0x0B, TopicId, MsgId, ReturnCode
  ['REGACK', { type: 'REGACK', topicId: 5, msgId: 1, returnCode: 0 }, '07 0b 0005 0001 00'],
  ['REGACK not supported', { type: 'REGACK', topicId: 0, msgId: 0xfffe, returnCode: 3 }, '07 0b 0000 fffe 03'],
  // §5.4.12 PUBLISH: Length, 0x0C, Flags (DUP, QoS, Retain, TopicIdType), TopicId(2), MsgId(2), Data
  ['PUBLISH QoS 1 normal id', { type: 'PUBLISH', flags: F({ qos: 1 }), topic: 5, msgId: 2, data: Buffer.from('hi') }, '09 0c 20 0005 0002 6869'],
  ['PUBLISH QoS -1 predefined', { type: 'PUBLISH', flags: F({ qos: -1, topicIdType: 1 }), topic: 7, msgId: 0, data: Buffer.from('x') }, '08 0c 61 0007 0000 78'],
  ['PUBLISH QoS 2 DUP retain short name', { type: 'PUBLISH', flags: F({ dup: true, qos: 2, retain: true, topicIdType: 2 }), topic: 'ab', msgId: 3, data: Buffer.from('hi') }, '09 0c d2 6162 0003 6869'],
  ['PUBLISH QoS 0 empty payload', { type: 'PUBLISH', flags: F(), topic: 5, msgId: 0, data: Buffer.alloc(0) }, '07 0c 00 0005 0000'],
  // §5.2.1 Length: 255 is the largest 1-octet form; from 256 the 3-octet form 0x01 + 2 octets (whole message)
  ['PUBLISH of 255 octets (1-octet Length)', { type: 'PUBLISH', flags: F(), topic: 5, msgId: 0, data: Buffer.from(A248) }, `ff 0c 00 0005 0000 ${aHex(248)}`],
  ['PUBLISH of 258 octets (3-octet Length)', { type: 'PUBLISH', flags: F(), topic: 5, msgId: 0, data: Buffer.from(A249) }, `01 0102 0c 00 0005 0000 ${aHex(249)}`],
  ['PUBLISH of 309 octets', { type: 'PUBLISH', flags: F({ qos: 1 }), topic: 5, msgId: 9, data: Buffer.from(A300) }, `01 0135 0c 20 0005 0009 ${aHex(300)}`],
  ['WILLMSG of 304 octets', { type: 'WILLMSG', willMsg: Buffer.from(A300) }, `01 0130 09 ${aHex(300)}`],
  // §5.4.13 PUBACK: Length 7, 0x0D, TopicId, MsgId, ReturnCode
  ['PUBACK invalid topic id', { type: 'PUBACK', topicId: 5, msgId: 2, returnCode: 2 }, '07 0d 0005 0002 02'],
  // §5.4.14 PUBREC 0x0F, PUBREL 0x10, PUBCOMP 0x0E: Length 4, MsgId
  ['PUBREC', { type: 'PUBREC', msgId: 3 }, '04 0f 0003'],
  ['PUBREL', { type: 'PUBREL', msgId: 3 }, '04 10 0003'],
  ['PUBCOMP', { type: 'PUBCOMP', msgId: 0xabcd }, '04 0e abcd'],
  // §5.4.15 SUBSCRIBE: Length, 0x12, Flags (DUP, QoS, TopicIdType), MsgId, TopicName or TopicId
  ['SUBSCRIBE QoS 1 topic name with wildcard', { type: 'SUBSCRIBE', flags: F({ qos: 1 }), msgId: 4, topic: 's/#' }, '08 12 20 0004 732f23'],
  ['SUBSCRIBE QoS 2 predefined 7', { type: 'SUBSCRIBE', flags: F({ qos: 2, topicIdType: 1 }), msgId: 4, topic: 7 }, '07 12 41 0004 0007'],
  ['SUBSCRIBE DUP short name "ab"', { type: 'SUBSCRIBE', flags: F({ dup: true, topicIdType: 2 }), msgId: 4, topic: 'ab' }, '07 12 82 0004 6162'],
  // §5.4.16 SUBACK: Length 8, 0x13, Flags (granted QoS), TopicId, MsgId, ReturnCode
  ['SUBACK QoS 1 wildcard (TopicId 0)', { type: 'SUBACK', flags: F({ qos: 1 }), topicId: 0, msgId: 4, returnCode: 0 }, '08 13 20 0000 0004 00'],
  ['SUBACK QoS 2 topic 9', { type: 'SUBACK', flags: F({ qos: 2 }), topicId: 9, msgId: 5, returnCode: 0 }, '08 13 40 0009 0005 00'],
  // §5.4.17 UNSUBSCRIBE: Length, 0x14, Flags (TopicIdType), MsgId, TopicName or TopicId
  ['UNSUBSCRIBE topic name', { type: 'UNSUBSCRIBE', flags: F(), msgId: 5, topic: 's/#' }, '08 14 00 0005 732f23'],
  ['UNSUBSCRIBE predefined', { type: 'UNSUBSCRIBE', flags: F({ topicIdType: 1 }), msgId: 5, topic: 7 }, '07 14 01 0005 0007'],
  // §5.4.18 UNSUBACK: Length 4, 0x15, MsgId
  ['UNSUBACK', { type: 'UNSUBACK', msgId: 5 }, '04 15 0005'],
  // §5.4.19 PINGREQ: Length, 0x16, ClientId (optional)
  ['PINGREQ', { type: 'PINGREQ' }, '02 16'],
  ['PINGREQ with ClientId', { type: 'PINGREQ', clientId: 'dev-1' }, '07 16 6465762d31'],
  // §5.4.20 PINGRESP: Length 2, 0x17
  ['PINGRESP', { type: 'PINGRESP' }, '02 17'],
  // §5.4.21 DISCONNECT: Length, 0x18, Duration (optional)
  ['DISCONNECT', { type: 'DISCONNECT' }, '02 18'],
  ['DISCONNECT with Duration 300', { type: 'DISCONNECT', duration: 300 }, '04 18 012c'],
  // §5.4.22 WILLTOPICUPD: Length, 0x1A, Flags, WillTopic; empty form 2 octets
  ['WILLTOPICUPD retain "w/t"', { type: 'WILLTOPICUPD', flags: F({ retain: true }), willTopic: 'w/t' }, '06 1a 10 772f74'],
  ['WILLTOPICUPD empty', { type: 'WILLTOPICUPD' }, '02 1a'],
  // §5.4.23 WILLMSGUPD: Length, 0x1C, WillMsg
  ['WILLMSGUPD', { type: 'WILLMSGUPD', willMsg: Buffer.from('bye2') }, '06 1c 62796532'],
  // §5.4.24 WILLTOPICRESP / §5.4.25 WILLMSGRESP: Length 3, ReturnCode
  ['WILLTOPICRESP', { type: 'WILLTOPICRESP', returnCode: 0 }, '03 1b 00'],
  ['WILLMSGRESP not supported', { type: 'WILLMSGRESP', returnCode: 3 }, '03 1d 03'],
];

describe('codec: every message type, byte by byte (§5.4)', () => {
  for (const [name, packet, bytes] of VECTORS) {
    test(name, () => {
      assert.equal(encode(packet).toString('hex'), hex(bytes).toString('hex'), 'encode');
      assert.deepStrictEqual(decode(hex(bytes)), packet, 'decode');
    });
  }

  test('every MsgType of Table 3 has a vector', () => {
    const covered = new Set(VECTORS.map(([, p]) => p.type));
    for (const t of ['ADVERTISE', 'SEARCHGW', 'GWINFO', 'CONNECT', 'CONNACK', 'WILLTOPICREQ', 'WILLTOPIC', 'WILLMSGREQ', 'WILLMSG', 'REGISTER', 'REGACK', 'PUBLISH', 'PUBACK', 'PUBCOMP', 'PUBREC', 'PUBREL', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'WILLTOPICUPD', 'WILLTOPICRESP', 'WILLMSGUPD', 'WILLMSGRESP'] as const) {
      assert.ok(covered.has(t), t);
    }
  });

  test('encode fills missing flag bits with 0 and forces the 3-octet Length on request', () => {
    assert.equal(encode({ type: 'CONNECT', flags: { cleanSession: true }, protocolId: 1, duration: 60, clientId: 'dev-1' }).toString('hex'), '0b0404' + '01003c6465762d31');
    // §5.2.1 allows the 3-octet form below 256 octets, and the decoder takes it.
    assert.equal(encode({ type: 'PUBREC', msgId: 3 }, { longLength: true }).toString('hex'), '0100060f0003');
    assert.deepStrictEqual(decode(hex('01 0006 0f 0003')), { type: 'PUBREC', msgId: 3 });
  });

  test('flags: each bit where §5.3.4 puts it', () => {
    const fb = (f: Partial<Flags>): number => encode({ type: 'SUBACK', flags: f, topicId: 1, msgId: 1, returnCode: 0 }).readUInt8(2);
    assert.equal(fb({ dup: true }), 0x80);
    assert.equal(fb({ qos: 1 }), 0x20);
    assert.equal(fb({ qos: 2 }), 0x40);
    assert.equal(fb({ qos: -1 }), 0x60);
    assert.equal(fb({ retain: true }), 0x10);
    assert.equal(fb({ will: true }), 0x08);
    assert.equal(fb({ cleanSession: true }), 0x04);
    assert.equal(fb({ topicIdType: 1 }), 0x01);
    assert.equal(fb({ topicIdType: 2 }), 0x02);
    assert.deepStrictEqual((decode(hex('07 04 ff 01 0001 78')) as { flags: Flags }).flags, { dup: true, qos: -1, retain: true, will: true, cleanSession: true, topicIdType: 3 } satisfies Flags);
  });

  const BAD: Array<[string, string, RegExp]> = [
    ['empty datagram', '', /datagram: 0 octet/],
    ['one octet', '02', /datagram: 1 octet/],
    ['Length longer than the datagram', '03 05', /CONNACK: Length field says 3 octets, the datagram has 2/],
    ['Length shorter than the datagram', '03 05 00 00', /CONNACK: Length field says 3 octets, the datagram has 4/],
    ['Length 0', '00 05', /CONNACK: Length field says 0/],
    ['3-octet Length cut short', '01 00', /3-octet Length form/],
    ['3-octet Length below its own header', '01 0003 05', /CONNACK: Length field says 3 octets, the datagram has 4/],
    ['reserved MsgType 0x03', '02 03', /MsgType 0x03 is reserved/],
    ['reserved MsgType 0x11', '02 11', /MsgType 0x11 is reserved/],
    ['Encapsulated (0xFE)', '05 fe 00 0001', /Encapsulated/],
    ['CONNACK without ReturnCode', '02 05', /CONNACK: variable part is 0 octets, expected 1/],
    ['PINGRESP with a body', '03 17 00', /PINGRESP: variable part is 1 octets, expected 0/],
    ['PUBACK one octet short', '06 0d 0005 0002', /PUBACK: variable part is 4 octets, expected 5/],
    ['REGACK one octet long', '08 0b 0005 0001 00 00', /REGACK/],
    ['SUBACK short', '07 13 20 0000 0004', /SUBACK: variable part is 5 octets, expected 6/],
    ['PUBREL without MsgId', '03 10 00', /PUBREL: variable part is 1 octets, expected 2/],
    ['UNSUBACK long', '05 15 0001 00', /UNSUBACK/],
    ['DISCONNECT with a 1-octet Duration', '03 18 00', /DISCONNECT: variable part is 1 octets, expected 2/],
    ['PUBLISH with reserved TopicIdType 0b11', '07 0c 03 0005 0000', /PUBLISH: TopicIdType 0b11 is reserved/],
    ['PUBLISH without MsgId', '05 0c 00 0005', /PUBLISH: variable part is 3 octets, expected at least 5/],
    ['REGISTER topic name not UTF-8', '07 0a 0005 0001 ff', /REGISTER: TopicName is not valid UTF-8/],
    ['SUBSCRIBE predefined id of 3 octets', '08 12 01 0004 000700', /SUBSCRIBE: a topic id or short topic name is 2 octets, got 3/],
    ['ADVERTISE without Duration', '03 00 01', /ADVERTISE/],
    ['GWINFO without GwId', '02 02', /GWINFO/],
  ];
  for (const [name, bytes, re] of BAD) {
    test(`decode rejects ${name}`, () => {
      assert.throws(
        () => decode(hex(bytes)),
        (e: unknown) => e instanceof MqttSnDecodeError && re.test(e.message),
      );
    });
  }

  test('encode rejects what the formats cannot carry', () => {
    const bad: Array<[SnPacketInput, RegExp]> = [
      [{ type: 'PUBLISH', flags: { topicIdType: 2 }, topic: 'abc', msgId: 0, data: Buffer.alloc(0) }, /short topic name "abc" is 3 octets/],
      [{ type: 'PUBLISH', flags: { topicIdType: 0 }, topic: 'a/b', msgId: 0, data: Buffer.alloc(0) }, /2-octet topic id/],
      [{ type: 'SUBSCRIBE', flags: { topicIdType: 0 }, msgId: 1, topic: 5 }, /topic name/],
      [{ type: 'CONNECT', flags: {}, protocolId: 1, duration: 70000, clientId: 'x' }, /Duration 70000/],
      [{ type: 'PUBACK', topicId: 1, msgId: -1, returnCode: 0 }, /MsgId -1/],
      [{ type: 'PUBLISH', flags: { qos: 3 as 2 }, topic: 1, msgId: 0, data: Buffer.alloc(0) }, /QoS 3/],
      [{ type: 'WILLMSG', willMsg: Buffer.alloc(65532) }, /65536 octets exceed/],
      [{ type: 'WILLTOPIC', flags: { qos: 1 } }, /empty form/],
    ];
    for (const [p, re] of bad) assert.throws(() => encode(p), (e: unknown) => e instanceof MqttSnEncodeError && re.test(e.message), p.type);
    assert.equal(encode({ type: 'WILLMSG', willMsg: Buffer.alloc(65531) }).length, 65535);
  });

  test('shortTopicId is the two octets of the name', () => {
    assert.equal(shortTopicId('ab'), 0x6162);
  });
});

// ------------------------------------------------------------------------------------------------
// A fake gateway: hand-written bytes in and out.
// ------------------------------------------------------------------------------------------------

class FakeGateway {
  private readonly queue: Array<{ buf: Buffer; rinfo: dgram.RemoteInfo }> = [];
  private waiter: (() => void) | undefined;
  peer: dgram.RemoteInfo | undefined;

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (buf, rinfo) => {
      this.queue.push({ buf, rinfo });
      this.waiter?.();
    });
  }

  static start(type: 'udp4' | 'udp6' = 'udp4', address = type === 'udp4' ? '127.0.0.1' : '::1'): Promise<FakeGateway> {
    const s = dgram.createSocket(type);
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, address, () => resolve(new FakeGateway(s)));
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** The next datagram from a client (hex). */
  async recv(ms = 3000): Promise<string> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`fake gateway: no datagram within ${ms} ms`)), ms);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const next = this.queue.shift()!;
    this.peer = next.rinfo;
    return next.buf.toString('hex');
  }

  /** Receive and compare with the expected bytes (whitespace in `bytes` ignored). */
  async expect(bytes: string, what: string): Promise<void> {
    assert.equal(await this.recv(), bytes.replace(/\s+/g, ''), what);
  }

  /** Send to the last client heard from. */
  send(bytes: string): void {
    assert.ok(this.peer, 'no client yet');
    this.socket.send(hex(bytes), this.peer.port, this.peer.address);
  }

  close(): void {
    this.socket.close();
  }
}

async function pair(opts: { retryMs?: number; maxRetries?: number; predefinedTopics?: Record<number, string>; autoAck?: boolean } = {}): Promise<{ gw: FakeGateway; c: MqttSnClient }> {
  const gw = await FakeGateway.start();
  const c = await MqttSnClient.create({ host: '127.0.0.1', port: gw.port, retryMs: 2000, ...opts });
  return { gw, c };
}

/** CONNECT "dev-1" (clean, 60 s) answered by CONNACK accepted. */
async function connected(gw: FakeGateway, c: MqttSnClient): Promise<void> {
  const p = c.connect({ clientId: 'dev-1' });
  await gw.expect('0b 04 04 01 003c 6465762d31', 'CONNECT');
  gw.send('03 05 00');
  await p;
}

describe('client against a fake gateway (loopback)', () => {
  let gw: FakeGateway;
  let c: MqttSnClient;
  const open: Array<{ close(): void }> = [];
  const fresh = async (opts: Parameters<typeof pair>[0] = {}): Promise<void> => {
    ({ gw, c } = await pair(opts));
    open.push(gw, c);
  };
  after(() => {
    for (const o of open) o.close();
  });

  test('connect with the will exchange (§6.2)', async () => {
    await fresh();
    const p = c.connect({ clientId: 'dev-1', cleanSession: true, duration: 60, will: { topic: 'w/t', message: 'bye', qos: 1, retain: true } });
    await gw.expect('0b 04 0c 01 003c 6465762d31', 'CONNECT with Will and CleanSession');
    gw.send('02 06'); // WILLTOPICREQ
    await gw.expect('06 07 30 772f74', 'WILLTOPIC QoS 1 retain');
    gw.send('02 06'); // the gateway retransmits WILLTOPICREQ: answered again
    await gw.expect('06 07 30 772f74', 'WILLTOPIC again');
    gw.send('02 08'); // WILLMSGREQ
    await gw.expect('05 09 627965', 'WILLMSG');
    gw.send('03 05 00'); // CONNACK
    await p;
    assert.equal(c.state, 'active');
    assert.deepEqual(c.unexpected, []);
  });

  test('a refusing CONNACK rejects with its ReturnCode', async () => {
    await fresh();
    const p = c.connect({ clientId: 'x', cleanSession: false, duration: 5 });
    await gw.expect('07 04 00 01 0005 78', 'CONNECT without CleanSession');
    gw.send('03 05 01');
    await assert.rejects(p, (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 1 && /CONNACK.*congestion/.test(e.message));
    assert.equal(c.state, 'disconnected');
  });

  test('register, then publish QoS 1 and QoS 2 (§6.5, §6.6)', async () => {
    await fresh();
    await connected(gw, c);

    const reg = c.register('a/b');
    await gw.expect('09 0a 0000 0001 612f62', 'REGISTER (TopicId 0x0000 from a client)');
    gw.send('07 0b 0005 0001 00'); // REGACK id 5
    assert.equal(await reg, 5);
    assert.equal(c.topicName(5), 'a/b');

    const q1 = c.publish('a/b', 'hi', { qos: 1 });
    await gw.expect('09 0c 20 0005 0002 6869', 'PUBLISH QoS 1 on the registered id');
    gw.send('07 0d 0005 0002 00');
    assert.deepEqual(await q1, { msgId: 2, topicId: 5 });

    const q2 = c.publish('a/b', 'hi', { qos: 2, retain: true });
    await gw.expect('09 0c 50 0005 0003 6869', 'PUBLISH QoS 2 retain');
    gw.send('04 0f 0003'); // PUBREC
    await gw.expect('04 10 0003', 'PUBREL');
    gw.send('04 0e 0003'); // PUBCOMP
    assert.deepEqual(await q2, { msgId: 3, topicId: 5 });

    await c.publish('a/b', 'z', { qos: 0 });
    await gw.expect('08 0c 00 0005 0000 7a', 'PUBLISH QoS 0, MsgId 0x0000');
    await c.publish({ predefined: 7 }, 'x', { qos: -1 });
    await gw.expect('08 0c 61 0007 0000 78', 'PUBLISH QoS -1 predefined');
    await c.publish({ short: 'ab' }, '', { qos: 0, retain: true });
    await gw.expect('07 0c 12 6162 0000', 'PUBLISH short name, retained, empty');

    // A name not registered yet is REGISTERed first.
    const auto = c.publish('c/d', 'q', { qos: 1 });
    await gw.expect('09 0a 0000 0004 632f64', 'REGISTER c/d');
    gw.send('07 0b 0006 0004 00');
    await gw.expect('08 0c 20 0006 0005 71', 'PUBLISH on the new id');
    gw.send('07 0d 0006 0005 00');
    await auto;
    assert.deepEqual(c.unexpected, []);
  });

  test('refusals: REGACK and PUBACK ReturnCodes reject; PUBACK may answer QoS 2 on error', async () => {
    await fresh();
    await connected(gw, c);
    const reg = c.register('#bad');
    await gw.expect('0a 0a 0000 0001 23626164', 'REGISTER');
    gw.send('07 0b 0000 0001 03');
    await assert.rejects(reg, (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 3 && /REGACK/.test(e.message));

    const q2 = c.publish({ topicId: 99 }, 'x', { qos: 2 });
    await gw.expect('08 0c 40 0063 0002 78', 'PUBLISH QoS 2 on an unknown id');
    gw.send('07 0d 0063 0002 02'); // PUBACK invalid topic id (§5.4.13)
    await assert.rejects(q2, (e: unknown) => e instanceof MqttSnRejectedError && e.returnCode === 2 && /invalid topic ID/.test(e.message));
  });

  test('subscribe, gateway REGISTER + PUBLISH QoS 0/1/2, unsubscribe (§6.9, §6.10)', async () => {
    await fresh({ predefinedTopics: { 7: 'pre/seven' } });
    await connected(gw, c);
    const seen: string[] = [];
    c.on('message', (m) => seen.push(m.payload.toString()));

    const sub = c.subscribe('s/#', 1);
    await gw.expect('08 12 20 0001 732f23', 'SUBSCRIBE QoS 1 wildcard');
    gw.send('08 13 20 0000 0001 00'); // SUBACK QoS 1, TopicId 0
    assert.deepEqual(await sub, { topicId: 0, grantedQos: 1, returnCode: 0, msgId: 1 });

    const plain = c.subscribe('p/q', 2);
    await gw.expect('08 12 40 0002 702f71', 'SUBSCRIBE QoS 2 plain name');
    gw.send('08 13 20 0009 0002 00'); // granted QoS 1, TopicId 9
    assert.deepEqual(await plain, { topicId: 9, grantedQos: 1, returnCode: 0, msgId: 2 });
    assert.equal(c.topicName(9), 'p/q');

    const pre = c.subscribe({ predefined: 7 }, 0);
    await gw.expect('07 12 01 0003 0007', 'SUBSCRIBE predefined');
    gw.send('08 13 00 0007 0003 00');
    assert.equal((await pre).returnCode, 0);

    const refused = c.subscribe({ short: 'zz' }, 2);
    await gw.expect('07 12 42 0004 7a7a', 'SUBSCRIBE short name');
    gw.send('08 13 00 0000 0004 02');
    assert.equal((await refused).returnCode, 2);

    // Gateway-initiated REGISTER for the wildcard subscription, then PUBLISH QoS 1 on it.
    const registered = new Promise((resolve) => c.on('register', resolve));
    gw.send('09 0a 0011 0100 732f78'); // REGISTER id 0x11 "s/x", MsgId 0x100
    await gw.expect('07 0b 0011 0100 00', 'REGACK from the client');
    assert.deepEqual(await registered, { topicId: 0x11, topicName: 's/x' });
    gw.send('0a 0c 20 0011 0200 6f6e65'); // PUBLISH QoS 1 "one"
    await gw.expect('07 0d 0011 0200 00', 'PUBACK from the client');
    assert.deepEqual(await c.nextMessage(), { topic: 's/x', topicId: 0x11, topicIdType: 0, payload: Buffer.from('one'), qos: 1, retain: false, dup: false, msgId: 0x200 });

    // QoS 2 inbound: PUBREC, a duplicate is acknowledged but not delivered twice, PUBREL -> PUBCOMP.
    gw.send('0a 0c 40 0009 0201 74776f'); // PUBLISH QoS 2 "two" on p/q
    await gw.expect('04 0f 0201', 'PUBREC');
    gw.send('0a 0c c0 0009 0201 74776f'); // DUP retransmission
    await gw.expect('04 0f 0201', 'PUBREC again');
    gw.send('04 10 0201'); // PUBREL
    await gw.expect('04 0e 0201', 'PUBCOMP');
    const two = await c.nextMessage();
    assert.equal(two.topic, 'p/q');
    assert.equal(two.qos, 2);
    assert.equal(two.payload.toString(), 'two');

    // QoS 0 retained on a predefined id and on a short name, and on an id nobody registered.
    gw.send('0a 0c 11 0007 0000 707265'); // retain, predefined 7
    gw.send('09 0c 12 6162 0000 7368'); // retain, short "ab"
    gw.send('09 0c 00 0042 0000 3f3f'); // unknown normal id 0x42
    const m1 = await c.nextMessage();
    assert.deepEqual([m1.topic, m1.topicIdType, m1.retain, m1.payload.toString()], ['pre/seven', 1, true, 'pre']);
    const m2 = await c.nextMessage();
    assert.deepEqual([m2.topic, m2.topicId, m2.topicIdType, m2.payload.toString()], ['ab', 0x6162, 2, 'sh']);
    const m3 = await c.nextMessage();
    assert.deepEqual([m3.topic, m3.topicId], [undefined, 0x42]);
    assert.deepEqual(seen, ['one', 'two', 'pre', 'sh', '??']);

    const unsub = c.unsubscribe('s/#');
    await gw.expect('08 14 00 0005 732f23', 'UNSUBSCRIBE');
    gw.send('04 15 0005');
    await unsub;
    assert.equal(gw.pending, 0, 'the client sent nothing else');
    assert.deepEqual(c.unexpected, []);
  });

  test('messages() iterates received PUBLISHes', async () => {
    await fresh();
    await connected(gw, c);
    gw.send('08 0c 02 6162 0000 31');
    gw.send('08 0c 02 6162 0000 32');
    const got: string[] = [];
    for await (const m of c.messages()) {
      got.push(m.payload.toString());
      if (got.length === 2) break;
    }
    assert.deepEqual(got, ['1', '2']);
  });

  test('autoAck false leaves QoS 1 unacknowledged, so a test can watch the gateway retransmit', async () => {
    await fresh({ autoAck: false });
    await connected(gw, c);
    gw.send('08 0c 22 6162 0001 31');
    assert.equal((await c.nextMessage()).msgId, 1);
    const ping = c.ping();
    await gw.expect('02 16', 'only the PINGREQ, no PUBACK');
    gw.send('02 17');
    await ping;
  });

  test('sleep, then wake collecting the buffered PUBLISHes until PINGRESP (§6.14)', async () => {
    await fresh();
    await connected(gw, c);
    const asleep = c.sleep(300);
    await gw.expect('04 18 012c', 'DISCONNECT with Duration 300');
    gw.send('02 18'); // DISCONNECT, no Duration
    await asleep;
    assert.equal(c.state, 'asleep');

    const awake = c.wake();
    await gw.expect('07 16 6465762d31', 'PINGREQ with ClientId');
    assert.equal(c.state, 'awake');
    gw.send('09 0a 0021 0300 732f62'); // REGISTER "s/b"
    await gw.expect('07 0b 0021 0300 00', 'REGACK');
    gw.send('09 0c 20 0021 0301 6231'); // QoS 1 "b1"
    await gw.expect('07 0d 0021 0301 00', 'PUBACK');
    gw.send('09 0c 00 0021 0000 6232'); // QoS 0 "b2"
    gw.send('02 17'); // PINGRESP: nothing more buffered
    const got = await awake;
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.qos]),
      [
        ['s/b', 'b1', 1],
        ['s/b', 'b2', 0],
      ],
    );
    assert.equal(c.state, 'asleep');
    await assert.rejects(c.nextMessage(50), MqttSnTimeoutError, 'wake() took them, the inbox is empty');
  });

  test('ping, will updates and disconnect (§6.4, §6.11, §6.12)', async () => {
    await fresh();
    await connected(gw, c);
    const ping = c.ping();
    await gw.expect('02 16', 'PINGREQ');
    gw.send('02 17');
    await ping;

    const wt = c.willTopicUpdate({ topic: 'w/t', qos: 2, retain: true });
    await gw.expect('06 1a 50 772f74', 'WILLTOPICUPD');
    gw.send('03 1b 00');
    await wt;
    const del = c.willTopicUpdate();
    await gw.expect('02 1a', 'empty WILLTOPICUPD');
    gw.send('03 1b 00');
    await del;
    const wm = c.willMessageUpdate('gone');
    await gw.expect('06 1c 676f6e65', 'WILLMSGUPD');
    gw.send('03 1d 03');
    await assert.rejects(wm, (e: unknown) => e instanceof MqttSnRejectedError && /WILLMSGRESP/.test(e.message) && e.returnCode === 3);

    gw.send('02 16'); // the gateway's own keep-alive PINGREQ
    await gw.expect('02 17', 'PINGRESP from the client');

    const bye = c.disconnect();
    await gw.expect('02 18', 'DISCONNECT');
    gw.send('02 18');
    await bye;
    assert.equal(c.state, 'disconnected');
  });

  test('a gateway DISCONNECT fails what is pending at once', async () => {
    await fresh();
    await connected(gw, c);
    const disc = new Promise((resolve) => c.on('disconnect', resolve));
    const q1 = c.publish({ predefined: 1 }, 'x', { qos: 1 });
    await gw.expect('08 0c 21 0001 0001 78', 'PUBLISH');
    gw.send('02 18');
    await assert.rejects(q1, (e: unknown) => e instanceof MqttSnDisconnectedError && /PUBACK/.test(e.message));
    assert.deepEqual(await disc, { type: 'DISCONNECT' });
  });

  test('retransmission after Tretry: the fake drops the first datagram (§6.13)', async () => {
    await fresh({ retryMs: 300, maxRetries: 3 });
    const conn = c.connect({ clientId: 'dev-1' });
    await gw.expect('0b 04 04 01 003c 6465762d31', 'CONNECT (dropped)');
    await gw.expect('0b 04 04 01 003c 6465762d31', 'CONNECT retransmitted unchanged');
    gw.send('03 05 00');
    await conn;

    const q1 = c.publish({ predefined: 1 }, 'x', { qos: 1 });
    await gw.expect('08 0c 21 0001 0001 78', 'PUBLISH (dropped)');
    await gw.expect('08 0c a1 0001 0001 78', 'PUBLISH retransmitted with DUP');
    gw.send('07 0d 0001 0001 00');
    await q1;

    const sub = c.subscribe('t', 0);
    await gw.expect('06 12 00 0002 74', 'SUBSCRIBE (dropped)');
    await gw.expect('06 12 80 0002 74', 'SUBSCRIBE retransmitted with DUP');
    gw.send('08 13 00 0003 0002 00');
    assert.equal((await sub).topicId, 3);

    const q2 = c.publish({ predefined: 1 }, 'y', { qos: 2 });
    await gw.expect('08 0c 41 0001 0003 79', 'PUBLISH QoS 2');
    gw.send('04 0f 0003');
    await gw.expect('04 10 0003', 'PUBREL (dropped)');
    await gw.expect('04 10 0003', 'PUBREL retransmitted');
    gw.send('04 0e 0003');
    await q2;
  });

  test('no reply after 1 + Nretry transmissions: a timeout naming the awaited message', async () => {
    await fresh({ retryMs: 40, maxRetries: 2 });
    const q1 = c.publish({ predefined: 1 }, 'x', { qos: 1 });
    await assert.rejects(q1, (e: unknown) => e instanceof MqttSnTimeoutError && e.awaited === 'PUBACK' && /no PUBACK .* after 3 transmission\(s\) of PUBLISH/.test(e.message));
    await gw.expect('08 0c 21 0001 0001 78', 'first');
    await gw.expect('08 0c a1 0001 0001 78', 'retry 1');
    await gw.expect('08 0c a1 0001 0001 78', 'retry 2');
    assert.equal(gw.pending, 0, 'no fourth transmission');
  });

  test('raw escape hatch and waitFor', async () => {
    await fresh();
    const reply = c.raw('03 05');
    assert.equal(await gw.recv(), '0305', 'the malformed bytes went out as given');
    gw.send('03 05 02 ff'); // not even valid: raw does not decode
    assert.equal((await reply).toString('hex'), '030502ff');

    const wait = c.waitFor('CONNACK');
    c.send({ type: 'CONNECT', flags: { cleanSession: true }, protocolId: 2, duration: 1, clientId: 'x' });
    await gw.expect('07 04 04 02 0001 78', 'CONNECT with a wrong ProtocolId, by send()');
    gw.send('03 05 03');
    assert.deepEqual(await wait, { type: 'CONNACK', returnCode: 3 });
    await assert.rejects(c.nextRaw(30), MqttSnTimeoutError);
  });

  test('a datagram the client cannot decode rejects the pending call, naming the message, and poisons the client', async () => {
    await fresh();
    await connected(gw, c);
    const ping = c.ping();
    await gw.expect('02 16', 'PINGREQ');
    gw.send('03 17 00'); // PINGRESP with a stray octet
    await assert.rejects(ping, (e: unknown) => e instanceof MqttSnDecodeError && e.messageName === 'PINGRESP');
    await assert.rejects(c.ping(), MqttSnDecodeError);
    assert.equal(c.state, 'lost');
  });

  test('publishMinusOne needs no connection (§6.8)', async () => {
    await fresh();
    await MqttSnClient.publishMinusOne('127.0.0.1', gw.port, 7, 'x');
    assert.equal(await gw.recv(), hex('08 0c 61 0007 0000 78').toString('hex'));
    await MqttSnClient.publishMinusOne('127.0.0.1', gw.port, { short: 'ab' }, 'y', { retain: true });
    assert.equal(await gw.recv(), hex('08 0c 72 6162 0000 79').toString('hex'));
  });

  test('searchGateway to a unicast address: SEARCHGW, GWINFO back', async () => {
    await fresh();
    const search = MqttSnClient.searchGateway(1, { multicastAddress: '127.0.0.1', port: gw.port, retryMs: 150, retries: 2 });
    await gw.expect('03 01 01', 'SEARCHGW radius 1 (dropped)');
    await gw.expect('03 01 01', 'SEARCHGW again');
    gw.send('03 02 2a');
    const found = await search;
    assert.equal(found.gwId, 42);
    assert.equal(found.address, '127.0.0.1');
    assert.equal(found.port, gw.port);
    assert.equal(found.gwAdd, undefined);
  });

  test('IPv6 loopback', async (t) => {
    const g6 = await FakeGateway.start('udp6').catch(() => undefined);
    if (!g6) return t.skip('no IPv6 loopback here');
    open.push(g6);
    const c6 = await MqttSnClient.create({ host: '::1', port: g6.port });
    open.push(c6);
    const p = c6.connect({ clientId: 'v6', duration: 30 });
    assert.equal(await g6.recv(), '080404' + '01001e7636');
    g6.send('03 05 00');
    await p;
    assert.equal(g6.peer?.family, 'IPv6');
  });
});

// ------------------------------------------------------------------------------------------------
// Multicast (§6.1), where loopback multicast works.
// ------------------------------------------------------------------------------------------------

const GROUP = '239.255.77.77';

async function loopbackMulticastWorks(): Promise<boolean> {
  const r = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => r.bind(0, resolve));
    r.addMembership(GROUP, '127.0.0.1');
    await new Promise<void>((resolve) => s.bind(0, resolve));
    s.setMulticastInterface('127.0.0.1');
    return await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      r.once('message', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.send(Buffer.from('probe'), r.address().port, GROUP);
    });
  } catch {
    return false;
  } finally {
    r.close();
    s.close();
  }
}

describe('multicast discovery on 127.0.0.1 (§6.1)', () => {
  let works = false;
  before(async () => {
    works = await loopbackMulticastWorks();
  });

  test('ADVERTISE listener', async (t) => {
    if (!works) return t.skip('loopback multicast unavailable');
    const l: GatewayListener = await MqttSnClient.listen({ multicastAddress: GROUP, port: 0, interface: '127.0.0.1' });
    const g = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => g.bind(0, '127.0.0.1', resolve));
      g.setMulticastInterface('127.0.0.1');
      g.send(hex('03 01 00'), l.port, GROUP); // someone's SEARCHGW: skipped
      g.send(hex('05 00 09 0384'), l.port, GROUP); // ADVERTISE gw 9, 900 s
      const ad = await l.nextAdvertise(2000);
      assert.deepEqual([ad.gwId, ad.duration, ad.port], [9, 900, g.address().port]);
    } finally {
      g.close();
      l.close();
    }
  });

  test('searchGateway on the group, GWINFO broadcast back on the group', async (t) => {
    if (!works) return t.skip('loopback multicast unavailable');
    // The fake gateway joins the group with address reuse, so the searcher can listen on the same port.
    const g = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve) => g.bind(0, resolve));
      g.addMembership(GROUP, '127.0.0.1');
      g.setMulticastInterface('127.0.0.1');
      const port = g.address().port;
      const heard = new Promise<string>((resolve) =>
        g.on('message', (m) => {
          if (m.readUInt8(1) !== 0x01) return;
          g.send(hex('03 02 05'), port, GROUP); // GWINFO gw 5, broadcast
          resolve(m.toString('hex'));
        }),
      );
      const found = await MqttSnClient.searchGateway(0, { multicastAddress: GROUP, port, interface: '127.0.0.1', retryMs: 500, retries: 2 });
      assert.equal(await heard, '030100', 'SEARCHGW radius 0');
      assert.equal(found.gwId, 5);
    } finally {
      g.close();
    }
  });
});
