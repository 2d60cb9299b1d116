/** SUBSCRIBE (STOMP 1.2 "SUBSCRIBE"): a core subscription per STOMP subscription id. */
import type { Session } from '../../../core/session.js';
import type { Subscription } from '../../../core/topic-trie.js';
import { hasWildcard, isValidTopicFilter } from '../../../core/topic.js';
import { ERRORS } from '../../../errors/catalogue.js';
import type { AckMode, StompConnection } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';
import { parseDestination } from '../destinations.js';
import type { Destination } from '../destinations.js';

const ACK_MODES: AckMode[] = ['auto', 'client', 'client-individual'];

export function handleSubscribe(c: StompConnection, f: StompFrame): void | Promise<void> {
  const receipt = header(f, 'receipt');
  const destination = header(f, 'destination');
  if (destination === undefined) {
    c.fail('missing destination', 'SUBSCRIBE requires a destination header', receipt);
    return;
  }
  // id is required since 1.1; a 1.0 client without one is identified by its destination.
  const id = header(f, 'id') ?? (c.version === '1.0' ? destination : undefined);
  if (id === undefined) {
    c.fail('missing id', 'SUBSCRIBE requires an id header', receipt);
    return;
  }
  if (c.subs.has(id)) {
    c.fail('duplicate subscription id', `subscription id "${id}" is already in use`, receipt);
    return;
  }
  const ack = (header(f, 'ack') ?? 'auto') as AckMode;
  if (!ACK_MODES.includes(ack)) {
    c.fail('invalid ack mode', `ack must be auto, client or client-individual, got "${ack}"`, receipt);
    return;
  }
  const dest = parseDestination(destination);
  const topics = c.ctx.topics; // one topic space: the same topic limits as MQTT
  if (dest === null || !isValidTopicFilter(dest.topic, topics)) {
    c.fail('unknown destination', `"${destination}" is not a valid destination: use /topic/<filter> or /queue/<name> (at most ${topics.maxTopicLevels} levels)`, receipt);
    return;
  }
  if (!topics.wildcardSubscriptions && hasWildcard(dest.topic)) {
    c.fail(ERRORS.SB_ERR_WILDCARD_UNSUPPORTED.stomp, `"${destination}": wildcard subscriptions are turned off`, receipt);
    return;
  }
  const session = c.session!;
  const raw = dest.kind === 'queue' ? `$share/${dest.name}/${dest.topic}` : dest.topic;
  if (session.subscriptions.has(raw)) {
    c.fail('duplicate subscription', `this connection already subscribes to "${destination}"`, receipt);
    return;
  }
  if (!c.app!.canAddSubscription(session, raw)) {
    c.fail(ERRORS.SB_ERR_QUOTA.stomp, `at most ${c.ctx.limits.maxSubscriptionsPerClient} subscriptions per client (limits.maxSubscriptionsPerClient)`, receipt);
    return;
  }
  const allowed = c.app!.authorizeSubscribe(c.info!, dest.topic, dest.kind === 'queue');
  const denied = (): void => c.fail('not authorized', `subscribing to "${destination}" is not allowed`, receipt);
  if (allowed === false) return denied();
  if (allowed === true) return add(c, id, ack, destination, dest, raw);
  // An asynchronous hook: later frames (and this frame's RECEIPT) wait for it.
  return allowed.then(
    (ok) => (ok ? add(c, id, ack, destination, dest, raw) : denied()),
    () => denied(),
  );
}

function add(c: StompConnection, id: string, ack: AckMode, destination: string, dest: Destination, raw: string): void {
  const session = c.session;
  if (session === null || !c.connected) return;
  const router = c.router;
  const num = c.allocateSubscriptionNumber();
  const stompSub = { id, raw, destination, ack, num };
  c.subs.set(id, stompSub);
  c.subsByNum.set(num, stompSub);
  if (dest.kind === 'queue') router.declareQueue(dest.name);
  const sub: Subscription<Session> = {
    subscriber: session,
    raw,
    filter: dest.topic,
    group: dest.kind === 'queue' ? dest.name : null,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionId: num,
  };
  router.subscribe(session, sub);
  if (dest.kind === 'topic') {
    // Retained messages reach STOMP subscribers too: one topic space.
    for (const msg of router.retainedFor(dest.topic)) c.deliver(msg, 1, true, [num], null);
  }
}
