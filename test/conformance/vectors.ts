/**
 * Loader and runner for the byte-level MQTT vectors in ../shared/conformance/mqtt-vectors
 * (Mosquitto's broker test data; read its README.md). Each case opens fresh raw sockets,
 * optionally sends the default CONNECT, then writes and expects exact bytes; at the end the
 * broker must have closed the connection (or, with expect_disconnect false, still answer a
 * PINGREQ).
 *
 * Leniency, and only where the vectors' README allows it: the default CONNECT step accepts any
 * CONNACK with reason code 0 (and session present 0, as a clean start requires) whatever its
 * v5 properties. Everywhere else bytes must match exactly. A CONNACK that the vectors spell out
 * and that differs from ours only in its v5 properties is not passed silently: the case ends
 * with its own outcome, 'connack-properties', naming both property sets, so a person decides.
 *
 * Cases run concurrently. Two cases never overlap when they use the same client id, and keep
 * their file order when one could see the other's messages (a subscription matching the other's
 * PUBLISH, will or helper publish; retained messages on the same topic; a persistent session).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Data model

export type Level = 3 | 4 | 5;

/** 'pass'; 'fail'; 'connack-properties' (everything matched except v5 CONNACK properties); 'skipped' ("disable": true). */
export type Outcome = 'pass' | 'fail' | 'connack-properties' | 'skipped';

export interface CaseResult {
  file: string;
  group: string;
  name: string;
  /**
   * Protocol level the case belongs to, as the vectors label it: the group's prefix ("v3.1",
   * "v3.1.1", "v5.0"); for unlabelled groups (REGRESSIONS, BROKER CHECK) the test's `ver`
   * (default 4). The test's `ver` alone is not enough: it only shapes the default CONNECT, so
   * the v5.0 CONNECT cases, which send their own CONNECT, would count as 3.1.1.
   */
  ver: Level;
  /** "FILE/GROUP/NAME", the key of expected-failures.json; a repeated name gets " #2", " #3". */
  key: string;
  pass: boolean;
  outcome: Outcome;
  reason?: string;
  ms: number;
}

export type Step =
  | { type: 'send'; bytes: Buffer }
  | { type: 'recv'; bytes: Buffer; level: Level | null }
  | { type: 'publish'; topic: string; qos: 0 | 1 | 2; payload: Buffer };

export interface VectorCase {
  index: number;
  file: string;
  group: string;
  name: string;
  key: string;
  ver: Level;
  /** Level of the default CONNECT (the test's `ver`, default 4). */
  connectVer: Level;
  connect: boolean;
  expectDisconnect: boolean;
  disabled: boolean;
  /** "GROUP NAME": the default CONNECT's client id; some expected bytes embed it. */
  clientId: string;
  steps: Step[];
}

// ---------------------------------------------------------------------------------------------
// Locating and loading the data

/** Nearest ancestor of this module holding package.json: the repository root (from src or dist). */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, 'package.json'))) return d;
    const up = dirname(d);
    if (up === d) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    d = up;
  }
}

export function vectorsDir(): string {
  const env = process.env.MQTT_VECTORS_DIR;
  return env ? resolve(env) : resolve(repoRoot(), '../shared/conformance/mqtt-vectors');
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optBool(o: JsonObject, k: string, where: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new Error(`${where}: "${k}" must be a boolean`);
  return v;
}

function optLevel(o: JsonObject, k: string, where: string): Level | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (v !== 3 && v !== 4 && v !== 5) throw new Error(`${where}: "${k}" must be 3, 4 or 5`);
  return v;
}

/** Hex with whitespace anywhere (the README: "spaces to ignore"; some tokens have odd length). */
export function parseHex(s: string, where: string): Buffer {
  const h = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(h)) throw new Error(`${where}: payload is not hex: ${JSON.stringify(s)}`);
  return Buffer.from(h, 'hex');
}

function groupLevel(group: string): Level | null {
  if (/^v3\.1\.1\b/.test(group)) return 4;
  if (/^v3\.1\b/.test(group)) return 3;
  if (/^v5(?:\.0)?\b/.test(group)) return 5;
  return null;
}

/** All cases of all *.json files in `dir` (file names sorted, cases in file order). */
export function loadCases(dir = vectorsDir(), files?: string[]): VectorCase[] {
  if (!existsSync(dir)) throw new Error(`MQTT vectors not found at ${dir} (set MQTT_VECTORS_DIR)`);
  const names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files) {
    const missing = files.filter((f) => !names.includes(f));
    if (missing.length > 0) throw new Error(`no such vector file(s) in ${dir}: ${missing.join(', ')}`);
  }
  const cases: VectorCase[] = [];
  const seen = new Map<string, number>();
  for (const file of names) {
    if (files && !files.includes(file)) continue;
    const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Json;
    if (!Array.isArray(doc)) throw new Error(`${file}: expected a list of groups`);
    for (const g of doc) {
      if (!isObject(g) || typeof g.group !== 'string' || !Array.isArray(g.tests)) throw new Error(`${file}: a group needs "group" and "tests"`);
      const group = g.group;
      const gw = `${file} / ${group}`;
      // Group-level ver/connect/expect_disconnect: not in the README, but Mosquitto's runner reads them.
      const gDisabled = optBool(g, 'disable', gw) ?? false;
      const gVer = optLevel(g, 'ver', gw);
      const gConnect = optBool(g, 'connect', gw);
      const gExpectDisconnect = optBool(g, 'expect_disconnect', gw);
      for (const t of g.tests) {
        if (!isObject(t) || typeof t.name !== 'string' || !Array.isArray(t.msgs)) throw new Error(`${gw}: a test needs "name" and "msgs"`);
        const name = t.name;
        const where = `${gw} / ${name}`;
        const connectVer = optLevel(t, 'ver', where) ?? gVer ?? 4;
        const connect = optBool(t, 'connect', where) ?? gConnect ?? true;
        const steps: Step[] = [];
        for (const m of t.msgs) {
          if (!isObject(m) || typeof m.type !== 'string') throw new Error(`${where}: a message needs "type"`);
          const payload = m.payload ?? '';
          if (typeof payload !== 'string') throw new Error(`${where}: "payload" must be a string`);
          if (m.type === 'send') steps.push({ type: 'send', bytes: parseHex(payload, where) });
          else if (m.type === 'recv') steps.push({ type: 'recv', bytes: parseHex(payload, where), level: null });
          else if (m.type === 'publish') {
            const qos = m.qos ?? 0;
            if (typeof m.topic !== 'string' || (qos !== 0 && qos !== 1 && qos !== 2)) throw new Error(`${where}: publish needs "topic" and qos 0..2`);
            // The publish payload is text ("message"), not hex: the expected PUBLISH bytes carry its UTF-8.
            steps.push({ type: 'publish', topic: m.topic, qos, payload: Buffer.from(payload, 'utf8') });
          } else throw new Error(`${where}: unknown message type ${JSON.stringify(m.type)}`);
        }
        const base = `${file}/${group}/${name}`;
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        const c: VectorCase = {
          index: cases.length,
          file,
          group,
          name,
          key: n === 1 ? base : `${base} #${n}`,
          ver: groupLevel(group) ?? connectVer,
          connectVer,
          connect,
          expectDisconnect: optBool(t, 'expect_disconnect', where) ?? gExpectDisconnect ?? true,
          disabled: gDisabled || (optBool(t, 'disable', where) ?? false),
          clientId: `${group} ${name}`,
          steps,
        };
        annotateLevels(c);
        cases.push(c);
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// MQTT bytes

export function encodeLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), encodeLength(body.length), body]);
}

/** The README's default CONNECT: clean, keepalive 60; v5 with Receive Maximum = 20; 3.1 is "MQIsdp". */
export function defaultConnect(clientId: string, ver: Level): Buffer {
  const head = Buffer.concat([str(ver === 3 ? 'MQIsdp' : 'MQTT'), Buffer.from([ver, 0x02, 0, 60])]);
  const props = ver === 5 ? Buffer.from([3, 0x21, 0, 20]) : Buffer.alloc(0);
  return packet(0x10, Buffer.concat([head, props, str(clientId)]));
}

/** Reads MQTT fields from a buffer; every read returns null past the end. */
class Fields {
  constructor(
    readonly b: Buffer,
    public i = 0,
  ) {}
  u8(): number | null {
    return this.i < this.b.length ? this.b[this.i++]! : null;
  }
  u16(): number | null {
    if (this.i + 2 > this.b.length) return null;
    const v = this.b.readUInt16BE(this.i);
    this.i += 2;
    return v;
  }
  u32(): number | null {
    if (this.i + 4 > this.b.length) return null;
    const v = this.b.readUInt32BE(this.i);
    this.i += 4;
    return v;
  }
  varint(): number | null {
    let v = 0;
    for (let k = 0, mul = 1; k < 4; k++, mul *= 128) {
      const c = this.u8();
      if (c === null) return null;
      v += (c & 0x7f) * mul;
      if ((c & 0x80) === 0) return v;
    }
    return null;
  }
  bytes(n: number): Buffer | null {
    if (this.i + n > this.b.length) return null;
    const v = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return v;
  }
  /** A length-prefixed string, kept as bytes ('latin1'), so odd bytes stay distinct. */
  string(): string | null {
    const n = this.u16();
    if (n === null) return null;
    const v = this.bytes(n);
    return v === null ? null : v.toString('latin1');
  }
  /** The bytes of a v5 property block (after its length). */
  properties(): Buffer | null {
    const n = this.varint();
    return n === null ? null : this.bytes(n);
  }
}

/** Split a byte stream into whole packets; stops at the first incomplete one. */
function splitPackets(stream: Buffer): Array<{ first: number; body: Buffer; raw: Buffer }> {
  const out: Array<{ first: number; body: Buffer; raw: Buffer }> = [];
  const f = new Fields(stream);
  while (f.i < stream.length) {
    const start = f.i;
    const first = f.u8()!;
    const len = f.varint();
    if (len === null) break;
    const body = f.bytes(len);
    if (body === null) break;
    out.push({ first, body, raw: stream.subarray(start, f.i) });
  }
  return out;
}

const PROPS: Record<number, [string, 'u8' | 'u16' | 'u32' | 'varint' | 'str' | 'bin' | 'pair']> = {
  0x01: ['Payload Format Indicator', 'u8'],
  0x02: ['Message Expiry Interval', 'u32'],
  0x03: ['Content Type', 'str'],
  0x08: ['Response Topic', 'str'],
  0x09: ['Correlation Data', 'bin'],
  0x0b: ['Subscription Identifier', 'varint'],
  0x11: ['Session Expiry Interval', 'u32'],
  0x12: ['Assigned Client Identifier', 'str'],
  0x13: ['Server Keep Alive', 'u16'],
  0x15: ['Authentication Method', 'str'],
  0x16: ['Authentication Data', 'bin'],
  0x17: ['Request Problem Information', 'u8'],
  0x18: ['Will Delay Interval', 'u32'],
  0x19: ['Request Response Information', 'u8'],
  0x1a: ['Response Information', 'str'],
  0x1c: ['Server Reference', 'str'],
  0x1f: ['Reason String', 'str'],
  0x21: ['Receive Maximum', 'u16'],
  0x22: ['Topic Alias Maximum', 'u16'],
  0x23: ['Topic Alias', 'u16'],
  0x24: ['Maximum QoS', 'u8'],
  0x25: ['Retain Available', 'u8'],
  0x26: ['User Property', 'pair'],
  0x27: ['Maximum Packet Size', 'u32'],
  0x28: ['Wildcard Subscription Available', 'u8'],
  0x29: ['Subscription Identifier Available', 'u8'],
  0x2a: ['Shared Subscription Available', 'u8'],
};

/** v5 properties as [name, value] pairs; null if they do not parse. */
function decodeProperties(block: Buffer): Array<[string, string]> | null {
  const f = new Fields(block);
  const out: Array<[string, string]> = [];
  while (f.i < block.length) {
    const id = f.varint();
    const spec = id === null ? undefined : PROPS[id];
    if (!spec) return null;
    const [name, kind] = spec;
    let v: string | null;
    if (kind === 'u8') v = String(f.u8() ?? '') || null;
    else if (kind === 'u16') v = String(f.u16() ?? '') || null;
    else if (kind === 'u32') v = String(f.u32() ?? '') || null;
    else if (kind === 'varint') v = String(f.varint() ?? '') || null;
    else if (kind === 'str') v = f.string();
    else if (kind === 'bin') {
      const n = f.u16();
      v = n === null ? null : (f.bytes(n)?.toString('hex') ?? null);
    } else {
      const k = f.string();
      const val = f.string();
      v = k === null || val === null ? null : `${k}=${val}`;
    }
    if (v === null) return null;
    out.push([name, v]);
  }
  return out;
}

function describeProperties(block: Buffer): string {
  const p = decodeProperties(block);
  if (p === null) return `unparsable properties ${block.toString('hex')}`;
  return p.length === 0 ? 'no properties' : p.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** A v5 CONNACK's parts, or null if `raw` is not exactly one well-formed v5 CONNACK. */
function parseConnack5(raw: Buffer): { flags: number; reason: number; props: Buffer } | null {
  const p = splitPackets(raw);
  if (p.length !== 1 || p[0]!.first !== 0x20 || p[0]!.raw.length !== raw.length) return null;
  const f = new Fields(p[0]!.body);
  const flags = f.u8();
  const reason = f.u8();
  const props = f.properties();
  if (flags === null || reason === null || props === null || f.i !== p[0]!.body.length) return null;
  return { flags, reason, props };
}

// ---------------------------------------------------------------------------------------------
// What each case touches (for scheduling)

interface Footprint {
  /** Client ids sent in CONNECTs ('' left out: the broker assigns one). */
  clientIds: Set<string>;
  /** Some CONNECT asks for a session that outlives the connection. */
  persistent: boolean;
  /** Topic filters subscribed ('$share/G/' stripped); ANY when unknown. */
  filters: string[];
  /** Share groups subscribed ("G/filter"). */
  shares: string[];
  /** Topics published: PUBLISH packets, wills, helper publishes; ANY when unknown. */
  topics: string[];
  /** Topics published with the retain flag (PUBLISH or will). */
  retained: string[];
}

const ANY = '\u0000any';

/** Sets the protocol level on each recv step (from the last CONNECT sent before it). */
function annotateLevels(c: VectorCase): void {
  let level: Level | null = c.connect ? c.connectVer : null;
  let pending = Buffer.alloc(0);
  for (const s of c.steps) {
    if (s.type === 'send') {
      pending = Buffer.concat([pending, s.bytes]);
      for (const p of splitPackets(pending)) {
        if (p.first >> 4 !== 1) continue;
        const f = new Fields(p.body);
        f.string();
        const v = f.u8();
        if (v === 3 || v === 4 || v === 5) level = v;
      }
    } else if (s.type === 'recv') s.level = level;
  }
}

function footprint(c: VectorCase): Footprint {
  const fp: Footprint = { clientIds: new Set(), persistent: false, filters: [], shares: [], topics: [], retained: [] };
  if (c.connect) fp.clientIds.add(c.clientId);
  let level: number = c.connect ? c.connectVer : 4;
  const stream = Buffer.concat(c.steps.flatMap((s) => (s.type === 'send' ? [s.bytes] : [])));
  for (const s of c.steps) if (s.type === 'publish') fp.topics.push(s.topic);
  for (const { first, body } of splitPackets(stream)) {
    const f = new Fields(body);
    switch (first >> 4) {
      case 1: {
        if (f.string() === null) break;
        const v = f.u8();
        const flags = f.u8();
        if (v === null || flags === null || f.u16() === null) break;
        level = v;
        if ((flags & 0x02) === 0) fp.persistent = true;
        if (v === 5) {
          const props = f.properties();
          if (props === null) break;
          const sei = decodeProperties(props)?.find(([k]) => k === 'Session Expiry Interval');
          if (sei && sei[1] !== '0') fp.persistent = true;
        }
        const id = f.string();
        if (id === null) break;
        if (id !== '') fp.clientIds.add(id);
        if (flags & 0x04) {
          if (v === 5 && f.properties() === null) {
            fp.topics.push(ANY);
            break;
          }
          const wt = f.string();
          fp.topics.push(wt ?? ANY);
          if (flags & 0x20) fp.retained.push(wt ?? ANY);
        }
        break;
      }
      case 3: {
        const t = f.string();
        // An empty topic in v5 may stand for a topic alias: assume it can be anything.
        const topic = t === null || t === '' ? ANY : t;
        fp.topics.push(topic);
        if (first & 0x01) fp.retained.push(topic);
        break;
      }
      case 8: {
        if (f.u16() === null || (level === 5 && f.properties() === null)) break;
        while (f.i < body.length) {
          const filter = f.string();
          if (filter === null || f.u8() === null) break;
          const share = /^\$share\/([^/]*)\/(.+)$/s.exec(filter);
          if (share) fp.shares.push(`${share[1]}/${share[2]}`);
          fp.filters.push(share ? share[2]! : filter === '' || filter.startsWith('$share') ? ANY : filter);
        }
        break;
      }
    }
  }
  return fp;
}

/** MQTT topic matching, erring towards "matches" (ANY; '$' topics are not special here). */
export function filterMatches(filter: string, topic: string): boolean {
  if (filter === ANY || topic === ANY) return true;
  const fl = filter.split('/');
  const tl = topic.split('/');
  for (let i = 0; i < fl.length; i++) {
    if (fl[i] === '#') return true;
    if (i >= tl.length) return false;
    if (fl[i] !== '+' && fl[i] !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** Must these two cases keep their file order (one could observe the other)? */
function mustOrder(a: Footprint, b: Footprint): boolean {
  const sees = (x: Footprint, y: Footprint): boolean => x.filters.some((f) => y.topics.some((t) => filterMatches(f, t)));
  if (sees(a, b) || sees(b, a)) return true;
  if (a.retained.some((t) => b.retained.some((u) => t === u || t === ANY || u === ANY))) return true;
  if (a.shares.some((s) => b.shares.includes(s))) return true;
  if ((a.persistent || b.persistent) && [...a.clientIds].some((id) => b.clientIds.has(id))) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Sockets

/** A raw client socket with exact-length reads and close detection. */
class Peer {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  error: string | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake();
    });
    const onClose = (): void => {
      this.closed = true;
      this.wake();
    };
    sock.on('end', onClose);
    sock.on('close', onClose);
    sock.on('error', (err: Error) => {
      this.error = err.message;
      onClose();
    });
  }

  static open(host: string, port: number, ms: number): Promise<Peer> {
    return new Promise((res, rej) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => {
        s.destroy();
        rej(new Error(`TCP connect to ${host}:${port} timed out`));
      }, ms);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        res(new Peer(s));
      });
      s.once('error', (err: Error) => {
        clearTimeout(t);
        rej(err);
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private until(cond: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    return new Promise((res) => {
      const check = (): void => {
        if (cond() || Date.now() >= deadline) {
          clearTimeout(timer);
          res();
        } else this.waiters.push(check);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        res();
      }, ms);
      check();
    });
  }

  /** Exactly n bytes, or null (on close or timeout) with what did arrive left in `pending`. */
  async read(n: number, ms: number): Promise<Buffer | null> {
    await this.until(() => this.buf.length >= n || this.closed, ms);
    if (this.buf.length < n) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** One whole packet by its remaining length, or null. */
  async readPacket(ms: number): Promise<Buffer | null> {
    const deadline = Date.now() + ms;
    const headerLen = (): number | null => {
      for (let i = 1; i <= 4 && i < this.buf.length; i++) if ((this.buf[i]! & 0x80) === 0) return i + 1;
      return null;
    };
    await this.until(() => headerLen() !== null || this.buf.length >= 5 || this.closed, ms);
    const h = headerLen();
    if (h === null) return null;
    const len = new Fields(this.buf, 1).varint()!;
    return this.read(h + len, Math.max(0, deadline - Date.now()));
  }

  /** Bytes received and not yet read. */
  get pending(): Buffer {
    return this.buf;
  }

  /** Wait up to ms for more bytes or a close (to show more of an unexpected answer). */
  async settle(ms: number): Promise<void> {
    const n = this.buf.length;
    await this.until(() => this.buf.length > n || this.closed, ms);
  }

  waitClose(ms: number): Promise<void> {
    return this.until(() => this.closed, ms);
  }

  send(b: Buffer): void {
    if (!this.closed && !this.sock.destroyed) this.sock.write(b);
  }

  /** Leave politely (DISCONNECT, so no will is published into later cases) and wait for the close. */
  async finish(ms: number): Promise<void> {
    if (!this.closed && !this.sock.destroyed) {
      this.sock.end(Buffer.from([0xe0, 0x00]));
      await this.waitClose(ms);
    }
    this.sock.destroy();
  }
}

const hex = (b: Buffer): string => (b.length === 0 ? '(nothing)' : b.toString('hex').replace(/(..)/g, '$1 ').trim());

class CaseFailure extends Error {}

// ---------------------------------------------------------------------------------------------
// Running

export interface RunOptions {
  host: string;
  port: number;
  /** Vector file names (e.g. "CONNECT.json"); default all. */
  files?: string[];
  /** Cases at once; default 16. */
  concurrency?: number;
  /** Per-step wait for expected bytes; default 1500 ms. */
  timeoutMs?: number;
  /** Wait for the broker to close when the case expects it; default 2000 ms. */
  closeTimeoutMs?: number;
  /** Select cases by key ("FILE/GROUP/NAME"). */
  filter?: (name: string) => boolean;
  /** Vectors directory; default vectorsDir(). */
  dir?: string;
  /** Called as each case finishes. */
  onResult?: (r: CaseResult) => void;
}

interface Ctx {
  host: string;
  port: number;
  ms: number;
  closeMs: number;
  helperId: string;
}

async function expectBytes(p: Peer, want: Buffer, ms: number, what: string): Promise<void> {
  const got = await p.read(want.length, ms);
  if (got === null) {
    const end = p.closed ? `then the connection closed${p.error ? ` (${p.error})` : ''}` : `nothing more within ${ms} ms`;
    throw new CaseFailure(`${what}: expected ${hex(want)}, got ${hex(p.pending)}, ${end}`);
  }
  if (!got.equals(want)) {
    await p.settle(100);
    const more = p.pending.length > 0 ? ` (followed by ${hex(p.pending.subarray(0, 64))}${p.pending.length > 64 ? ' ...' : ''})` : '';
    throw new CaseFailure(`${what}: expected ${hex(want)}, got ${hex(got)}${more}`);
  }
}

/** A second client (3.1.1) publishes and completes the QoS handshake, as Mosquitto's runner does (mid 1). */
async function helperPublish(ctx: Ctx, s: Extract<Step, { type: 'publish' }>): Promise<void> {
  let h: Peer;
  try {
    h = await Peer.open(ctx.host, ctx.port, ctx.ms);
  } catch (err) {
    throw new CaseFailure(`helper publisher: ${(err as Error).message}`);
  }
  try {
    h.send(defaultConnect(ctx.helperId, 4));
    await expectBytes(h, Buffer.from([0x20, 0x02, 0x00, 0x00]), ctx.ms, 'helper publisher CONNACK');
    const mid = s.qos > 0 ? Buffer.from([0x00, 0x01]) : Buffer.alloc(0);
    h.send(packet(0x30 | (s.qos << 1), Buffer.concat([str(s.topic), mid, s.payload])));
    if (s.qos === 1) await expectBytes(h, Buffer.from([0x40, 0x02, 0x00, 0x01]), ctx.ms, 'helper publisher PUBACK');
    if (s.qos === 2) {
      await expectBytes(h, Buffer.from([0x50, 0x02, 0x00, 0x01]), ctx.ms, 'helper publisher PUBREC');
      h.send(Buffer.from([0x62, 0x02, 0x00, 0x01]));
      await expectBytes(h, Buffer.from([0x70, 0x02, 0x00, 0x01]), ctx.ms, 'helper publisher PUBCOMP');
    }
  } finally {
    await h.finish(500);
  }
}

/** Runs one case; returns the CONNACK property difference it tolerated, if any. */
async function play(c: VectorCase, p: Peer, ctx: Ctx): Promise<string | null> {
  let connackNote: string | null = null;
  if (c.connect) {
    p.send(defaultConnect(c.clientId, c.connectVer));
    const ack = await p.readPacket(ctx.ms);
    // README: accept any successful CONNACK here (v5 properties are the broker's configuration).
    const ok = ack !== null && ack[0] === 0x20 && ack[2] === 0x00 && ack[3] === 0x00 && (c.connectVer === 5 ? parseConnack5(ack) !== null : ack.length === 4);
    if (!ok) {
      const got = ack ?? p.pending;
      throw new CaseFailure(`default CONNECT: expected a CONNACK with session present 0 and reason 0, got ${hex(got)}${p.closed ? ', then the connection closed' : ''}`);
    }
  }
  let stepNo = 0;
  for (const s of c.steps) {
    stepNo++;
    if (s.type === 'send') p.send(s.bytes);
    else if (s.type === 'publish') await helperPublish(ctx, s);
    else {
      let want = s.bytes;
      const what = `step ${stepNo} (recv)`;
      // A spelled-out v5 CONNACK: compare it whole, and tell a difference in properties apart.
      const head = s.level === 5 && want[0] === 0x20 ? splitPackets(want)[0] : undefined;
      const exp = head ? parseConnack5(head.raw) : null;
      if (head && exp) {
        const got = await p.readPacket(ctx.ms);
        if (got === null) {
          const end = p.closed ? 'then the connection closed' : `nothing more within ${ctx.ms} ms`;
          throw new CaseFailure(`${what}: expected ${hex(head.raw)}, got ${hex(p.pending)}, ${end}`);
        }
        if (!got.equals(head.raw)) {
          const act = parseConnack5(got);
          if (act === null || act.flags !== exp.flags || act.reason !== exp.reason) throw new CaseFailure(`${what}: expected ${hex(head.raw)}, got ${hex(got)}`);
          connackNote = `CONNACK differs only in properties: expected ${hex(head.raw)} [${describeProperties(exp.props)}], got ${hex(got)} [${describeProperties(act.props)}]`;
        }
        want = want.subarray(head.raw.length);
      }
      if (want.length > 0) await expectBytes(p, want, ctx.ms, what);
    }
  }
  if (c.expectDisconnect) {
    await p.waitClose(ctx.closeMs);
    if (p.pending.length > 0) {
      throw new CaseFailure(`expected the connection to close, got ${hex(p.pending.subarray(0, 64))}${p.closed ? ', then a close' : ` and no close within ${ctx.closeMs} ms`}`);
    }
    if (!p.closed) throw new CaseFailure(`expected the connection to close; still open after ${ctx.closeMs} ms`);
  } else {
    if (p.closed && p.pending.length === 0) throw new CaseFailure(`expected the connection to stay open, it was closed${p.error ? ` (${p.error})` : ''}`);
    p.send(Buffer.from([0xc0, 0x00]));
    await expectBytes(p, Buffer.from([0xd0, 0x00]), ctx.ms, 'still-connected check (PINGREQ)');
  }
  return connackNote;
}

async function runCase(c: VectorCase, o: RunOptions): Promise<CaseResult> {
  const started = Date.now();
  const base = { file: c.file, group: c.group, name: c.name, ver: c.ver, key: c.key };
  const done = (outcome: Outcome, reason?: string): CaseResult => ({
    ...base,
    pass: outcome === 'pass',
    outcome,
    ...(reason === undefined ? {} : { reason }),
    ms: Date.now() - started,
  });
  const ctx: Ctx = { host: o.host, port: o.port, ms: o.timeoutMs ?? 1500, closeMs: o.closeTimeoutMs ?? 2000, helperId: `conformance-helper-${c.index}` };
  let p: Peer;
  try {
    p = await Peer.open(o.host, o.port, ctx.ms);
  } catch (err) {
    return done('fail', `cannot connect to ${o.host}:${o.port}: ${(err as Error).message}`);
  }
  try {
    const note = await play(c, p, ctx);
    return note === null ? done('pass') : done('connack-properties', note);
  } catch (err) {
    if (err instanceof CaseFailure) return done('fail', err.message);
    return done('fail', `runner error: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await p.finish(500);
  }
}

/** Run the vectors against a broker. Disabled cases come back with outcome 'skipped'. */
export async function runVectors(o: RunOptions): Promise<CaseResult[]> {
  const all = loadCases(o.dir, o.files).filter((c) => !o.filter || o.filter(c.key));
  const results: CaseResult[] = [];
  const cases: VectorCase[] = [];
  for (const c of all) {
    if (c.disabled) results.push({ file: c.file, group: c.group, name: c.name, ver: c.ver, key: c.key, pass: false, outcome: 'skipped', reason: 'disabled in the data', ms: 0 });
    else cases.push(c);
  }

  // Dependencies: an earlier case that must finish first. ZZ-* files check the broker after all others.
  const fps = cases.map(footprint);
  const waitsFor = cases.map(() => 0);
  const unblocks: number[][] = cases.map(() => []);
  for (let i = 0; i < cases.length; i++) {
    const barrier = cases[i]!.file.startsWith('ZZ');
    for (let j = 0; j < i; j++) {
      if (barrier || mustOrder(fps[i]!, fps[j]!)) {
        waitsFor[i]!++;
        unblocks[j]!.push(i);
      }
    }
  }

  const limit = Math.max(1, o.concurrency ?? 16);
  const busyIds = new Set<string>();
  const waiting = new Set(cases.map((_, i) => i));
  const running = new Map<number, Promise<number>>();
  while (waiting.size > 0 || running.size > 0) {
    for (const i of waiting) {
      if (running.size >= limit) break;
      if (waitsFor[i]! > 0 || [...fps[i]!.clientIds].some((id) => busyIds.has(id))) continue;
      waiting.delete(i);
      for (const id of fps[i]!.clientIds) busyIds.add(id);
      running.set(
        i,
        runCase(cases[i]!, o).then((r) => {
          results.push(r);
          o.onResult?.(r);
          return i;
        }),
      );
    }
    if (running.size === 0) throw new Error('conformance scheduler: no case can start (dependency cycle)');
    const i = await Promise.race(running.values());
    running.delete(i);
    for (const id of fps[i]!.clientIds) busyIds.delete(id);
    for (const k of unblocks[i]!) waitsFor[k]!--;
  }
  const order = new Map(all.map((c, i) => [c.key, i]));
  return results.sort((a, b) => order.get(a.key)! - order.get(b.key)!);
}

// ---------------------------------------------------------------------------------------------
// Summaries

export interface Cell {
  pass: number;
  total: number;
}

export interface Summary {
  rows: Array<{ file: string; byLevel: Record<Level, Cell>; all: Cell }>;
  byLevel: Record<Level, Cell>;
  all: Cell;
  skipped: number;
  connackProperties: CaseResult[];
  failures: CaseResult[];
}

const cells = (): Record<Level, Cell> => ({ 3: { pass: 0, total: 0 }, 4: { pass: 0, total: 0 }, 5: { pass: 0, total: 0 } });

export function summarize(results: CaseResult[]): Summary {
  const byFile = new Map<string, { byLevel: Record<Level, Cell>; all: Cell }>();
  const byLevel = cells();
  const all: Cell = { pass: 0, total: 0 };
  for (const r of results) {
    if (r.outcome === 'skipped') continue;
    let row = byFile.get(r.file);
    if (!row) byFile.set(r.file, (row = { byLevel: cells(), all: { pass: 0, total: 0 } }));
    for (const cell of [row.byLevel[r.ver], row.all, byLevel[r.ver], all]) {
      cell.total++;
      if (r.pass) cell.pass++;
    }
  }
  return {
    rows: [...byFile.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([file, v]) => ({ file, ...v })),
    byLevel,
    all,
    skipped: results.filter((r) => r.outcome === 'skipped').length,
    connackProperties: results.filter((r) => r.outcome === 'connack-properties'),
    failures: results.filter((r) => r.outcome === 'fail'),
  };
}

// ---------------------------------------------------------------------------------------------
// Starting Switchboard

export interface Started {
  host: string;
  port: number;
  /** Last lines the broker wrote to stderr. */
  stderrTail: () => string;
  exitCode: () => number | null;
  stop: () => Promise<void>;
}

/**
 * `node dist/src/cli/main.js --listen mqtt://127.0.0.1:0 --log-level warn`; the port comes from
 * its stdout line `listening mqtt://127.0.0.1:PORT`.
 */
export function startSwitchboard(timeoutMs = 15_000): Promise<Started> {
  const cli = join(repoRoot(), 'dist/src/cli/main.js');
  if (!existsSync(cli)) return Promise.reject(new Error(`Switchboard CLI not found at ${cli} (build first: npx tsc -p tsconfig.json)`));
  // The memory store: the vectors need no persistence (and leave no ./data behind).
  const proc = spawn(process.execPath, [cli, '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'warn', '--set', 'store.type=memory'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let exit: number | null = null;
  const exited = new Promise<void>((res) =>
    proc.once('exit', (code, signal) => {
      exit = code ?? (signal ? 128 : 1);
      res();
    }),
  );
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    tail.push(...d.split('\n').filter((l) => l.length > 0));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  });
  const stop = async (): Promise<void> => {
    if (exit !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => {
      void stop();
      rej(new Error(`Switchboard printed no "listening mqtt://" line within ${timeoutMs} ms; stderr:\n${tail.join('\n')}`));
    }, timeoutMs);
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening mqtt:\/\/([^\s:/]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res({ host: m[1]!, port: Number(m[2]), stderrTail: () => tail.join('\n'), exitCode: () => exit, stop });
      }
    });
    void exited.then(() => {
      clearTimeout(t);
      rej(new Error(`Switchboard exited (${exit}) before listening; stderr:\n${tail.join('\n')}`));
    });
    proc.once('error', (err) => {
      clearTimeout(t);
      rej(err);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// expected-failures.json

export function expectedFailuresPath(): string {
  return join(repoRoot(), 'test/conformance/expected-failures.json');
}

/** "FILE/GROUP/NAME" -> short reason. */
export function loadExpectedFailures(path = expectedFailuresPath()): Record<string, string> {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Json;
  if (!isObject(doc)) throw new Error(`${path}: expected a JSON object "FILE/GROUP/NAME" -> reason`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== 'string' || v.trim() === '') throw new Error(`${path}: "${k}" needs a short reason`);
    out[k] = v;
  }
  return out;
}
