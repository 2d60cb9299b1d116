/**
 * The protocol-neutral message that moves through the core.
 *
 * Invariants:
 * - A Message is plain data (topic, payload, flags, metadata, a sender record), immutable once
 *   published: every subscriber sees the same object. It can be stored or sent to another node
 *   as it is (see `messageRecord`); it never holds a live session or connection.
 * - `payload` is owned by the message (never a slice of a reusable receive buffer).
 * - `encoded` is a transient cache that protocols fill with their serialised forms so that
 *   every subscriber of the same protocol and variant shares one Buffer. Its slots belong to
 *   the protocols (MQTT: protocols/mqtt/connection.ts); the core never reads it, stores and the
 *   bus never carry it.
 */
import { PROFILES } from './permissions.js';
import type { Profile } from './permissions.js';
import type { MessageRecord } from '../stores/types.js';

export type QoS = 0 | 1 | 2;

/** Metadata carried end to end (MQTT 5 properties, STOMP headers map onto these). */
export interface MessageMeta {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
}

/** Who published a message: a record, not a session (a ClientInfo fits it). */
export interface Sender {
  readonly clientId: string;
  readonly app: string;
  readonly profile: Profile;
}

export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  /** QoS the message was published with; delivery QoS is min(this, granted). */
  readonly qos: QoS;
  /** Retain flag as published. */
  readonly retain: boolean;
  readonly meta: MessageMeta | null;
  /** Absolute expiry (ms since epoch, from the injected clock); 0 = never. */
  readonly expiresAt: number;
  /** The publishing client, or null for the broker itself (system events, server-side publishes without `from`). */
  readonly sender: Sender | null;
  /** Transient per-protocol encodings (see the module comment). */
  encoded: Array<Buffer | undefined> | null;
}

export function createMessage(
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  meta: MessageMeta | null,
  expiresAt: number,
  sender: Sender | null,
): Message {
  return { topic, payload, qos, retain, meta, expiresAt, sender, encoded: null };
}

/**
 * What holding `msg` costs, in bytes (near enough: strings count their UTF-16 units): payload,
 * topic and metadata plus a fixed overhead. Everything the broker keeps for a client (queued,
 * retained, a will, a queue backlog) is charged at this size, so a client cannot store memory
 * in long topics or properties that a payload-only count would not see.
 */
export function messageSize(msg: Message): number {
  let n = MESSAGE_OVERHEAD + msg.payload.length + msg.topic.length;
  const m = msg.meta;
  if (m !== null) {
    if (m.contentType !== undefined) n += m.contentType.length;
    if (m.responseTopic !== undefined) n += m.responseTopic.length;
    if (m.correlationData !== undefined) n += m.correlationData.length;
    if (m.userProperties !== undefined) for (const [k, v] of m.userProperties) n += k.length + v.length + 16;
  }
  return n;
}

const MESSAGE_OVERHEAD = 64;

/** The client id of the sender ('' for the broker). */
export function senderIdOf(msg: Message): string {
  return msg.sender === null ? '' : msg.sender.clientId;
}

/** A copy with a different retain flag (retained deliveries keep their own encodings). */
export function withRetain(msg: Message, retain: boolean): Message {
  if (msg.retain === retain) return msg;
  return { ...msg, retain, encoded: null };
}

/** What a store or the bus keeps of a message: plain fields, the sender reduced to its record. */
export function messageRecord(msg: Message): MessageRecord {
  const s = msg.sender;
  return {
    topic: msg.topic,
    payload: msg.payload,
    qos: msg.qos,
    retain: msg.retain,
    meta: msg.meta,
    expiresAt: msg.expiresAt,
    sender: s === null ? null : { clientId: s.clientId, app: s.app, profile: s.profile },
  };
}

export function fromRecord(r: MessageRecord): Message {
  const s = r.sender;
  const sender = s === null ? null : { clientId: s.clientId, app: s.app, profile: PROFILES.find((p) => p === s.profile) ?? 'AGENT' };
  return createMessage(r.topic, r.payload, r.qos, r.retain, r.meta, r.expiresAt, sender);
}
