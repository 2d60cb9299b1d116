/** SEND (STOMP 1.2 "SEND"): publish into the shared topic space. */
import { isValidTopicName } from '../../../core/topic.js';
import { createMessage } from '../../../core/message.js';
import { describeCharCode, findForbiddenChar, isStompMessageHeader } from '../../../core/headers.js';
import type { MessageMeta } from '../../../core/message.js';
import type { StompConnection } from '../connection.js';
import { Stored } from '../../../core/clients.js';
import type { PublishAnswer, PublishResult } from '../../../core/clients.js';
import type { ErrorCode } from '../../../errors/catalogue.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';
import { parseDestination, topicOfReplyTo } from '../destinations.js';

/** Headers with a meaning of their own; every other header travels as an MQTT 5 user property. */
const STANDARD = new Set(['destination', 'content-length', 'content-type', 'receipt', 'transaction', 'reply-to', 'correlation-id', 'from', 'expires', 'persistent', 'priority']);

export function handleSend(c: StompConnection, f: StompFrame): void | Promise<void> {
  // Control characters could not be delivered to every protocol (MQTT refuses them, STOMP 1.0
  // cannot escape them and would read an LF as the end of a header line).
  const bad = unportableHeader(f);
  if (bad !== null) {
    c.fail(bad.code, bad.detail, header(f, 'receipt'));
    return;
  }
  const destination = header(f, 'destination');
  if (destination === undefined) {
    c.fail('SB_ERR_MISSING_DESTINATION', 'SEND requires a destination header', header(f, 'receipt'));
    return;
  }
  const dest = parseDestination(destination);
  if (dest === null || !isValidTopicName(dest.topic)) {
    c.fail('SB_ERR_UNKNOWN_DESTINATION', `"${destination}" is not a valid destination: use /topic/<name> or /queue/<name>`, header(f, 'receipt'));
    return;
  }

  let meta: MessageMeta | null = null;
  const contentType = header(f, 'content-type');
  if (contentType !== undefined) (meta ??= {}).contentType = contentType;
  const replyTo = header(f, 'reply-to');
  if (replyTo !== undefined) {
    // A Response Topic is a topic name: no wildcards (MQTT receivers would get an invalid one) [MQTT-3.3.2-14].
    const responseTopic = topicOfReplyTo(replyTo);
    if (!isValidTopicName(responseTopic)) {
      c.fail('SB_ERR_TOPIC_NAME', `reply-to "${replyTo}" is not a topic name (no wildcards)`, header(f, 'receipt'));
      return;
    }
    (meta ??= {}).responseTopic = responseTopic;
  }
  const correlation = header(f, 'correlation-id');
  if (correlation !== undefined) (meta ??= {}).correlationData = Buffer.from(correlation);
  const seen = new Set<string>();
  for (const [k, v] of f.headers) {
    if (STANDARD.has(k) || seen.has(k)) continue; // repeated headers: the first wins (STOMP 1.2)
    seen.add(k);
    // `From`, ` from`, `from:`, `Destination`...: look-alikes of what the broker or a MESSAGE sets.
    if (isStompMessageHeader(k)) continue;
    ((meta ??= {}).userProperties ??= []).push([k, v]);
  }
  // The core authorises, admits and routes it (core/clients.ts); a queue is created by its first message.
  const answer = c.client!.publish(createMessage(dest.topic, f.body, 1, false, meta, 0, c.client!.info));
  if (!(answer instanceof Promise)) return routed(c, f, destination, answer);
  return answer.then((a) => routed(c, f, destination, a));
}

/**
 * The RECEIPT waits until a stored message is on disk. Outside a transaction later frames are
 * read meanwhile (the receipt is deferred, receipts keep their order); inside one, COMMIT waits.
 */
function routed(c: StompConnection, f: StompFrame, destination: string, r: PublishResult): void | Promise<void> {
  if (!(r instanceof Stored)) return finish(c, f, destination, r);
  const done = r.done.then((a) => finish(c, f, destination, a));
  if (header(f, 'transaction') !== undefined) return done;
  c.deferReceipt(f, done);
}

function finish(c: StompConnection, f: StompFrame, destination: string, answer: PublishAnswer): void {
  if (typeof answer === 'number') return;
  const reason = answer.code === 'SB_ERR_NOT_AUTHORIZED' ? `publishing to "${destination}" is not allowed` : `"${destination}": ${answer.detail}`;
  c.fail(answer.code, reason, header(f, 'receipt'));
}

/** The ERROR for the first header of `f` that cannot travel (a forbidden character in its name or value), or null. */
function unportableHeader(f: StompFrame): { code: ErrorCode; detail: string } | null {
  for (const [k, v] of f.headers) {
    const inName = findForbiddenChar(k);
    if (inName >= 0) {
      const code = describeCharCode(k.charCodeAt(inName));
      return { code: 'SB_ERR_HEADER_NAME', detail: `the header name ${JSON.stringify(k)} contains the control character ${code}, which cannot be delivered to every protocol` };
    }
    const inValue = findForbiddenChar(v);
    if (inValue >= 0) {
      const code = describeCharCode(v.charCodeAt(inValue));
      return { code: 'SB_ERR_HEADER_VALUE', detail: `header "${k}" contains the control character ${code}, which cannot be delivered to every protocol` };
    }
  }
  return null;
}
