/** PUBREL: the publisher releases a QoS 2 message we received (MQTT 5.0 section 3.6, 4.3.3). */
import { PacketType } from '../codec/packets.js';
import type { AckPacket, Properties } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handlePubrel(c: MqttConnection, p: AckPacket): void {
  const session = c.session!;
  // Known or not (a repeated PUBREL after a reconnect), answer PUBCOMP so the flow ends [MQTT-4.3.3-11, MQTT-4.3.3-12].
  session.releaseInbound(p.packetId);
  c.sendStored({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
}
