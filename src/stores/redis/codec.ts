/**
 * Records <-> Redis values: a compact binary encoding (the payload and binary metadata as raw
 * bytes, no JSON, no base64), read back deep-equal: only the keys present in a record come back.
 * Every top-level value starts with a format byte (FORMAT) so that the encoding can change.
 *
 *   uint    LEB128, 7 bits a byte, up to 2^53 (ids and timestamps too)
 *   str     uint byte length, UTF-8
 *   bytes   uint length, raw
 *   message flags (qos:2 | retain | meta | sender | expiresAt), [topic str], payload bytes,
 *           [expiresAt uint], [sender: clientId, app, profile], [meta: which-fields byte, fields]
 *   delivery flags (qos:2 | retain | subscriptionIds | group | via), message, fields present
 *
 * Numbers must be non-negative safe integers (what the core writes): anything else throws a
 * RangeError when encoding, which the store counts as a skipped write (a bug, not an outage).
 */
import type { DeadLetterRecord, DeliveryRecord, MessageRecord, MetaRecord, SessionMeta, SubscriptionRecord } from '../types.js';

export const FORMAT = 1;

export class Writer {
  private buf: Buffer;
  private n = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.n++] = v & 0xff;
    return this;
  }

  uint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`redis store: cannot encode ${v} (a non-negative integer was expected)`);
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
    return this;
  }

  str(s: string): this {
    const len = Buffer.byteLength(s);
    this.uint(len);
    this.room(len);
    this.n += this.buf.write(s, this.n, 'utf8');
    return this;
  }

  bytes(b: Buffer): this {
    this.uint(b.length);
    this.room(b.length);
    b.copy(this.buf, this.n);
    this.n += b.length;
    return this;
  }

  /** The bytes written (a view: a writer makes one value). */
  done(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

export class Reader {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  u8(): number {
    if (this.at >= this.buf.length) throw new RangeError('redis store: truncated value');
    return this.buf[this.at++]!;
  }

  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  }

  str(): string {
    const len = this.uint();
    if (this.at + len > this.buf.length) throw new RangeError('redis store: truncated value');
    const s = this.buf.toString('utf8', this.at, this.at + len);
    this.at += len;
    return s;
  }

  bytes(): Buffer {
    const len = this.uint();
    if (this.at + len > this.buf.length) throw new RangeError('redis store: truncated value');
    const b = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return b;
  }

  format(): void {
    const f = this.u8();
    if (f !== FORMAT) throw new RangeError(`redis store: a value of format ${f}, this Switchboard reads format ${FORMAT}`);
  }
}

function qosOf(n: number): 0 | 1 | 2 {
  return n === 2 ? 2 : n === 1 ? 1 : 0;
}

// ---- messages ---------------------------------------------------------------------------------

const M_RETAIN = 4;
const M_META = 8;
const M_SENDER = 16;
const M_EXPIRES = 32;

function writeMeta(w: Writer, m: MetaRecord): void {
  const has =
    (m.payloadFormatIndicator !== undefined ? 1 : 0) |
    (m.contentType !== undefined ? 2 : 0) |
    (m.responseTopic !== undefined ? 4 : 0) |
    (m.correlationData !== undefined ? 8 : 0) |
    (m.userProperties !== undefined ? 16 : 0);
  w.u8(has);
  if (m.payloadFormatIndicator !== undefined) w.uint(m.payloadFormatIndicator);
  if (m.contentType !== undefined) w.str(m.contentType);
  if (m.responseTopic !== undefined) w.str(m.responseTopic);
  if (m.correlationData !== undefined) w.bytes(m.correlationData);
  if (m.userProperties !== undefined) {
    w.uint(m.userProperties.length);
    for (const [k, v] of m.userProperties) w.str(k).str(v);
  }
}

function readMeta(r: Reader): MetaRecord {
  const has = r.u8();
  const m: MetaRecord = {};
  if (has & 1) m.payloadFormatIndicator = r.uint();
  if (has & 2) m.contentType = r.str();
  if (has & 4) m.responseTopic = r.str();
  if (has & 8) m.correlationData = r.bytes();
  if (has & 16) {
    const n = r.uint();
    const props: Array<[string, string]> = [];
    for (let i = 0; i < n; i++) props.push([r.str(), r.str()]);
    m.userProperties = props;
  }
  return m;
}

/** `withTopic` false: the topic is known from elsewhere (the retained hash's field). */
export function writeMessage(w: Writer, m: MessageRecord, withTopic = true): void {
  w.u8(m.qos | (m.retain ? M_RETAIN : 0) | (m.meta !== null ? M_META : 0) | (m.sender !== null ? M_SENDER : 0) | (m.expiresAt !== 0 ? M_EXPIRES : 0));
  if (withTopic) w.str(m.topic);
  w.bytes(m.payload);
  if (m.expiresAt !== 0) w.uint(m.expiresAt);
  if (m.sender !== null) w.str(m.sender.clientId).str(m.sender.app).str(m.sender.profile);
  if (m.meta !== null) writeMeta(w, m.meta);
}

export function readMessage(r: Reader, topic?: string): MessageRecord {
  const f = r.u8();
  const t = topic ?? r.str();
  const payload = r.bytes();
  const expiresAt = f & M_EXPIRES ? r.uint() : 0;
  const sender = f & M_SENDER ? { clientId: r.str(), app: r.str(), profile: r.str() } : null;
  const meta = f & M_META ? readMeta(r) : null;
  return { topic: t, payload, qos: qosOf(f & 3), retain: (f & M_RETAIN) !== 0, meta, expiresAt, sender };
}

// ---- deliveries -------------------------------------------------------------------------------

const D_RETAIN = 4;
const D_SUBIDS = 8;
const D_GROUP = 16;
const D_VIA = 32;

export function writeDelivery(w: Writer, d: DeliveryRecord): void {
  w.u8(d.qos | (d.retain ? D_RETAIN : 0) | (d.subscriptionIds !== null ? D_SUBIDS : 0) | (d.group !== null ? D_GROUP : 0) | (d.via !== undefined ? D_VIA : 0));
  writeMessage(w, d.msg);
  if (d.subscriptionIds !== null) {
    w.uint(d.subscriptionIds.length);
    for (const id of d.subscriptionIds) w.uint(id);
  }
  if (d.group !== null) w.str(d.group.filter).str(d.group.name);
  if (d.via !== undefined) w.str(d.via);
}

export function readDelivery(r: Reader): DeliveryRecord {
  const f = r.u8();
  const msg = readMessage(r);
  let subscriptionIds: number[] | null = null;
  if (f & D_SUBIDS) {
    const n = r.uint();
    subscriptionIds = [];
    for (let i = 0; i < n; i++) subscriptionIds.push(r.uint());
  }
  const group = f & D_GROUP ? { filter: r.str(), name: r.str() } : null;
  const d: DeliveryRecord = { msg, qos: qosOf(f & 3), retain: (f & D_RETAIN) !== 0, subscriptionIds, group };
  if (f & D_VIA) d.via = r.str();
  return d;
}

// ---- top-level values -------------------------------------------------------------------------

export function encodeDelivery(d: DeliveryRecord): Buffer {
  const w = new Writer(64 + d.msg.payload.length + d.msg.topic.length);
  w.u8(FORMAT);
  writeDelivery(w, d);
  return w.done();
}

export function decodeDelivery(b: Buffer): DeliveryRecord {
  const r = new Reader(b);
  r.format();
  return readDelivery(r);
}

/** An in-flight delivery (its id is the hash field). */
export function encodeInflight(phase: 'sent' | 'received', d: DeliveryRecord): Buffer {
  const w = new Writer(64 + d.msg.payload.length + d.msg.topic.length);
  w.u8(FORMAT).u8(phase === 'received' ? 1 : 0);
  writeDelivery(w, d);
  return w.done();
}

export function decodeInflight(b: Buffer): { phase: 'sent' | 'received'; delivery: DeliveryRecord } {
  const r = new Reader(b);
  r.format();
  const phase = r.u8() === 1 ? 'received' : 'sent';
  return { phase, delivery: readDelivery(r) };
}

/** A retained message (its topic is the hash field). */
export function encodeRetained(m: MessageRecord): Buffer {
  const w = new Writer(48 + m.payload.length);
  w.u8(FORMAT);
  writeMessage(w, m, false);
  return w.done();
}

export function decodeRetained(topic: string, b: Buffer): MessageRecord {
  const r = new Reader(b);
  r.format();
  return readMessage(r, topic);
}

export function encodeWill(will: { msg: MessageRecord; delay: number }): Buffer {
  const w = new Writer(64 + will.msg.payload.length + will.msg.topic.length);
  w.u8(FORMAT).uint(will.delay);
  writeMessage(w, will.msg);
  return w.done();
}

export function decodeWill(b: Buffer): { msg: MessageRecord; delay: number } {
  const r = new Reader(b);
  r.format();
  const delay = r.uint();
  return { msg: readMessage(r), delay };
}

export function encodeSessionMeta(m: SessionMeta): Buffer {
  return new Writer(64).u8(FORMAT).str(m.login).str(m.profile).str(m.protocol).uint(m.expiry).uint(m.disconnectedAt).done();
}

export function decodeSessionMeta(b: Buffer): SessionMeta {
  const r = new Reader(b);
  r.format();
  return { login: r.str(), profile: r.str(), protocol: r.str(), expiry: r.uint(), disconnectedAt: r.uint() };
}

const S_NO_LOCAL = 4;
const S_RAP = 8;
const S_GROUP = 64;

/** A subscription (its raw filter is the hash field). */
export function encodeSubscription(s: SubscriptionRecord): Buffer {
  const w = new Writer(32 + s.filter.length);
  w.u8(FORMAT).u8(s.qos | (s.noLocal ? S_NO_LOCAL : 0) | (s.retainAsPublished ? S_RAP : 0) | (s.retainHandling << 4) | (s.group !== null ? S_GROUP : 0));
  w.str(s.filter);
  if (s.group !== null) w.str(s.group);
  w.uint(s.subscriptionId);
  return w.done();
}

export function decodeSubscription(raw: string, b: Buffer): SubscriptionRecord {
  const r = new Reader(b);
  r.format();
  const f = r.u8();
  const filter = r.str();
  const group = f & S_GROUP ? r.str() : null;
  return {
    raw,
    filter,
    group,
    qos: qosOf(f & 3),
    noLocal: (f & S_NO_LOCAL) !== 0,
    retainAsPublished: (f & S_RAP) !== 0,
    retainHandling: qosOf((f >> 4) & 3),
    subscriptionId: r.uint(),
  };
}

/** A queue (durable shared group) entry: its queue and message (its id is the hash field). */
export function encodeQueued(filter: string, name: string, m: MessageRecord): Buffer {
  const w = new Writer(64 + m.payload.length + m.topic.length);
  w.u8(FORMAT).str(filter).str(name);
  writeMessage(w, m);
  return w.done();
}

export function decodeQueued(b: Buffer): { filter: string; name: string; msg: MessageRecord } {
  const r = new Reader(b);
  r.format();
  const filter = r.str();
  const name = r.str();
  return { filter, name, msg: readMessage(r) };
}

/** A dead letter, id included (the sorted set's member; its application is the key's). */
export function encodeDeadLetter(d: DeadLetterRecord): Buffer {
  const w = new Writer(96 + d.msg.payload.length + d.msg.topic.length);
  w.u8(FORMAT).uint(d.id).str(d.reason).u8(d.to === null ? 0 : 1);
  if (d.to !== null) w.str(d.to);
  w.uint(d.time);
  writeMessage(w, d.msg);
  return w.done();
}

export function decodeDeadLetter(app: string, b: Buffer): DeadLetterRecord {
  const r = new Reader(b);
  r.format();
  const id = r.uint();
  const reason = r.str();
  const to = r.u8() === 1 ? r.str() : null;
  const time = r.uint();
  return { id, app, reason, to, time, msg: readMessage(r) };
}
