/** UNSUBSCRIBE -> UNSUBACK (MQTT 5.0 section 3.10, 3.11). */
import { PacketType, Reason } from '../codec/packets.js';
import type { Properties, UnsubscribePacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handleUnsubscribe(c: MqttConnection, p: UnsubscribePacket): void {
  const session = c.session!;
  const codes: number[] = [];
  for (const filter of p.filters) {
    const existed = c.router.unsubscribe(session, filter); // [MQTT-3.10.4-1]
    codes.push(existed ? Reason.Success : Reason.NoSubscriptionExisted);
  }
  // Sent even when nothing matched [MQTT-3.10.4-5]; one code per filter [MQTT-3.11.3-1].
  c.send({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: codes, properties: NO_PROPS });
}
