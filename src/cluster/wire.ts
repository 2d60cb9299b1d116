/**
 * Frames between cluster workers (Unix sockets, same host, same build): not a client protocol,
 * so hand-written and versionless. Every frame is
 *
 *   u32 length of what follows | u8 kind | body
 *
 *   PUBLISH  u8 flags (bits 0-1 QoS, 2 retain, 3 intercept, 4 has meta, 5 has sender) | f64 expiresAt |
 *            str app | str topic | [str sender client id | u8 sender profile] |
 *            [u32 n | n bytes meta JSON] | payload (rest)
 *   ONLINE   u8 profile | f64 since | str app | str clientId   (a client attached here)
 *   OFFLINE  str app | str clientId          (its connection here is gone)
 *   INTEREST u8 1 (add) / 0 (remove) | str app | str filter   (first / last local subscriber)
 *
 * str = u16 byte length + UTF-8. Meta is JSON with correlationData in base64.
 */
import { createMessage } from '../core/message.js';
import type { Message, MessageMeta, QoS, Sender } from '../core/message.js';
import { PROFILES } from '../core/permissions.js';
import type { Profile } from '../core/permissions.js';

export const enum Kind {
  Publish = 1,
  Online = 2,
  Interest = 3,
  Offline = 4,
}

export type PeerFrame =
  | { kind: Kind.Publish; app: string; msg: Message; intercept: boolean }
  | { kind: Kind.Online; app: string; clientId: string; profile: Profile; since: number }
  | { kind: Kind.Offline; app: string; clientId: string }
  | { kind: Kind.Interest; add: boolean; app: string; filter: string };

function strLen(s: string): number {
  return 2 + Buffer.byteLength(s);
}

function putStr(buf: Buffer, at: number, s: string): number {
  const n = buf.write(s, at + 2);
  buf.writeUInt16BE(n, at);
  return at + 2 + n;
}

function metaJson(meta: MessageMeta): Buffer {
  const { correlationData, ...rest } = meta;
  return Buffer.from(JSON.stringify(correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest));
}

export function encodePublish(app: string, msg: Message, intercept: boolean): Buffer {
  const meta = msg.meta !== null ? metaJson(msg.meta) : null;
  const sender = msg.sender;
  const size = 1 + 1 + 8 + strLen(app) + strLen(msg.topic) + (sender ? strLen(sender.clientId) + 1 : 0) + (meta ? 4 + meta.length : 0) + msg.payload.length;
  const buf = Buffer.allocUnsafe(4 + size);
  buf.writeUInt32BE(size, 0);
  buf[4] = Kind.Publish;
  buf[5] = msg.qos | (msg.retain ? 4 : 0) | (intercept ? 8 : 0) | (meta ? 16 : 0) | (sender ? 32 : 0);
  buf.writeDoubleBE(msg.expiresAt, 6);
  let at = putStr(buf, 14, app);
  at = putStr(buf, at, msg.topic);
  if (sender) {
    at = putStr(buf, at, sender.clientId);
    buf[at++] = PROFILES.indexOf(sender.profile);
  }
  if (meta) {
    buf.writeUInt32BE(meta.length, at);
    at += 4 + meta.copy(buf, at + 4);
  }
  msg.payload.copy(buf, at);
  return buf;
}

export function encodeOnline(app: string, clientId: string, profile: Profile, since: number): Buffer {
  const size = 1 + 1 + 8 + strLen(app) + strLen(clientId);
  const buf = Buffer.allocUnsafe(4 + size);
  buf.writeUInt32BE(size, 0);
  buf[4] = Kind.Online;
  buf[5] = PROFILES.indexOf(profile);
  buf.writeDoubleBE(since, 6);
  putStr(buf, putStr(buf, 14, app), clientId);
  return buf;
}

export function encodeOffline(app: string, clientId: string): Buffer {
  const size = 1 + strLen(app) + strLen(clientId);
  const buf = Buffer.allocUnsafe(4 + size);
  buf.writeUInt32BE(size, 0);
  buf[4] = Kind.Offline;
  putStr(buf, putStr(buf, 5, app), clientId);
  return buf;
}

export function encodeInterest(add: boolean, app: string, filter: string): Buffer {
  const size = 2 + strLen(app) + strLen(filter);
  const buf = Buffer.allocUnsafe(4 + size);
  buf.writeUInt32BE(size, 0);
  buf[4] = Kind.Interest;
  buf[5] = add ? 1 : 0;
  putStr(buf, putStr(buf, 6, app), filter);
  return buf;
}

/** Decode one frame body (`buf` = kind byte onward). Payloads are copied out of `buf`. */
function decodeFrame(buf: Buffer): PeerFrame {
  let at = 1;
  const str = (): string => {
    const n = buf.readUInt16BE(at);
    const s = buf.toString('utf8', at + 2, at + 2 + n);
    at += 2 + n;
    return s;
  };
  if (buf[0] === Kind.Online) {
    const profile = PROFILES[buf[at++]!] ?? 'AGENT';
    const since = buf.readDoubleBE(at);
    at += 8;
    const app = str();
    return { kind: Kind.Online, app, clientId: str(), profile, since };
  }
  if (buf[0] === Kind.Offline) {
    const app = str();
    return { kind: Kind.Offline, app, clientId: str() };
  }
  if (buf[0] === Kind.Interest) {
    const add = buf[at++] === 1;
    const app = str();
    return { kind: Kind.Interest, add, app, filter: str() };
  }
  if (buf[0] !== Kind.Publish) throw new Error(`cluster: unknown frame kind ${buf[0]}`);
  const flags = buf[at++]!;
  const expiresAt = buf.readDoubleBE(at);
  at += 8;
  const app = str();
  const topic = str();
  let sender: Sender | null = null;
  if (flags & 32) {
    const clientId = str();
    sender = { clientId, app, profile: PROFILES[buf[at++]!] ?? 'AGENT' };
  }
  let meta: MessageMeta | null = null;
  if (flags & 16) {
    const n = buf.readUInt32BE(at);
    const j = JSON.parse(buf.toString('utf8', at + 4, at + 4 + n)) as MessageMeta & { correlationData?: string };
    meta = j.correlationData !== undefined ? { ...j, correlationData: Buffer.from(j.correlationData, 'base64') } : (j as MessageMeta);
    at += 4 + n;
  }
  const payload = Buffer.from(buf.subarray(at));
  const msg = createMessage(topic, payload, (flags & 3) as QoS, (flags & 4) !== 0, meta, expiresAt, sender);
  return { kind: Kind.Publish, app, msg, intercept: (flags & 8) !== 0 };
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private pending: Buffer | null = null;

  push(chunk: Buffer, onFrame: (f: PeerFrame) => void): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let at = 0;
    while (buf.length - at >= 4) {
      const size = buf.readUInt32BE(at);
      if (buf.length - at - 4 < size) break;
      onFrame(decodeFrame(buf.subarray(at + 4, at + 4 + size)));
      at += 4 + size;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }
}
