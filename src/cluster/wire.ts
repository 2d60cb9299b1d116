/**
 * Frames between cluster nodes (the mesh's Unix sockets, the Redis bus's channels; one build):
 * not a client protocol, so hand-written and versionless. Every frame is
 *
 *   u32 length of what follows | u8 kind | body
 *
 *   MESSAGE  u8 route | route fields | u8 flags (bits 0-1 QoS, 2 retain, 4 has meta, 5 has sender,
 *            6 confirm) | str app | str topic | [str sender client id | u8 sender profile] | tail
 *            tail: f64 expiresAt | [u32 confirm id] | [u32 n | n bytes meta JSON] | payload (rest)
 *            route: 0 fanout | 1 inbox | 2 shared (str filter | str group) | 3 tap (str client | u8 profile)
 *                   | 4 presence | 5 members | 6 retained          (core/bus.ts Route)
 *   CLAIM    u8 profile | u8 online | f64 since | str app | str clientId | str protocol | str transport
 *   RELEASE  str app | str clientId                    (the client is no longer held there)
 *   INTEREST u8 1 (add) / 0 (remove) | str app | str filter   (first / last local subscriber)
 *   SYNC                                               (a starting node asks for the retained messages)
 *   SYNCED                                             (end of the retained snapshot)
 *   WILL     str app | str clientId | u32 delay | u32 n | n bytes client JSON | [MESSAGE frame]
 *                                                      (the will of an online client there; no message: none now)
 *   RESET                                              (forget what I told you; my whole state follows)
 *   BYE                                                (I am leaving: forget me, my clients' wills are mine)
 *   TAKE     str app | str clientId                    (let go of this client: I take it over)
 *   RELEASED str app | str clientId                    (done: closed here, its store writes flushed)
 *   STORED   u32 id                                    (the message with that confirm id is handled and stored here)
 *   SWITCH                                             (the last frame through Redis: the rest come on the direct link)
 *   ALIASED  u8 flags | u16 sender alias | u16 topic alias | tail (as MESSAGE's)
 *                                                      (a fan-out MESSAGE whose application, sender and topic are
 *                                                      aliases defined earlier on the same direct link: aliases.ts)
 *   TOPIC    u16 alias | str topic                     (defines, or redefines, a topic alias on a direct link)
 *   SENDER   u16 alias | str app | str client id | u8 profile   (defines a sender alias: application and publisher)
 *
 * str = u16 byte length + UTF-8. Meta is JSON with correlationData in base64.
 */
import { createMessage } from '../core/message.js';
import type { Message, MessageMeta, QoS, Sender } from '../core/message.js';
import { PROFILES } from '../core/permissions.js';
import type { Profile } from '../core/permissions.js';
import type { Claim, Route, WillRecord } from '../core/bus.js';
import type { ClientInfo } from '../core/hooks.js';
import { Interner } from '../shared/interner.js';

export const enum Kind {
  Message = 1,
  Claim = 2,
  Interest = 3,
  Release = 4,
  Sync = 5,
  Synced = 6,
  Will = 7,
  Reset = 8,
  Bye = 9,
  Take = 10,
  Released = 11,
  Stored = 12,
  Switch = 13,
  Adopted = 14,
  Aliased = 15,
  TopicAlias = 16,
  SenderAlias = 17,
}

export type PeerFrame =
  | { kind: Kind.Message; app: string; msg: Message; route: Route; confirm: number }
  | { kind: Kind.Stored; id: number }
  | { kind: Kind.Claim; app: string; claim: Claim }
  | { kind: Kind.Release | Kind.Take | Kind.Released; app: string; clientId: string }
  | { kind: Kind.Interest; add: boolean; app: string; filter: string }
  | { kind: Kind.Will; app: string; will: WillRecord }
  | { kind: Kind.Sync }
  | { kind: Kind.Synced }
  | { kind: Kind.Reset }
  | { kind: Kind.Bye }
  | { kind: Kind.Switch }
  | { kind: Kind.Adopted; node: string };

const ROUTES = ['fanout', 'inbox', 'shared', 'tap', 'presence', 'members', 'retained'] as const;
export const FANOUT: Route = Object.freeze({ kind: 'fanout' });

/** Node's Buffer methods under `toString`/`write`, without their argument checks (hot path: each frame's strings). */
interface RawBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number): number;
}

/** Strings up to this many UTF-16 units are copied byte by byte while they are ASCII: no native call. */
const SHORT = 64;

/** Room a string may take: u16 length + at most 3 UTF-8 bytes per UTF-16 unit. */
function strBound(s: string): number {
  return 2 + 3 * s.length;
}

/** `s` as u16 length + UTF-8 at `at` (room: strBound); returns the end. */
function putStr(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  let i = 0;
  if (n <= SHORT) {
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[at + 2 + i] = c;
    }
  }
  const len = i === n ? n : (buf as RawBuffer).utf8Write(s, at + 2);
  buf[at] = len >>> 8;
  buf[at + 1] = len & 0xff;
  return at + 2 + len;
}

/** A frame built with `putStr` in a buffer sized by bound: the exact bytes. */
function framed(buf: Buffer, end: number): Buffer {
  buf.writeUInt32BE(end - 4, 0);
  return end === buf.length ? buf : buf.subarray(0, end);
}

function metaJson(meta: MessageMeta): Buffer {
  const { correlationData, ...rest } = meta;
  return Buffer.from(JSON.stringify(correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest));
}

function routeBound(r: Route): number {
  if (r.kind === 'shared') return 1 + strBound(r.filter) + strBound(r.group);
  if (r.kind === 'tap') return 1 + strBound(r.client) + 1;
  return 1;
}

/**
 * A message frame, written where its caller wants it: in a link's output buffer (no Buffer per
 * frame, no copy when the turn's frames are flushed) or in a Buffer of its own (`encodeMessage`).
 * `bound` first (it serialises the metadata, once), then `write` at an offset with that much room.
 */
export class MessageFrame {
  private meta: Buffer | null = null;

  /** The most bytes the frame can take (strings at their UTF-8 worst case). */
  bound(app: string, msg: Message, route: Route, confirm: number): number {
    const meta = (this.meta = msg.meta !== null ? metaJson(msg.meta) : null);
    const sender = msg.sender;
    return 4 + 1 + routeBound(route) + 1 + 8 + (confirm > 0 ? 4 : 0) + strBound(app) + strBound(msg.topic) + (sender !== null ? strBound(sender.clientId) + 1 : 0) + (meta !== null ? 4 + meta.length : 0) + msg.payload.length;
  }

  /** The most bytes an ALIASED frame of `msg` can take. */
  aliasedBound(msg: Message, confirm: number): number {
    const meta = (this.meta = msg.meta !== null ? metaJson(msg.meta) : null);
    return 4 + 1 + 1 + 8 + (confirm > 0 ? 4 : 0) + 2 + 2 + (meta !== null ? 4 + meta.length : 0) + msg.payload.length;
  }

  /** Write an ALIASED frame at `start` (after `aliasedBound`); returns its end. */
  writeAliased(buf: Buffer, start: number, msg: Message, confirm: number, sender: number, topic: number): number {
    const meta = this.meta;
    buf[start + 4] = Kind.Aliased;
    let at = start + 5;
    buf[at++] = msg.qos | (msg.retain ? 4 : 0) | (meta !== null ? 16 : 0) | 32 | (confirm > 0 ? 64 : 0);
    buf[at] = sender >>> 8;
    buf[at + 1] = sender & 0xff;
    buf[at + 2] = topic >>> 8;
    buf[at + 3] = topic & 0xff;
    return this.tail(buf, start, at + 4, msg, confirm);
  }

  /** What both message frames end with (expiresAt, confirm id, metadata, payload), and the frame's length. */
  private tail(buf: Buffer, start: number, at: number, msg: Message, confirm: number): number {
    if (msg.expiresAt === 0) for (let i = 0; i < 8; i++) buf[at++] = 0; // +0.0
    else at = buf.writeDoubleBE(msg.expiresAt, at);
    if (confirm > 0) at = buf.writeUInt32BE(confirm, at);
    const meta = this.meta;
    if (meta !== null) {
      at = buf.writeUInt32BE(meta.length, at);
      at += meta.copy(buf, at);
      this.meta = null;
    }
    buf.set(msg.payload, at);
    at += msg.payload.length;
    buf.writeUInt32BE(at - start - 4, start);
    return at;
  }

  /** Write the frame at `start` (after `bound`, with that much room); returns its end. */
  write(buf: Buffer, start: number, app: string, msg: Message, route: Route, confirm: number): number {
    const meta = this.meta;
    const sender = msg.sender;
    buf[start + 4] = Kind.Message;
    let at = start + 5;
    const kind = route.kind;
    buf[at++] = kind === 'fanout' ? 0 : ROUTES.indexOf(kind);
    if (kind === 'shared') at = putStr(buf, putStr(buf, at, route.filter), route.group);
    else if (kind === 'tap') {
      at = putStr(buf, at, route.client);
      buf[at++] = PROFILES.indexOf(route.profile);
    }
    buf[at++] = msg.qos | (msg.retain ? 4 : 0) | (meta !== null ? 16 : 0) | (sender !== null ? 32 : 0) | (confirm > 0 ? 64 : 0);
    at = putStr(buf, at, app);
    at = putStr(buf, at, msg.topic);
    if (sender !== null) {
      at = putStr(buf, at, sender.clientId);
      buf[at++] = PROFILES.indexOf(sender.profile);
    }
    return this.tail(buf, start, at, msg, confirm);
  }
}

const frameWriter = new MessageFrame();

/**
 * One message frame in a Buffer of its own: the same bytes go to every node it is sent to.
 * `confirm` > 0: the receiving nodes answer STORED with it once the message is handled and stored there.
 */
export function encodeMessage(app: string, msg: Message, route: Route = FANOUT, confirm = 0): Buffer {
  const buf = Buffer.allocUnsafe(frameWriter.bound(app, msg, route, confirm));
  const end = frameWriter.write(buf, 0, app, msg, route, confirm);
  return end === buf.length ? buf : buf.subarray(0, end);
}

/** Room a TOPIC alias definition takes. */
export function topicAliasBound(topic: string): number {
  return 4 + 1 + 2 + strBound(topic);
}

/** Write a TOPIC alias definition at `start`; returns its end. */
export function writeTopicAlias(buf: Buffer, start: number, id: number, topic: string): number {
  buf[start + 4] = Kind.TopicAlias;
  buf[start + 5] = id >>> 8;
  buf[start + 6] = id & 0xff;
  const end = putStr(buf, start + 7, topic);
  buf.writeUInt32BE(end - start - 4, start);
  return end;
}

/** Room a SENDER alias definition takes. */
export function senderAliasBound(app: string, sender: Sender): number {
  return 4 + 1 + 2 + strBound(app) + strBound(sender.clientId) + 1;
}

/** Write a SENDER alias definition at `start`; returns its end. */
export function writeSenderAlias(buf: Buffer, start: number, id: number, app: string, sender: Sender): number {
  buf[start + 4] = Kind.SenderAlias;
  buf[start + 5] = id >>> 8;
  buf[start + 6] = id & 0xff;
  let end = putStr(buf, putStr(buf, start + 7, app), sender.clientId);
  buf[end++] = PROFILES.indexOf(sender.profile);
  buf.writeUInt32BE(end - start - 4, start);
  return end;
}

export function encodeClaim(app: string, c: Claim): Buffer {
  const buf = Buffer.allocUnsafe(4 + 1 + 1 + 1 + 8 + strBound(app) + strBound(c.clientId) + strBound(c.protocol) + strBound(c.transport));
  buf[4] = Kind.Claim;
  buf[5] = PROFILES.indexOf(c.profile);
  buf[6] = c.online ? 1 : 0;
  buf.writeDoubleBE(c.since, 7);
  return framed(buf, putStr(buf, putStr(buf, putStr(buf, putStr(buf, 15, app), c.clientId), c.protocol), c.transport));
}

/** RELEASE (default), TAKE or RELEASED: an application and a client id. */
export function encodeRelease(app: string, clientId: string, kind: Kind.Release | Kind.Take | Kind.Released = Kind.Release): Buffer {
  const buf = Buffer.allocUnsafe(4 + 1 + strBound(app) + strBound(clientId));
  buf[4] = kind;
  return framed(buf, putStr(buf, putStr(buf, 5, app), clientId));
}

export function encodeInterest(add: boolean, app: string, filter: string): Buffer {
  const buf = Buffer.allocUnsafe(4 + 2 + strBound(app) + strBound(filter));
  buf[4] = Kind.Interest;
  buf[5] = add ? 1 : 0;
  return framed(buf, putStr(buf, putStr(buf, 6, app), filter));
}

export function encodeWill(app: string, w: WillRecord): Buffer {
  const info = Buffer.from(JSON.stringify(w.client));
  const msg = w.msg === null ? null : encodeMessage(app, w.msg);
  const buf = Buffer.allocUnsafe(4 + 1 + strBound(app) + strBound(w.clientId) + 4 + 4 + info.length + (msg === null ? 0 : msg.length));
  buf[4] = Kind.Will;
  let at = putStr(buf, putStr(buf, 5, app), w.clientId);
  buf.writeUInt32BE(w.delay, at);
  buf.writeUInt32BE(info.length, at + 4);
  at += 8 + info.copy(buf, at + 8);
  if (msg !== null) at += msg.copy(buf, at);
  return framed(buf, at);
}

export function encodeStored(id: number): Buffer {
  const buf = Buffer.allocUnsafe(9);
  buf.writeUInt32BE(5, 0);
  buf[4] = Kind.Stored;
  buf.writeUInt32BE(id, 5);
  return buf;
}

/** ADOPTED: the sessions `node` held when it died are taken in (its interest may go). */
export function encodeAdopted(node: string): Buffer {
  const buf = Buffer.allocUnsafe(4 + 1 + strBound(node));
  buf[4] = Kind.Adopted;
  return framed(buf, putStr(buf, 5, node));
}

/** A frame with no body. */
export function encodeSignal(kind: Kind.Sync | Kind.Synced | Kind.Reset | Kind.Bye | Kind.Switch): Buffer {
  const buf = Buffer.allocUnsafe(5);
  buf.writeUInt32BE(1, 0);
  buf[4] = kind;
  return buf;
}

function profileAt(buf: Buffer, at: number): Profile {
  return PROFILES[buf[at]!] ?? 'AGENT';
}

const STRING_SLOTS = 512;

/**
 * The strings of a stream of frames, decoded once (shared/interner.ts): a frame's application,
 * topic and sender are nearly always those of a recent frame. Sender records are shared the same
 * way, one per slot of its client id.
 */
class Strings extends Interner {
  private readonly senders: Array<Sender | null> = new Array<Sender | null>(STRING_SLOTS).fill(null);

  constructor() {
    super(STRING_SLOTS, 48);
  }

  /** The sender record of a client id just read with `get`. */
  sender(clientId: string, app: string, profile: Profile): Sender {
    const slot = this.slot;
    if (slot < 0) return { clientId, app, profile };
    const s = this.senders[slot];
    if (s !== null && s !== undefined && s.clientId === clientId && s.app === app && s.profile === profile) return s;
    return (this.senders[slot] = { clientId, app, profile });
  }
}

/**
 * Decodes frames. One per stream (a link, the Redis bus): its strings are cached across frames.
 * A message's payload is a view of the frame's bytes, as MQTT's decoder does (a retained one is
 * copied out: it is kept for long).
 */
export class FrameDecoder {
  private readonly strings = new Strings();
  /** Aliases the sending node defined on this stream (a direct link): by id. */
  private readonly topics: string[] = [];
  private readonly senders: Sender[] = [];

  /** Decode every frame of `buf` from `at` (a whole number of frames: one Redis bus message). */
  frames(buf: Buffer, at: number, onFrame: (f: PeerFrame) => void): void {
    while (at < buf.length) {
      if (buf.length - at < 4) throw new Error('cluster: truncated frame');
      const size = buf.readUInt32BE(at);
      if (buf.length - at - 4 < size) throw new Error('cluster: truncated frame');
      const f = this.frame(buf, at + 4, at + 4 + size);
      if (f !== null) onFrame(f);
      at += 4 + size;
    }
  }

  /** The frame whose body (kind byte onward) is `buf[start, end)`; null: an alias, taken in here. */
  frame(buf: Buffer, start: number, end: number): PeerFrame | null {
    const k = buf[start];
    if (k === Kind.Message) return this.message(buf, start, end);
    if (k === Kind.Aliased) return this.aliased(buf, start, end);
    let at = start + 1;
    const str = (): string => {
      const n = buf.readUInt16BE(at);
      if (at + 2 + n > end) throw new Error('cluster: truncated frame');
      const s = this.strings.get(buf, at + 2, n);
      at += 2 + n;
      return s;
    };
    switch (buf[start]) {
      case Kind.Claim: {
        const profile = profileAt(buf, at);
        const online = buf[at + 1] === 1;
        const since = buf.readDoubleBE(at + 2);
        at += 10;
        const app = str();
        const clientId = str();
        const protocol = str();
        return { kind: Kind.Claim, app, claim: { clientId, profile, online, since, protocol, transport: str() } };
      }
      case Kind.Release:
      case Kind.Take:
      case Kind.Released: {
        const kind = buf[start] as Kind.Release | Kind.Take | Kind.Released;
        const app = str();
        return { kind, app, clientId: str() };
      }
      case Kind.Interest: {
        const add = buf[at++] === 1;
        const app = str();
        return { kind: Kind.Interest, add, app, filter: str() };
      }
      case Kind.Will: {
        const app = str();
        const clientId = str();
        const delay = buf.readUInt32BE(at);
        const n = buf.readUInt32BE(at + 4);
        const client = JSON.parse(buf.toString('utf8', at + 8, at + 8 + n)) as ClientInfo;
        at += 8 + n;
        const inner = at < end ? this.message(buf, at + 4, end) : null;
        const msg = inner !== null && inner.kind === Kind.Message ? inner.msg : null;
        return { kind: Kind.Will, app, will: { clientId, client, delay, msg } };
      }
      case Kind.Stored:
        return { kind: Kind.Stored, id: buf.readUInt32BE(at) };
      case Kind.Sync:
        return { kind: Kind.Sync };
      case Kind.Synced:
        return { kind: Kind.Synced };
      case Kind.Reset:
        return { kind: Kind.Reset };
      case Kind.Bye:
        return { kind: Kind.Bye };
      case Kind.Switch:
        return { kind: Kind.Switch };
      case Kind.Adopted:
        return { kind: Kind.Adopted, node: str() };
      case Kind.TopicAlias: {
        const id = buf.readUInt16BE(at);
        at += 2;
        this.topics[id] = str();
        return null;
      }
      case Kind.SenderAlias: {
        const id = buf.readUInt16BE(at);
        at += 2;
        const app = str();
        const clientId = str();
        this.senders[id] = { clientId, app, profile: profileAt(buf, at) };
        return null;
      }
      default:
        throw new Error(`cluster: unknown frame kind ${buf[start]}`);
    }
  }

  /** A fan-out message in aliases. */
  private aliased(buf: Buffer, start: number, end: number): PeerFrame {
    const at = start + 2;
    const sender = this.senders[(buf[at]! << 8) | buf[at + 1]!];
    const topic = this.topics[(buf[at + 2]! << 8) | buf[at + 3]!];
    if (sender === undefined || topic === undefined) throw new Error('cluster: unknown alias');
    return this.built(buf, at + 4, end, buf[start + 1]!, sender.app, topic, sender, FANOUT);
  }

  /** The hot path: one message. */
  private message(buf: Buffer, start: number, end: number): PeerFrame {
    const strings = this.strings;
    let at = start + 1;
    let n = 0;
    const kind = ROUTES[buf[at++]!];
    let route: Route;
    if (kind === 'fanout') route = FANOUT;
    else if (kind === 'shared') {
      n = buf.readUInt16BE(at);
      const filter = strings.get(buf, at + 2, n);
      at += 2 + n;
      n = buf.readUInt16BE(at);
      route = { kind, filter, group: strings.get(buf, at + 2, n) };
      at += 2 + n;
    } else if (kind === 'tap') {
      n = buf.readUInt16BE(at);
      const client = strings.get(buf, at + 2, n);
      at += 2 + n;
      route = { kind, client, profile: profileAt(buf, at++) };
    } else if (kind === undefined) throw new Error('cluster: unknown route');
    else route = { kind };
    const flags = buf[at++]!;
    n = (buf[at]! << 8) | buf[at + 1]!;
    const app = strings.get(buf, at + 2, n);
    at += 2 + n;
    n = (buf[at]! << 8) | buf[at + 1]!;
    const topic = strings.get(buf, at + 2, n);
    at += 2 + n;
    let sender: Sender | null = null;
    if (flags & 32) {
      n = (buf[at]! << 8) | buf[at + 1]!;
      const clientId = strings.get(buf, at + 2, n);
      at += 2 + n;
      sender = strings.sender(clientId, app, profileAt(buf, at++));
    }
    return this.built(buf, at, end, flags, app, topic, sender, route);
  }

  /** What both message frames end with, from `at`: expiresAt, confirm id, metadata, payload. */
  private built(buf: Buffer, at: number, end: number, flags: number, app: string, topic: string, sender: Sender | null, route: Route): PeerFrame {
    const expiresAt = buf.readDoubleBE(at);
    at += 8;
    let confirm = 0;
    if (flags & 64) {
      confirm = buf.readUInt32BE(at);
      at += 4;
    }
    let meta: MessageMeta | null = null;
    if (flags & 16) {
      const n = buf.readUInt32BE(at);
      const j = JSON.parse((buf as RawBuffer).utf8Slice(at + 4, at + 4 + n)) as MessageMeta & { correlationData?: string };
      meta = j.correlationData !== undefined ? { ...j, correlationData: Buffer.from(j.correlationData, 'base64') } : (j as MessageMeta);
      at += 4 + n;
    }
    if (at > end) throw new Error('cluster: truncated frame');
    const retain = (flags & 4) !== 0;
    const payload = retain ? Buffer.from(buf.subarray(at, end)) : buf.subarray(at, end);
    const msg = createMessage(topic, payload, (flags & 3) as QoS, retain, meta, expiresAt, sender);
    return { kind: Kind.Message, app, msg, route, confirm };
  }
}

/** Decode every frame of `buf` (a whole number of frames) with a decoder of its own. */
export function decodeFrames(buf: Buffer, at: number, onFrame: (f: PeerFrame) => void): void {
  new FrameDecoder().frames(buf, at, onFrame);
}

/**
 * Splits a byte stream into frames. Only a frame cut by a read boundary is copied together (the
 * rest is decoded where the read left it).
 */
export class FrameReader {
  private readonly decoder = new FrameDecoder();
  /** The parts of a frame cut by the end of a read, their length, and the frame's (header included; 0 until known). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private frameBytes = 0;

  push(chunk: Buffer, onFrame: (f: PeerFrame) => void): void {
    const decoder = this.decoder;
    let at = 0;
    if (this.partBytes > 0) {
      if (this.frameBytes === 0) {
        // Its header first (it may itself be cut).
        const take = Math.min(4 - this.partBytes, chunk.length);
        this.parts.push(chunk.subarray(0, take));
        this.partBytes += take;
        at = take;
        if (this.partBytes < 4) return;
        this.frameBytes = 4 + Buffer.concat(this.parts, 4).readUInt32BE(0);
      }
      const need = this.frameBytes - this.partBytes;
      if (chunk.length - at < need) {
        this.parts.push(chunk.subarray(at));
        this.partBytes += chunk.length - at;
        return;
      }
      this.parts.push(chunk.subarray(at, at + need));
      const frame = Buffer.concat(this.parts, this.frameBytes);
      this.parts = [];
      this.partBytes = this.frameBytes = 0;
      at += need;
      const f = decoder.frame(frame, 4, frame.length);
      if (f !== null) onFrame(f);
    }
    while (chunk.length - at >= 4) {
      const size = chunk.readUInt32BE(at);
      if (chunk.length - at - 4 < size) {
        this.frameBytes = 4 + size;
        break;
      }
      const f = decoder.frame(chunk, at + 4, at + 4 + size);
      if (f !== null) onFrame(f);
      at += 4 + size;
    }
    if (at < chunk.length) {
      // Kept by reference until the frame is whole (then copied once, above).
      this.parts.push(chunk.subarray(at));
      this.partBytes = chunk.length - at;
    }
  }
}
