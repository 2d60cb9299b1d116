/**
 * The protocol-neutral message that moves through the router.
 *
 * Invariants:
 * - A Message is immutable once published: every subscriber sees the same object, so
 *   protocols may cache their serialised form on it (`wire`) and share the bytes.
 * - `payload` is owned by the message (never a slice of a reusable receive buffer).
 */

export type QoS = 0 | 1 | 2;

/** Metadata carried end to end (MQTT 5 properties, STOMP headers map onto these). */
export interface MessageMeta {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
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
  /** Client id of the publisher ('' for the broker itself). */
  readonly senderId: string;
  /** Opaque identity of the publishing session (for No Local). */
  readonly origin: object | null;
  /** Serialisation cache, owned by the protocol layers (index chosen by each protocol). */
  wire: Array<Buffer | undefined> | null;
}

export function createMessage(
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  meta: MessageMeta | null,
  expiresAt: number,
  senderId: string,
  origin: object | null,
): Message {
  return { topic, payload, qos, retain, meta, expiresAt, senderId, origin, wire: null };
}

/** A copy with a different retain flag / QoS (retained deliveries, QoS downgrade keep the cache apart). */
export function withRetain(msg: Message, retain: boolean): Message {
  if (msg.retain === retain) return msg;
  return { ...msg, retain, wire: null };
}
