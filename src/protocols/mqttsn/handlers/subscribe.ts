/**
 * SUBSCRIBE -> SUBACK, then retained messages (MQTT-SN 1.2 sections 5.4.15, 5.4.16, 6.9). The
 * topic is a name or filter (wildcards when mqtt.wildcardSubscriptions), a predefined id or a
 * short name. SUBACK carries the topic id the gateway will publish with: the registered id for
 * a name without wildcards, the predefined id, 0x0000 for a filter with wildcards and for short
 * names (their deliveries name topics as outbound topics do: connection.ts, topics.ts).
 */
import type { Message, QoS as CoreQoS } from '../../../core/message.js';
import { isRefusal } from '../../../core/clients.js';
import type { SubscribeAnswer } from '../../../core/clients.js';
import { hasWildcard, parseFilter } from '../../../core/topic.js';
import { ReturnCode } from '../packets.js';
import type { FilterTopic, Subscribe } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';
import { returnCode } from '../errors.js';

/** The filter a SUBSCRIBE / UNSUBSCRIBE names, or undefined for an unknown predefined id. */
export function filterOf(c: MqttSnConnection, t: FilterTopic): string | undefined {
  return t.kind === 'predefined' ? c.ctx.predefined.name(t.id) : t.name;
}

export function handleSubscribe(c: MqttSnConnection, p: Subscribe): void {
  const cfg = c.ctx.mqtt;
  const t = p.topic;
  const suback = (rc: ReturnCode, topicId: number, qos: CoreQoS = 0): void => c.send({ type: 'SUBACK', qos, topicId, msgId: p.msgId, returnCode: rc });
  const raw = filterOf(c, t);
  if (raw === undefined) {
    suback(ReturnCode.INVALID_TOPIC_ID, t.kind === 'predefined' ? t.id : 0);
    return;
  }
  const parsed = parseFilter(raw);
  if (parsed === null || (parsed.group !== null && !cfg.sharedSubscriptions)) {
    suback(parsed === null ? ReturnCode.INVALID_TOPIC_ID : ReturnCode.NOT_SUPPORTED, 0);
    return;
  }
  let topicId = 0;
  if (t.kind === 'predefined') topicId = t.id;
  else if (t.kind === 'name' && parsed.group === null && !hasWildcard(raw)) {
    topicId = c.registry.register(raw);
    if (topicId === 0) {
      suback(ReturnCode.CONGESTION, 0);
      return;
    }
  }
  const wanted = p.qos < 0 ? 0 : p.qos;
  const qos = (wanted > cfg.maxQoS ? cfg.maxQoS : wanted) as CoreQoS;
  const answers = c.client!.subscribe([
    { raw, filter: parsed.filter, group: parsed.group, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 },
  ]);
  if (!(answers instanceof Promise)) {
    finish(c, p, raw, topicId, answers);
    return;
  }
  c.hold();
  answers.then((a) => finish(c, p, raw, topicId, a)).finally(() => c.release());
}

function finish(c: MqttSnConnection, p: Subscribe, raw: string, topicId: number, answers: SubscribeAnswer[]): void {
  if (c.session === null) return;
  const a = answers[0]!;
  if (isRefusal(a)) {
    c.ctx.logger.info({ clientId: c.clientId, filter: raw, code: a.code }, `subscribe refused: ${a.detail}`);
    c.send({ type: 'SUBACK', qos: 0, topicId: 0, msgId: p.msgId, returnCode: returnCode(a.code, 'SUBACK') });
    return;
  }
  const granted = a.sub.qos;
  c.send({ type: 'SUBACK', qos: granted, topicId, msgId: p.msgId, returnCode: ReturnCode.ACCEPTED });
  // Retained messages after the SUBACK, each REGISTERed first when the client has no id for its topic.
  const retained: Message[] = a.retained;
  for (const msg of retained) c.deliver(msg, msg.qos < granted ? msg.qos : granted, true, null, null);
}
