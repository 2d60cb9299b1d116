/** Inbound PUBLISH (MQTT 5.0 section 3.3, 4.3). */
import { isUtf8 } from 'node:buffer';
import { createMessage } from '../../../core/message.js';
import { isBrokerStamped } from '../../../core/headers.js';
import type { Message, MessageMeta } from '../../../core/message.js';
import { PacketType, Reason } from '../codec/packets.js';
import type { Properties, PublishPacket } from '../codec/packets.js';
import { EMPTY_PROPERTIES } from '../codec/decoder.js';
import type { MqttConnection } from '../connection.js';
import { Stored } from '../../../core/clients.js';
import type { PublishAnswer, PublishResult } from '../../../core/clients.js';
import { publishRefusal, v5Reason } from '../errors.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handlePublish(c: MqttConnection, p: PublishPacket): void {
  const ctx = c.ctx;
  const cfg = ctx.mqtt;
  const session = c.session!;
  const props = p.properties;
  let topic = p.topic;

  if (p.qos > cfg.maxQoS) {
    c.protocolError('SB_ERR_QOS_UNSUPPORTED', `QoS ${p.qos} not supported`); // [MQTT-3.2.2-11]
    return;
  }
  if (p.retain && !cfg.retainAvailable) {
    c.protocolError('SB_ERR_RETAIN_UNSUPPORTED', 'retain not supported'); // [MQTT-3.2.2-14]
    return;
  }

  // Topic alias (v5) [MQTT-3.3.2-7..12].
  const alias = props.topicAlias;
  if (alias !== undefined) {
    if (alias === 0 || alias > cfg.topicAliasMaximum) {
      c.protocolError('SB_ERR_TOPIC_ALIAS', `topic alias ${alias} out of range`);
      return;
    }
    if (topic.length > 0) c.aliases.set(alias, topic);
    else {
      const known = c.aliases.get(alias);
      if (known === undefined) {
        c.protocolError('SB_ERR_PROTOCOL', `unknown topic alias ${alias}`);
        return;
      }
      topic = known;
    }
  } else if (topic.length === 0) {
    c.protocolError('SB_ERR_PROTOCOL', 'empty topic without topic alias'); // [MQTT-4.7.3-1]
    return;
  }

  const pid = p.packetId;
  if (p.qos === 2) {
    if (session.hasInbound(pid)) {
      // A retransmission of a message we already own: acknowledge again, do not route twice [MQTT-4.3.3-10].
      c.send({ type: PacketType.PUBREC, packetId: pid, reasonCode: 0, properties: NO_PROPS });
      return;
    }
    if (session.inboundCount >= cfg.receiveMaximum) {
      c.protocolError('SB_ERR_RECEIVE_MAXIMUM', 'receive maximum exceeded'); // [MQTT-3.3.4-9]
      return;
    }
  }

  if (props.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
    // [MQTT-3.3.2-4]: the receiver may check the payload format.
    if (p.qos === 0) c.protocolError('SB_ERR_PAYLOAD_FORMAT', 'payload is not valid UTF-8');
    else c.send({ type: p.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: pid, reasonCode: v5Reason('SB_ERR_PAYLOAD_FORMAT', p.qos === 1 ? 'PUBACK' : 'PUBREC'), properties: NO_PROPS });
    return;
  }

  const expiry = props.messageExpiryInterval;
  const meta = c.isV5 ? metaFromProperties(props) : null;
  const msg = createMessage(
    topic,
    p.retain ? Buffer.from(p.payload) : p.payload,
    p.qos,
    p.retain,
    meta,
    expiry !== undefined && expiry > 0 ? c.router.now() + expiry * 1000 : 0,
    c.client!.info,
  );
  seedWire(c, p, msg, topic);
  // The core authorises, admits and routes it (core/clients.ts).
  const answer = c.client!.publish(msg);
  if (typeof answer === 'number' && p.qos === 0) return; // routed; nothing to acknowledge
  if (!(answer instanceof Promise)) {
    routed(c, p, msg, answer);
    return;
  }
  // An asynchronous hook: later packets wait so the order of messages is kept.
  c.holdPackets();
  answer.then((a) => routed(c, p, msg, a)).finally(() => c.releasePackets());
}

/**
 * The core has decided. A stored message (store.durability sync) is acknowledged once on disk,
 * while later packets are read on: acknowledgements still go out in the order the PUBLISH
 * packets came [MQTT-4.6.0-2]. A QoS 2 id is recorded at once, in the same commit as the
 * message, so a resend after a crash is recognised and not routed twice [MQTT-4.3.3-10].
 */
function routed(c: MqttConnection, p: PublishPacket, msg: Message, r: PublishResult): void {
  if (r instanceof Stored) {
    if (p.qos === 0) return; // nothing to acknowledge (a retained QoS 0 message is stored as it can)
    if (p.qos === 2) c.session?.addInbound(p.packetId);
    c.ackInOrder(r.done, (a) => finishPublish(c, p, msg, a));
  } else if (p.qos > 0 && c.acksWaiting) c.ackInOrder(null, () => finishPublish(c, p, msg, r));
  else finishPublish(c, p, msg, r);
}

function finishPublish(c: MqttConnection, p: PublishPacket, msg: Message, answer: PublishAnswer): void {
  const session = c.session;
  if (session === null) return;
  const pid = p.packetId;
  let delivered: number;
  if (typeof answer === 'number') delivered = answer;
  else {
    if (answer.code === 'SB_ERR_TOPIC_NAME') {
      c.protocolError('SB_ERR_TOPIC_NAME', answer.detail);
      return;
    }
    c.ctx.logger.info({ clientId: c.clientId, topic: msg.topic, code: answer.code }, `publish refused: ${answer.detail}`);
    // QoS 0: dropped (and counted by the core). 3.1.1 has no negative acknowledgement: see errors.ts.
    const refusal = publishRefusal(answer.code, c.level, p.qos);
    if (refusal === 'drop') return;
    if (refusal === 'close') {
      c.closeWith(answer.code, answer.detail);
      return;
    }
    if (refusal !== 'acknowledge') {
      // A PUBREC >= 0x80 ends the QoS 2 flow (MQTT 5.0 section 4.3.3): the id is not kept, so a
      // later message reusing it is not mistaken for a retransmission.
      if (p.qos === 2) session.releaseInbound(pid);
      c.send({ type: p.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: pid, reasonCode: refusal, properties: NO_PROPS });
      return;
    }
    delivered = -1;
  }
  if (p.qos === 0) return;
  if (p.qos === 1) {
    // v5: 0x10 tells the publisher nobody received it (section 3.4.2.1).
    const reasonCode = c.isV5 && delivered === 0 ? Reason.NoMatchingSubscribers : 0;
    c.send({ type: PacketType.PUBACK, packetId: pid, reasonCode, properties: NO_PROPS }); // [MQTT-4.3.2-2]
  } else {
    // PUBREC stays Success: the flow must continue with PUBREL either way.
    if (!session.hasInbound(pid)) session.addInbound(pid);
    c.send({ type: PacketType.PUBREC, packetId: pid, reasonCode: 0, properties: NO_PROPS }); // [MQTT-4.3.3-8]
  }
}

/**
 * Serialise once: when the received bytes are exactly what a subscriber at the same protocol
 * level gets (no retain flag, no DUP, no properties, no alias, no `from` stamp), cache them as
 * the message's encoded form so routing forwards them without encoding.
 */
function seedWire(c: MqttConnection, p: PublishPacket, msg: Message, topic: string): void {
  if (p.raw === undefined || p.retain || p.dup || topic !== p.topic) return;
  const v5 = c.isV5;
  // 3.1.1 bytes serve 3.1.1 subscribers only, which get no properties (no `from` stamp either):
  // an application's stamp matters for a v5 publisher's bytes alone.
  if (v5 && (c.stampFrom || p.properties !== EMPTY_PROPERTIES)) return;
  // Slot layout shared with MqttConnection.writePublish: (v5 ? 6 : 0) + (retain ? 3 : 0) + qos.
  const wire: Array<Buffer | undefined> = [];
  wire[(v5 ? 6 : 0) + p.qos] = p.raw;
  msg.encoded = wire;
}

/** MQTT 5 properties that travel with a message [MQTT-3.3.2-17..20]. */
export function metaFromProperties(props: Properties): MessageMeta | null {
  let meta: MessageMeta | null = null;
  if (props.payloadFormatIndicator !== undefined) (meta ??= {}).payloadFormatIndicator = props.payloadFormatIndicator;
  if (props.contentType !== undefined) (meta ??= {}).contentType = props.contentType;
  if (props.responseTopic !== undefined) (meta ??= {}).responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) (meta ??= {}).correlationData = Buffer.from(props.correlationData);
  if (props.userProperties !== undefined) {
    // `from` is the broker's to set, never the client's: `From`, ` from`, `from:`... are dropped too.
    const user = props.userProperties.filter(([k]) => !isBrokerStamped(k));
    if (user.length > 0) (meta ??= {}).userProperties = user;
  }
  return meta;
}
