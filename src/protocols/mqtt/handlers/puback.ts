/** PUBACK: the client acknowledged a QoS 1 delivery (MQTT 5.0 section 3.4, 4.3.2). */
import type { AckPacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

export function handlePuback(c: MqttConnection, p: AckPacket): void {
  const session = c.session!;
  const e = session.inflight(p.packetId);
  // Unknown ids are ignored: a late ack after a resend is harmless.
  if (e === undefined) return;
  if (e.qos !== 1) {
    c.protocolError('SB_ERR_PROTOCOL', 'PUBACK for a QoS 2 message');
    return;
  }
  session.settle(p.packetId); // [MQTT-4.3.2-4]
  c.pump();
}
