/** PUBCOMP: a QoS 2 delivery is complete (MQTT 5.0 section 3.7, 4.3.3). */
import type { AckPacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

export function handlePubcomp(c: MqttConnection, p: AckPacket): void {
  const session = c.session!;
  const e = session.inflight(p.packetId);
  if (e === undefined) return;
  if (e.qos !== 2 || e.phase !== 'received') {
    c.protocolError('SB_ERR_PROTOCOL', 'PUBCOMP before PUBREL');
    return;
  }
  session.settle(p.packetId);
  c.pump();
}
