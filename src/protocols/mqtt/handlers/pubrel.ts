/** PUBREL: the publisher releases a QoS 2 message we received (MQTT 5.0 section 3.6, 4.3.3). */
import { PacketType, Reason } from '../codec/packets.js';
import type { AckPacket, Properties } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handlePubrel(c: MqttConnection, p: AckPacket): void {
  const session = c.session!;
  const known = session.inboundQos2.delete(p.packetId); // [MQTT-4.3.3-11]
  const reasonCode = known || !c.isV5 ? 0 : Reason.PacketIdentifierNotFound;
  c.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode, properties: NO_PROPS }); // [MQTT-4.3.3-12]
}
