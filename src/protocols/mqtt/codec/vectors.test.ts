/**
 * The conformance vectors (Mosquitto's broker test data, ../shared/conformance/mqtt-vectors)
 * replayed against the decoder alone, without a broker: wherever the decoder decides the outcome
 * its classification must be the one the data expects.
 *
 * For each case, the bytes of every "send" go through one MqttDecoder (after the default
 * CONNECT). When the decoder throws:
 *   - on the first CONNECT: a CONNACK refusal in the data means UnsupportedProtocolError with
 *     that code (0x84 in v5 form, 1 in 3.1.1 form); no answer means any other error;
 *   - later, v5: the data's next message must be DISCONNECT with err.reason, or nothing when
 *     err.reason is 0 (close without DISCONNECT);
 *   - later, 3.1/3.1.1: the data must expect the connection to close with no more answers.
 * When the decoder accepts a packet after which the data expects DISCONNECT 0x81 (which only the
 * decoder produces), that is a miss. The broker-level run (test/conformance) covers the rest.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MqttDecoder, UnsupportedProtocolError } from './decoder.js';
import { encodePacket } from './encoder.js';
import { DecodeError, PacketType } from './packets.js';
import type { ProtocolLevel } from './packets.js';

interface Msg {
  type: 'send' | 'recv' | 'publish';
  payload?: string;
}
interface Case {
  name: string;
  ver?: number;
  connect?: boolean;
  expect_disconnect?: boolean;
  msgs: Msg[];
}
interface Group {
  group: string;
  disable?: boolean;
  tests: Case[];
}

function vectorsDir(): string | null {
  const env = process.env.MQTT_VECTORS_DIR;
  if (env !== undefined && existsSync(env)) return env;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = resolve(d, '../shared/conformance/mqtt-vectors');
    if (existsSync(candidate)) return candidate;
    d = resolve(d, '..');
  }
  return null;
}

const bytes = (s: string | undefined): Buffer => Buffer.from((s ?? '').replace(/\s+/g, ''), 'hex');

function defaultConnect(level: ProtocolLevel, clientId: string): Buffer {
  return encodePacket(
    {
      type: PacketType.CONNECT,
      protocolName: level === 3 ? 'MQIsdp' : 'MQTT',
      protocolLevel: level,
      cleanStart: true,
      keepAlive: 60,
      clientId,
      will: null,
      username: null,
      password: null,
      properties: level === 5 ? { receiveMaximum: 20 } : {},
    },
    level,
  );
}

/** Why the case disagrees with the decoder, or null. `decided` says whether the decoder threw. */
function check(c: Case, group: string): { problem: string | null; decided: boolean } {
  const ver = (c.ver ?? 4) as ProtocolLevel;
  const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
  let connected = false;
  if (c.connect !== false) {
    d.push(defaultConnect(ver, `${group} ${c.name}`), () => {});
    connected = true;
  }
  const expectClose = c.expect_disconnect !== false;
  for (let i = 0; i < c.msgs.length; i++) {
    const m = c.msgs[i]!;
    if (m.type !== 'send') continue;
    const next = c.msgs[i + 1];
    const answer = next?.type === 'recv' ? bytes(next.payload).toString('hex') : null;
    let err: unknown = null;
    let sawConnect = false;
    try {
      d.push(bytes(m.payload), (p) => {
        if (p.type === PacketType.CONNECT) sawConnect = true;
      });
    } catch (e) {
      err = e;
    }
    if (err === null) {
      if (sawConnect) connected = true;
      if (d.protocolLevel === 5 && answer === 'e00181') return { problem: 'accepted, but the data expects DISCONNECT 0x81', decided: false };
      continue;
    }
    if (!(err instanceof DecodeError)) return { problem: `threw ${String(err)}`, decided: true };
    const rest = c.msgs.slice(i + 1).filter((x) => x.type !== 'publish');
    const laterSend = rest.some((x) => x.type === 'send');
    if (!expectClose || laterSend) return { problem: `rejected (0x${err.reason.toString(16)} ${err.message}) a packet the data accepts`, decided: true };
    if (!connected) {
      // The first CONNECT: refused with a CONNACK only for an unsupported level.
      if (answer === null) {
        if (err instanceof UnsupportedProtocolError) return { problem: 'CONNACK 0x84 where the data expects a plain close', decided: true };
        return { problem: null, decided: true };
      }
      const code = answer === '20020001' ? 1 : answer === '2003008400' ? 0x84 : -1;
      if (code === -1) return { problem: `rejected (${err.message}) a CONNECT the data answers with ${answer}`, decided: true };
      if (!(err instanceof UnsupportedProtocolError) || err.connackCode !== code) return { problem: `expected CONNACK code ${code}, got ${err.message}`, decided: true };
      return { problem: null, decided: true };
    }
    if (d.protocolLevel === 5) {
      const want = answer === null ? 0 : answer.startsWith('e001') && answer.length === 6 ? parseInt(answer.slice(4), 16) : -1;
      if (want === -1) return { problem: `rejected (${err.message}); the data expects ${answer}`, decided: true };
      if (err.reason !== want) return { problem: `reason 0x${err.reason.toString(16)} (${err.message}), the data expects ${want === 0 ? 'a plain close' : `0x${want.toString(16)}`}`, decided: true };
      return { problem: null, decided: true };
    }
    if (answer !== null) return { problem: `rejected (${err.message}); the data expects ${answer}`, decided: true };
    return { problem: null, decided: true };
  }
  return { problem: null, decided: false };
}

const dir = vectorsDir();
// CI (.ci/run) has the vectors and sets MQTT_VECTORS_REQUIRED=1: there, their absence fails.
if (dir === null && process.env.MQTT_VECTORS_REQUIRED === '1') throw new Error('MQTT vectors not found and MQTT_VECTORS_REQUIRED=1 (set MQTT_VECTORS_DIR)');

test('conformance vectors: the decoder classifies every malformed input as the data expects', { skip: dir === null ? 'vectors not found (set MQTT_VECTORS_DIR)' : false }, (t) => {
  const files = readdirSync(dir!)
    .filter((f) => f.endsWith('.json'))
    .sort();
  let cases = 0;
  let decided = 0;
  const problems: string[] = [];
  for (const f of files) {
    const groups = JSON.parse(readFileSync(join(dir!, f), 'utf8')) as Group[];
    for (const g of groups) {
      if (g.disable) continue;
      for (const c of g.tests) {
        cases++;
        const r = check(c, g.group);
        if (r.decided) decided++;
        if (r.problem !== null) problems.push(`${f}/${g.group}/${c.name}: ${r.problem}`);
      }
    }
  }
  t.diagnostic(`${cases} cases, ${decided} decided by the decoder`);
  assert.ok(cases > 1000, 'the vector files were read');
  assert.deepEqual(problems, []);
});
