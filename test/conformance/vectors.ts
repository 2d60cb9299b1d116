/**
 * Runner for the byte-level MQTT vectors in ../shared/conformance/mqtt-vectors (see its
 * README): each case opens raw sockets, optionally sends a default CONNECT, then sends and
 * expects exact bytes; at the end the broker must have closed the connection (or, with
 * expect_disconnect false, still answer PINGREQ).
 *
 * The one leniency the README allows: the default CONNECT step accepts any CONNACK with reason
 * code 0. Everywhere else bytes must match exactly; CONNACKs that differ only in v5 properties
 * are reported as their own outcome ('connack-properties') so they can be judged.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VectorMsg {
  type: 'send' | 'recv' | 'publish';
  payload?: string;
  topic?: string;
  qos?: number;
}

export interface VectorCase {
  name: string;
  ver?: number;
  connect?: boolean;
  expect_disconnect?: boolean;
  msgs: VectorMsg[];
}

export interface VectorGroup {
  group: string;
  disable?: boolean;
  tests: VectorCase[];
}

export interface CaseResult {
  file: string;
  group: string;
  name: string;
  ver: number;
  key: string;
  pass: boolean;
  skipped: boolean;
  outcome?: 'mismatch' | 'connack-properties' | 'no-close' | 'closed-early' | 'timeout' | 'still-open-check-failed';
  reason?: string;
}

export function vectorsDir(): string {
  if (process.env.MQTT_VECTORS_DIR) return process.env.MQTT_VECTORS_DIR;
  // dist/test/conformance -> repository root -> ../shared/...
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = resolve(d, '../shared/conformance/mqtt-vectors');
    if (existsSync(candidate)) return candidate;
    d = resolve(d, '..');
  }
  return resolve(process.cwd(), '../shared/conformance/mqtt-vectors');
}

export function loadVectors(dir = vectorsDir()): Array<{ file: string; groups: VectorGroup[] }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, groups: JSON.parse(readFileSync(join(dir, file), 'utf8')) as VectorGroup[] }));
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function connectPacket(clientId: string, ver: number): Buffer {
  const id = Buffer.from(clientId);
  const name = ver === 3 ? 'MQIsdp' : 'MQTT';
  const parts = [Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([ver, 0x02, 0, 60])];
  if (ver === 5) parts.push(Buffer.from([3, 0x21, 0, 20])); // Receive Maximum = 20
  parts.push(Buffer.from([id.length >> 8, id.length & 255]), id);
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x10]), encodeLength(body.length), body]);
}

function encodeLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A socket with exact-length reads. */
class Peer {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => {});
  }
  static open(host: string, port: number): Promise<Peer> {
    return new Promise((res, rej) => {
      const s = net.connect({ host, port }, () => res(new Peer(s)));
      s.once('error', rej);
    });
  }
  private wait(deadline: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, Math.max(0, deadline - Date.now()));
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        r();
      };
    });
  }
  /** Read exactly n bytes; null on close or timeout (with what arrived in `partial`). */
  async read(n: number, ms: number): Promise<{ bytes: Buffer | null; partial: Buffer; closed: boolean }> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n && !this.closed && Date.now() < deadline) await this.wait(deadline);
    if (this.buf.length >= n) {
      const bytes = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return { bytes, partial: bytes, closed: this.closed };
    }
    return { bytes: null, partial: this.buf, closed: this.closed };
  }
  /** Wait for the close; returns extra bytes received meanwhile, or null on timeout. */
  async closeWithin(ms: number): Promise<Buffer | null> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await this.wait(deadline);
    return this.closed ? this.buf : null;
  }
  send(b: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(b);
  }
  destroy(): void {
    this.sock.destroy();
  }
}

/** Read one whole MQTT packet (for the helper publisher's handshakes). */
async function readPacket(p: Peer, ms: number): Promise<Buffer | null> {
  const h = await p.read(2, ms);
  if (!h.bytes) return null;
  let len = h.bytes[1]! & 0x7f;
  let mul = 128;
  const head = [h.bytes[0]!, h.bytes[1]!];
  let b = h.bytes[1]!;
  while (b & 0x80) {
    const nb = await p.read(1, ms);
    if (!nb.bytes) return null;
    b = nb.bytes[0]!;
    head.push(b);
    len += (b & 0x7f) * mul;
    mul *= 128;
  }
  const body = len > 0 ? await p.read(len, ms) : { bytes: Buffer.alloc(0) };
  if (!body.bytes) return null;
  return Buffer.concat([Buffer.from(head), body.bytes]);
}

/** A second 3.1.1 client publishes a message, completing the QoS handshake. */
async function helperPublish(host: string, port: number, clientId: string, m: VectorMsg, ms: number): Promise<string | null> {
  const p = await Peer.open(host, port);
  try {
    p.send(connectPacket(clientId, 4));
    const ack = await readPacket(p, ms);
    if (!ack || ack[0] !== 0x20) return 'helper publisher: no CONNACK';
    const topic = Buffer.from(m.topic ?? '');
    const qos = m.qos ?? 0;
    const payload = Buffer.from(m.payload ?? ''); // text in 'publish' steps, not hex
    const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 255]), topic, qos > 0 ? Buffer.from([0x12, 0x34]) : Buffer.alloc(0), payload]);
    p.send(Buffer.concat([Buffer.from([0x30 | (qos << 1)]), encodeLength(body.length), body]));
    if (qos === 1) await readPacket(p, ms);
    if (qos === 2) {
      await readPacket(p, ms);
      p.send(Buffer.from([0x62, 2, 0x12, 0x34]));
      await readPacket(p, ms);
    }
    p.send(Buffer.from([0xe0, 0]));
    return null;
  } finally {
    p.destroy();
  }
}

/** Same packet type and reason, only v5 CONNACK properties differ? */
function connackPropsOnly(expected: Buffer, actual: Buffer): boolean {
  return expected[0] === 0x20 && actual[0] === 0x20 && expected.length >= 4 && actual.length >= 4 && expected[2] === actual[2] && expected[3] === actual[3];
}

export interface RunOptions {
  host: string;
  port: number;
  files?: string[];
  concurrency?: number;
  timeoutMs?: number;
  dir?: string;
}

async function runCase(file: string, group: VectorGroup, t: VectorCase, o: RunOptions): Promise<CaseResult> {
  const ver = t.ver ?? 4;
  const key = `${file}/${group.group}/${t.name}`;
  const base = { file, group: group.group, name: t.name, ver, key, skipped: false };
  const ms = o.timeoutMs ?? 1500;
  const clientId = `${group.group} ${t.name}`;
  const fail = (outcome: NonNullable<CaseResult['outcome']>, reason: string): CaseResult => ({ ...base, pass: false, outcome, reason });
  let p: Peer;
  try {
    p = await Peer.open(o.host, o.port);
  } catch (err) {
    return fail('timeout', `connect: ${(err as Error).message}`);
  }
  try {
    if (t.connect !== false) {
      p.send(connectPacket(clientId, ver));
      const ack = await readPacket(p, ms);
      if (!ack || ack[0] !== 0x20 || ack[3] !== 0) return fail('mismatch', `default CONNECT: got ${ack ? ack.toString('hex') : 'nothing'}`);
    }
    for (const m of t.msgs) {
      if (m.type === 'send') p.send(hex(m.payload ?? ''));
      else if (m.type === 'publish') {
        const err = await helperPublish(o.host, o.port, `${clientId} helper`, m, ms);
        if (err) return fail('timeout', err);
      } else {
        const want = hex(m.payload ?? '');
        const got = await p.read(want.length, ms);
        if (!got.bytes) {
          return fail(got.closed ? 'closed-early' : 'timeout', `expected ${want.toString('hex')}, got ${got.partial.toString('hex') || 'nothing'}${got.closed ? ' then close' : ''}`);
        }
        if (!got.bytes.equals(want)) {
          if (connackPropsOnly(want, got.bytes)) {
            // Read the rest of our (longer) CONNACK, if any, so the stream stays aligned.
            return fail('connack-properties', `CONNACK properties differ: expected ${want.toString('hex')}, got ${got.bytes.toString('hex')}`);
          }
          return fail('mismatch', `expected ${want.toString('hex')}, got ${got.bytes.toString('hex')}`);
        }
      }
    }
    if (t.expect_disconnect !== false) {
      const extra = await p.closeWithin(2000);
      if (extra === null) return fail('no-close', 'the connection was not closed');
      if (extra.length > 0) return fail('mismatch', `unexpected bytes before close: ${extra.toString('hex')}`);
      return { ...base, pass: true };
    }
    p.send(Buffer.from([0xc0, 0]));
    const pong = await p.read(2, ms);
    if (!pong.bytes || pong.bytes[0] !== 0xd0) return fail('still-open-check-failed', `PINGREQ answered with ${pong.partial.toString('hex') || 'nothing'}`);
    return { ...base, pass: true };
  } catch (err) {
    return fail('timeout', (err as Error).message);
  } finally {
    p.destroy();
  }
}

export async function runVectors(o: RunOptions): Promise<CaseResult[]> {
  const all = loadVectors(o.dir);
  const jobs: Array<{ run: () => Promise<CaseResult>; id: string }> = [];
  const results: CaseResult[] = [];
  for (const { file, groups } of all) {
    if (o.files && !o.files.includes(file)) continue;
    for (const g of groups) {
      for (const t of g.tests) {
        const key = `${file}/${g.group}/${t.name}`;
        if (g.disable) {
          results.push({ file, group: g.group, name: t.name, ver: t.ver ?? 4, key, pass: false, skipped: true });
          continue;
        }
        jobs.push({ id: `${g.group} ${t.name}`, run: () => runCase(file, g, t, o) });
      }
    }
  }
  // Cases share client ids and topics ('p', 'topic'), so by default they run one at a time, as
  // Mosquitto's own runner does; cases sharing a client id never overlap even with concurrency.
  const busy = new Set<string>();
  const queue = [...jobs];
  const workers = Array.from({ length: o.concurrency ?? 1 }, async () => {
    while (queue.length > 0) {
      const i = queue.findIndex((j) => !busy.has(j.id));
      if (i < 0) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const job = queue.splice(i, 1)[0]!;
      busy.add(job.id);
      try {
        results.push(await job.run());
      } finally {
        busy.delete(job.id);
      }
    }
  });
  await Promise.all(workers);
  return results;
}

export interface Tally {
  [fileAndLevel: string]: { pass: number; total: number };
}

export function tally(results: CaseResult[]): { rows: Array<{ file: string; v3: string; v4: string; v5: string; pass: number; total: number }>; pass: number; total: number; byLevel: Record<number, { pass: number; total: number }> } {
  const files = [...new Set(results.map((r) => r.file))].sort();
  const byLevel: Record<number, { pass: number; total: number }> = { 3: { pass: 0, total: 0 }, 4: { pass: 0, total: 0 }, 5: { pass: 0, total: 0 } };
  const rows = files.map((file) => {
    const cell = (v: number): string => {
      const rs = results.filter((r) => r.file === file && r.ver === v && !r.skipped);
      if (rs.length === 0) return '-';
      const p = rs.filter((r) => r.pass).length;
      byLevel[v]!.pass += p;
      byLevel[v]!.total += rs.length;
      return `${p}/${rs.length}`;
    };
    const rs = results.filter((r) => r.file === file && !r.skipped);
    return { file, v3: cell(3), v4: cell(4), v5: cell(5), pass: rs.filter((r) => r.pass).length, total: rs.length };
  });
  const counted = results.filter((r) => !r.skipped);
  return { rows, pass: counted.filter((r) => r.pass).length, total: counted.length, byLevel };
}
