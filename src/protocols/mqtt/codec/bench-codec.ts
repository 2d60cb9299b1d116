/**
 * Micro-benchmark: PUBLISH decode and encode throughput, this codec vs mqtt-packet.
 * Not a test. Run after a build:  node dist/src/protocols/mqtt/codec/bench-codec.js [seconds-per-case]
 *
 * Decode: a chunk of 100 PUBLISH packets (as a socket delivers them) through MqttDecoder.push
 * vs mqtt-packet's parser.parse; the count is packets per second.
 * Encode: one PUBLISH to one Buffer (encodePublish vs mqttPacket.generate), and the per-subscriber
 * fan-out path (copyWithPacketId of one encoding).
 */
import mqttPacket from 'mqtt-packet';
import { MqttDecoder } from './decoder.js';
import { copyWithPacketId, encodePublish } from './encoder.js';
import type { Packet, Properties, QoS } from './packets.js';

const seconds = Number(process.argv[2] ?? 1);

function measure(name: string, opsPerCall: number, fn: () => void): number {
  const warmEnd = performance.now() + Math.min(300, seconds * 300);
  while (performance.now() < warmEnd) fn();
  let calls = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 16; i++) fn();
    calls += 16;
    now = performance.now();
  }
  const rate = (calls * opsPerCall) / ((now - start) / 1000);
  process.stdout.write(`${name.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(14)} ops/s\n`);
  return rate;
}

interface Scenario {
  name: string;
  level: 4 | 5;
  qos: QoS;
  size: number;
  properties?: Properties;
}

const TOPIC = 'sensors/building-7/floor-3/room-12/temperature';
const scenarios: Scenario[] = [
  { name: '3.1.1 QoS 0, 64 B', level: 4, qos: 0, size: 64 },
  { name: '3.1.1 QoS 1, 1 KiB', level: 4, qos: 1, size: 1024 },
  { name: '5.0 QoS 1, 64 B, no properties', level: 5, qos: 1, size: 64 },
  { name: '5.0 QoS 1, 64 B, expiry + user property', level: 5, qos: 1, size: 64, properties: { messageExpiryInterval: 60, userProperties: [['from', 'client-42']] } },
];

function theirObject(s: Scenario, payload: Buffer, id: number): mqttPacket.IPublishPacket {
  const o: mqttPacket.IPublishPacket = { cmd: 'publish', topic: TOPIC, payload, qos: s.qos, dup: false, retain: false };
  if (s.qos > 0) o.messageId = id;
  if (s.properties !== undefined) o.properties = { messageExpiryInterval: 60, userProperties: { from: 'client-42' } };
  return o;
}

const results: Array<{ scenario: string; op: string; ours: number; theirs: number }> = [];
let sink = 0;

for (const s of scenarios) {
  process.stdout.write(`\n# ${s.name}\n`);
  const payload = Buffer.alloc(s.size, 0x61);
  const packets: Buffer[] = [];
  for (let i = 1; i <= 100; i++) packets.push(encodePublish(s.level, TOPIC, payload, s.qos, false, false, i, s.properties));
  const chunk = Buffer.concat(packets);

  const decoder = new MqttDecoder({ maxPacketSize: 1 << 24 });
  decoder.setProtocolLevel(s.level);
  const onPacket = (p: Packet): void => {
    sink += p.type;
  };
  const oursDecode = measure('decode  ours (MqttDecoder.push)', 100, () => decoder.push(chunk, onPacket));
  const parser = mqttPacket.parser({ protocolVersion: s.level });
  parser.on('packet', (p) => {
    sink += p.cmd.length;
  });
  const theirsDecode = measure('decode  mqtt-packet (parser.parse)', 100, () => {
    parser.parse(chunk);
  });
  results.push({ scenario: s.name, op: 'decode', ours: oursDecode, theirs: theirsDecode });

  let id = 1;
  const oursEncode = measure('encode  ours (encodePublish)', 1, () => {
    id = id === 65535 ? 1 : id + 1;
    sink += encodePublish(s.level, TOPIC, payload, s.qos, false, false, id, s.properties).length;
  });
  const theirs = theirObject(s, payload, 1);
  const theirsEncode = measure('encode  mqtt-packet (generate)', 1, () => {
    id = id === 65535 ? 1 : id + 1;
    if (s.qos > 0) theirs.messageId = id;
    sink += mqttPacket.generate(theirs, { protocolVersion: s.level }).length;
  });
  results.push({ scenario: s.name, op: 'encode', ours: oursEncode, theirs: theirsEncode });
  if (s.qos > 0) {
    const base = packets[0]!;
    measure('fan-out ours (copyWithPacketId of one encoding)', 1, () => {
      id = id === 65535 ? 1 : id + 1;
      sink += copyWithPacketId(base, id).length;
    });
  }
}

process.stdout.write('\n| scenario | op | ours ops/s | mqtt-packet ops/s | ratio |\n|---|---|---|---|---|\n');
for (const r of results) {
  const f = (n: number): string => Math.round(n).toLocaleString('en-US');
  process.stdout.write(`| ${r.scenario} | ${r.op} | ${f(r.ours)} | ${f(r.theirs)} | ${(r.ours / r.theirs).toFixed(1)}x |\n`);
}
if (sink === 42) process.stdout.write('\n'); // keep results observable
