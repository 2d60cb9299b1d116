/**
 * PUBLISH from a client (MQTT-SN 1.2 sections 5.4.12, 6.6-6.8) and its acknowledgements: QoS 1
 * PUBACK; QoS 2 PUBREC, then PUBCOMP on PUBREL (acks.ts), each message routed once (its MsgId
 * remembered by the session until released, as MQTT's [MQTT-4.3.3-9]). A refusal is a PUBACK
 * with a return code (errors.ts), for QoS 0 too (5.4.13: "also sent ... in case of an error").
 */
import { createMessage } from '../../../core/message.js';
import type { QoS as CoreQoS } from '../../../core/message.js';
import { Stored } from '../../../core/clients.js';
import type { PublishAnswer, PublishResult } from '../../../core/clients.js';
import { ReturnCode } from '../packets.js';
import type { Publish, PublishTopic } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';
import { returnCode } from '../errors.js';
import { topicIdField } from '../topics.js';

/** The topic name a PUBLISH names, or undefined when the id is not known (6.5, 6.7). */
function topicName(c: MqttSnConnection, t: PublishTopic): string | undefined {
  if (t.kind === 'short') return t.name;
  if (t.kind === 'predefined') return c.ctx.predefined.name(t.id);
  return c.registry.name(t.id);
}

export function handlePublish(c: MqttSnConnection, p: Publish): void {
  const cfg = c.ctx.mqtt;
  const session = c.session!;
  const topicId = topicIdField(p.topic);
  // QoS -1 from a connected client is a QoS 0 publish of that client.
  const qos: CoreQoS = p.qos === -1 ? 0 : p.qos;
  const refuse = (rc: ReturnCode): void => c.send({ type: 'PUBACK', topicId, msgId: p.msgId, returnCode: rc });
  const topic = topicName(c, p.topic);
  if (topic === undefined) {
    refuse(ReturnCode.INVALID_TOPIC_ID);
    return;
  }
  if (qos > cfg.maxQoS || (p.retain && !cfg.retainAvailable)) {
    refuse(ReturnCode.NOT_SUPPORTED);
    return;
  }
  if (qos === 2) {
    if (session.hasInbound(p.msgId)) {
      c.send({ type: 'PUBREC', msgId: p.msgId }); // a retransmission: acknowledged again, not routed twice
      return;
    }
    if (session.inboundCount >= cfg.receiveMaximum) {
      refuse(returnCode('SB_ERR_RECEIVE_MAXIMUM', 'PUBACK'));
      return;
    }
  }
  const msg = createMessage(topic, p.data, qos, p.retain, null, 0, c.client!.info);
  // The core authorises, admits and routes it (core/clients.ts).
  const answer = c.client!.publish(msg);
  if (typeof answer === 'number' && qos === 0) return;
  if (!(answer instanceof Promise)) {
    routed(c, p, qos, topicId, topic, answer);
    return;
  }
  // An asynchronous hook: later messages wait so the order is kept.
  c.hold();
  answer
    .then((a) => routed(c, p, qos, topicId, topic, a))
    .finally(() => c.release());
}

function routed(c: MqttSnConnection, p: Publish, qos: CoreQoS, topicId: number, topic: string, r: PublishResult): void {
  if (r instanceof Stored) {
    if (qos === 0) return;
    if (qos === 2) c.session?.addInbound(p.msgId);
    // Acknowledged once stored (store.durability sync).
    void r.done.then((a) => finish(c, p, qos, topicId, topic, a));
    return;
  }
  finish(c, p, qos, topicId, topic, r);
}

function finish(c: MqttSnConnection, p: Publish, qos: CoreQoS, topicId: number, topic: string, answer: PublishAnswer): void {
  const session = c.session;
  if (session === null) return;
  if (typeof answer !== 'number') {
    c.ctx.logger.info({ clientId: c.clientId, topic, code: answer.code }, `publish refused: ${answer.detail}`);
    if (qos === 2) session.releaseInbound(p.msgId); // the flow ends with the refusing PUBACK
    c.send({ type: 'PUBACK', topicId, msgId: p.msgId, returnCode: returnCode(answer.code, 'PUBACK') });
    return;
  }
  if (qos === 1) c.send({ type: 'PUBACK', topicId, msgId: p.msgId, returnCode: ReturnCode.ACCEPTED });
  else if (qos === 2) {
    if (!session.hasInbound(p.msgId)) session.addInbound(p.msgId);
    c.send({ type: 'PUBREC', msgId: p.msgId });
  }
}

/**
 * QoS -1 (6.8) from an address without a connection: a predefined topic id or a short topic
 * name; published by the gateway's anonymous client (anonymous.ts), and the address is
 * forgotten at once (nothing is answered, no state is kept).
 */
export function handlePublishMinusOne(c: MqttSnConnection, p: Publish): void {
  const t = p.topic;
  const topic = t.kind === 'short' ? t.name : t.kind === 'predefined' ? c.ctx.predefined.name(t.id) : undefined;
  if (topic !== undefined) c.ctx.anonymous.publish(topic, Buffer.from(p.data), p.retain, `${c.conn.remoteAddress}:${c.conn.remotePort}`);
  else c.ctx.counters.unexpected++;
  c.drop('QoS -1 publish');
}
