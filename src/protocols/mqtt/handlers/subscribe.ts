/** SUBSCRIBE -> SUBACK, then retained messages (MQTT 5.0 section 3.8, 3.9). */
import type { Message } from '../../../core/message.js';
import { isRefusal } from '../../../core/clients.js';
import type { SubscribeAnswer, SubscribeRequest } from '../../../core/clients.js';
import { parseFilter } from '../../../core/topic.js';
import { PacketType } from '../codec/packets.js';
import type { Properties, SubscribePacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';
import { subackCode } from '../errors.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handleSubscribe(c: MqttConnection, p: SubscribePacket): void {
  const cfg = c.ctx.mqtt;
  const subId = p.properties.subscriptionIdentifiers?.[0] ?? 0;

  if (subId > 0 && !cfg.subscriptionIdentifiers) {
    c.protocolError('SB_ERR_SUBID_UNSUPPORTED', 'subscription identifiers not supported');
    return;
  }

  // MQTT's own rules first; the core decides the rest (core/clients.ts).
  const codes: Array<number | null> = []; // a code decided here, or null: asked of the core
  const reqs: SubscribeRequest[] = [];
  for (const req of p.subscriptions) {
    const parsed = parseFilter(req.filter);
    if (parsed === null) {
      c.protocolError('SB_ERR_PROTOCOL', `invalid shared subscription "${req.filter}"`); // [MQTT-4.8.2-1, MQTT-4.8.2-2]
      return;
    }
    if (parsed.group !== null) {
      if (!cfg.sharedSubscriptions) {
        codes.push(subackCode('SB_ERR_SHARED_UNSUPPORTED', c.level));
        continue;
      }
      if (req.noLocal) {
        c.protocolError('SB_ERR_PROTOCOL', 'No Local on a shared subscription'); // [MQTT-3.8.3-4]
        return;
      }
    }
    codes.push(null);
    reqs.push({
      raw: req.filter,
      filter: parsed.filter,
      group: parsed.group,
      qos: req.qos > cfg.maxQoS ? cfg.maxQoS : req.qos, // grant at most the server maximum [MQTT-3.2.2-9]
      noLocal: req.noLocal,
      retainAsPublished: req.retainAsPublished,
      retainHandling: req.retainHandling,
      subscriptionId: subId,
    });
  }
  const answers = c.client!.subscribe(reqs);
  if (!(answers instanceof Promise)) {
    finishSubscribe(c, p, codes, answers);
    return;
  }
  c.holdPackets();
  answers.then((a) => finishSubscribe(c, p, codes, a)).finally(() => c.releasePackets());
}

function finishSubscribe(c: MqttConnection, p: SubscribePacket, codes: Array<number | null>, answers: SubscribeAnswer[]): void {
  if (c.session === null) return;
  const retained: Array<{ msgs: Message[]; qos: number; ids: readonly number[] | null }> = [];
  let next = 0;
  const reasonCodes = codes.map((code, i) => {
    if (code !== null) return code;
    const a = answers[next++]!;
    if (isRefusal(a)) {
      c.ctx.logger.info({ clientId: c.clientId, filter: p.subscriptions[i]!.filter, code: a.code }, `subscribe refused: ${a.detail}`);
      return subackCode(a.code, c.level); // [MQTT-3.9.3-1]
    }
    if (a.retained.length > 0) retained.push({ msgs: a.retained, qos: a.sub.qos, ids: a.sub.subscriptionId > 0 ? [a.sub.subscriptionId] : null });
    return a.sub.qos;
  });
  c.send({ type: PacketType.SUBACK, packetId: p.packetId, reasonCodes, properties: NO_PROPS }); // [MQTT-3.8.4-1]
  // Retained messages after the SUBACK, retain flag set [MQTT-3.3.1-8].
  for (const r of retained) {
    for (const msg of r.msgs) c.deliver(msg, msg.qos < r.qos ? msg.qos : (r.qos as 0 | 1 | 2), true, r.ids, null);
  }
}
