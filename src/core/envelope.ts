/** JSON envelopes for broker-made messages (monitor copies, dead letters). */
import { isUtf8 } from 'node:buffer';
import { senderIdOf } from './message.js';
import type { Message } from './message.js';

export interface EnvelopeFields {
  [k: string]: unknown;
}

/** The message as JSON-safe fields: text payloads as-is, binary as base64. */
export function describeMessage(msg: Message): EnvelopeFields {
  const text = isUtf8(msg.payload);
  const out: EnvelopeFields = {
    topic: msg.topic,
    payload: text ? msg.payload.toString('utf8') : msg.payload.toString('base64'),
    encoding: text ? 'utf8' : 'base64',
    qos: msg.qos,
    retain: msg.retain,
    from: senderIdOf(msg),
  };
  const m = msg.meta;
  if (m) {
    const headers: EnvelopeFields = {};
    if (m.contentType !== undefined) headers.contentType = m.contentType;
    if (m.responseTopic !== undefined) headers.responseTopic = m.responseTopic;
    if (m.correlationData !== undefined) headers.correlationData = m.correlationData.toString('base64');
    if (m.userProperties !== undefined) headers.userProperties = m.userProperties;
    if (m.payloadFormatIndicator !== undefined) headers.payloadFormatIndicator = m.payloadFormatIndicator;
    out.headers = headers;
  }
  return out;
}

export function jsonPayload(x: unknown): Buffer {
  return Buffer.from(JSON.stringify(x));
}
