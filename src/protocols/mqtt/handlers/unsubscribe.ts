/** UNSUBSCRIBE -> UNSUBACK (MQTT 5.0 section 3.10, 3.11). */
import type { UnsubscribeAnswer } from '../../../core/clients.js';
import { PacketType, Reason } from '../codec/packets.js';
import type { Properties, UnsubscribePacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';
import { unsubackCode } from '../errors.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handleUnsubscribe(c: MqttConnection, p: UnsubscribePacket): void {
  const answers = c.client!.unsubscribe(p.filters);
  if (!(answers instanceof Promise)) {
    finishUnsubscribe(c, p, answers);
    return;
  }
  c.holdPackets();
  answers.then((a) => finishUnsubscribe(c, p, a)).finally(() => c.releasePackets());
}

function finishUnsubscribe(c: MqttConnection, p: UnsubscribePacket, answers: UnsubscribeAnswer[]): void {
  if (c.session === null) return;
  // 0x11 when nothing was subscribed [MQTT-3.10.4-5]; one code per filter [MQTT-3.11.3-1].
  const codes = answers.map((a) => (a === true ? Reason.Success : a === false ? Reason.NoSubscriptionExisted : unsubackCode(a.code)));
  c.send({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: codes, properties: NO_PROPS });
}
