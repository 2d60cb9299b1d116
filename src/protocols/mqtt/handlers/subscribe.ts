/** SUBSCRIBE -> SUBACK, then retained messages (MQTT 5.0 section 3.8, 3.9). */
import type { Session } from '../../../core/session.js';
import type { Subscription } from '../../../core/topic-trie.js';
import { hasWildcard, isValidTopicFilter, parseFilter } from '../../../core/topic.js';
import { PacketType, Reason } from '../codec/packets.js';
import type { Properties, SubscribePacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';
import type { MaybePromise } from '../../../core/hooks.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handleSubscribe(c: MqttConnection, p: SubscribePacket): void {
  const ctx = c.ctx;
  const cfg = ctx.mqtt;
  const subId = p.properties.subscriptionIdentifiers?.[0] ?? 0;
  const v5 = c.isV5;

  if (subId > 0 && !cfg.subscriptionIdentifiers) {
    c.protocolError(Reason.SubscriptionIdentifiersNotSupported, 'subscription identifiers not supported');
    return;
  }

  // First pass: validity and permission (a hook may answer asynchronously).
  const checks: Array<number | MaybePromise<boolean>> = [];
  let async = false;
  for (const req of p.subscriptions) {
    const parsed = parseFilter(req.filter);
    if (parsed === null) {
      c.protocolError(Reason.ProtocolError, `invalid shared subscription "${req.filter}"`); // [MQTT-4.8.2-1, MQTT-4.8.2-2]
      return;
    }
    if (!isValidTopicFilter(parsed.filter, cfg)) {
      checks.push(v5 ? Reason.TopicFilterInvalid : 0x80); // [MQTT-3.8.3-1]
      continue;
    }
    if (parsed.group !== null) {
      if (!cfg.sharedSubscriptions) {
        checks.push(v5 ? Reason.SharedSubscriptionsNotSupported : 0x80);
        continue;
      }
      if (req.noLocal) {
        c.protocolError(Reason.ProtocolError, 'No Local on a shared subscription'); // [MQTT-3.8.3-4]
        return;
      }
    }
    if (!cfg.wildcardSubscriptions && hasWildcard(parsed.filter)) {
      checks.push(v5 ? Reason.WildcardSubscriptionsNotSupported : 0x80);
      continue;
    }
    const ok = c.app!.authorizeSubscribe(c.info!, parsed.filter, parsed.group !== null);
    if (ok instanceof Promise) async = true;
    checks.push(ok);
  }
  if (!async) {
    finishSubscribe(c, p, subId, checks as Array<number | boolean>);
    return;
  }
  c.holdPackets();
  Promise.all(checks.map((x) => (x instanceof Promise ? x.catch(() => false) : x)))
    .then((done) => finishSubscribe(c, p, subId, done))
    .finally(() => c.releasePackets());
}

function finishSubscribe(c: MqttConnection, p: SubscribePacket, subId: number, checks: Array<number | boolean>): void {
  const session = c.session;
  if (session === null) return;
  const cfg = c.ctx.mqtt;
  const router = c.router;
  const v5 = c.isV5;
  const codes: number[] = [];
  const retainedToSend: Array<{ sub: Subscription<Session>; existed: boolean }> = [];
  p.subscriptions.forEach((req, i) => {
    const check = checks[i]!;
    if (typeof check === 'number') {
      codes.push(check);
      return;
    }
    if (!check) {
      c.ctx.logger.info({ clientId: c.clientId, filter: req.filter }, 'subscribe denied');
      codes.push(v5 ? Reason.NotAuthorized : 0x80);
      return;
    }
    if (!c.app!.canAddSubscription(session, req.filter)) {
      c.ctx.logger.info({ clientId: c.clientId, filter: req.filter }, 'subscribe refused: limits.maxSubscriptionsPerClient');
      codes.push(v5 ? Reason.QuotaExceeded : 0x80);
      return;
    }
    const parsed = parseFilter(req.filter)!;
    const qos = req.qos > cfg.maxQoS ? cfg.maxQoS : req.qos; // grant at most the server maximum [MQTT-3.2.2-9]
    const sub: Subscription<Session> = {
      subscriber: session,
      raw: req.filter,
      filter: parsed.filter,
      group: parsed.group,
      qos,
      noLocal: req.noLocal,
      retainAsPublished: req.retainAsPublished,
      retainHandling: req.retainHandling,
      subscriptionId: subId,
    };
    const { existed } = router.subscribe(session, sub); // replaces an identical filter [MQTT-3.8.4-3]
    codes.push(qos);
    // Shared subscriptions get no retained messages (MQTT 5.0 section 4.8.2).
    if (parsed.group === null) retainedToSend.push({ sub, existed });
  });
  c.send({ type: PacketType.SUBACK, packetId: p.packetId, reasonCodes: codes, properties: NO_PROPS }); // [MQTT-3.8.4-1]

  // Retained messages after the SUBACK; Retain Handling 0 = always, 1 = new subscriptions only, 2 = never [MQTT-3.3.1-9..11].
  for (const { sub, existed } of retainedToSend) {
    if (sub.retainHandling === 2 || (sub.retainHandling === 1 && existed)) continue;
    for (const msg of router.retainedFor(sub.filter)) {
      const qos = msg.qos < sub.qos ? msg.qos : sub.qos;
      c.deliver(msg, qos, true, sub.subscriptionId > 0 ? [sub.subscriptionId] : null, null);
    }
  }
}
