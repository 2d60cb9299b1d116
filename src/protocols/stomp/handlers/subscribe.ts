/** SUBSCRIBE (STOMP 1.2 "SUBSCRIBE"): one core subscription per STOMP subscription id. */
import { isRefusal } from '../../../core/clients.js';
import type { SubscribeAnswer } from '../../../core/clients.js';
import { isValidTopicFilter } from '../../../core/topic.js';
import type { AckMode, StompConnection, StompSubscription } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';
import { parseDestination } from '../destinations.js';

const ACK_MODES: AckMode[] = ['auto', 'client', 'client-individual'];

export function handleSubscribe(c: StompConnection, f: StompFrame): void | Promise<void> {
  const receipt = header(f, 'receipt');
  const destination = header(f, 'destination');
  if (destination === undefined) {
    c.fail('SB_ERR_MISSING_DESTINATION', 'SUBSCRIBE requires a destination header', receipt);
    return;
  }
  // id is required since 1.1; a 1.0 client without one is identified by its destination.
  const id = header(f, 'id') ?? (c.version === '1.0' ? destination : undefined);
  if (id === undefined) {
    c.fail('SB_ERR_MISSING_ID', 'SUBSCRIBE requires an id header', receipt);
    return;
  }
  if (c.subs.has(id)) {
    c.fail('SB_ERR_DUPLICATE_SUBSCRIPTION_ID', `subscription id "${id}" is already in use`, receipt);
    return;
  }
  const ack = (header(f, 'ack') ?? 'auto') as AckMode;
  if (!ACK_MODES.includes(ack)) {
    c.fail('SB_ERR_ACK_MODE', `ack must be auto, client or client-individual, got "${ack}"`, receipt);
    return;
  }
  const dest = parseDestination(destination);
  if (dest === null || !isValidTopicFilter(dest.topic)) {
    c.fail('SB_ERR_UNKNOWN_DESTINATION', `"${destination}" is not a valid destination: use /topic/<filter> or /queue/<name>`, receipt);
    return;
  }
  const group = dest.kind === 'queue' ? dest.name : null;
  const raw = group !== null ? `$share/${group}/${dest.topic}` : dest.topic;
  if (c.session!.subscriptions.has(raw)) {
    c.fail('SB_ERR_DUPLICATE_SUBSCRIPTION', `this connection already subscribes to "${destination}"`, receipt);
    return;
  }
  // Registered first: joining a queue hands over its backlog at once (delivered to this subscription).
  const sub: StompSubscription = { id, raw, filter: dest.topic, group, destination, ack };
  c.subs.set(id, sub);
  // The core decides (limits, rules, hooks) and subscribes (core/clients.ts).
  const answers = c.client!.subscribe([{ raw, filter: dest.topic, group, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }]);
  if (!(answers instanceof Promise)) return finish(c, sub, answers, receipt);
  return answers.then((a) => finish(c, sub, a, receipt));
}

function finish(c: StompConnection, sub: StompSubscription, answers: SubscribeAnswer[], receipt: string | undefined): void {
  if (!c.connected || c.subs.get(sub.id) !== sub) return;
  const a = answers[0]!;
  if (isRefusal(a)) {
    c.subs.delete(sub.id);
    const reason = a.code === 'SB_ERR_NOT_AUTHORIZED' ? 'is not allowed' : a.detail;
    c.fail(a.code, `subscribing to "${sub.destination}": ${reason}`, receipt);
    return;
  }
  // Retained messages reach STOMP subscribers too (one topic space), to this subscription only.
  for (const msg of a.retained) c.writeMessage(msg, sub, null);
}
