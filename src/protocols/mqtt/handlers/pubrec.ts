/** PUBREC: first acknowledgement of a QoS 2 delivery (MQTT 5.0 section 3.5, 4.3.3). */
import { PacketType } from '../codec/packets.js';
import type { AckPacket, Properties } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handlePubrec(c: MqttConnection, p: AckPacket): void {
  const session = c.session!;
  const e = session.inflight(p.packetId);
  if (e !== undefined && e.qos !== 2) {
    c.protocolError('SB_ERR_PROTOCOL', 'PUBREC for a QoS 1 message'); // [MQTT-4.3.2, 4.3.3 flows]
    return;
  }
  if (e === undefined) {
    // Unknown id (a late or repeated PUBREC): release it so the client can move on; a failed
    // one ends the flow on its own.
    if (p.reasonCode >= 0x80) return;
    c.send({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS });
    return;
  }
  if (p.reasonCode >= 0x80) {
    // The receiver refused the message: the exchange ends here [MQTT-4.3.3-4 note].
    session.settle(p.packetId);
    c.pump();
    return;
  }
  session.markReceived(p.packetId);
  c.sendStored({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: 0, properties: NO_PROPS }); // [MQTT-4.3.3-4]
}
