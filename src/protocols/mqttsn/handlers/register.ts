/** REGISTER / REGACK in both directions (MQTT-SN 1.2 sections 5.4.10, 5.4.11, 6.5). */
import { isValidTopicName } from '../../../core/topic.js';
import { ReturnCode } from '../packets.js';
import type { Regack, Register } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';

/** The client names a topic: REGACK with its id (the same id for a name registered before), 0x01 when the registry is full. */
export function handleRegister(c: MqttSnConnection, p: Register): void {
  const app = c.app!;
  if (!isValidTopicName(p.topicName, app.topics)) {
    // A filter or an invalid name can never be published to (6.5 registers topic names).
    c.send({ type: 'REGACK', topicId: 0, msgId: p.msgId, returnCode: ReturnCode.NOT_SUPPORTED });
    return;
  }
  const topicId = c.registry.register(p.topicName);
  c.send({ type: 'REGACK', topicId, msgId: p.msgId, returnCode: topicId === 0 ? ReturnCode.CONGESTION : ReturnCode.ACCEPTED });
}

/** The client's answer to the gateway's REGISTER: the PUBLISH that waited for it goes out. */
export function handleRegack(c: MqttSnConnection, p: Regack): void {
  c.registered(p.msgId, p.returnCode === ReturnCode.ACCEPTED);
}
