/** AUTH (MQTT 5.0 section 3.15, 4.12). */
import type { AuthPacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

/**
 * No enhanced authentication method is configured, so a CONNECT carrying one was already
 * refused with 0x8C; an AUTH packet on a connection that did not negotiate a method is a
 * protocol error [MQTT-4.12.0-1, MQTT-3.15.2-1].
 */
export function handleAuth(c: MqttConnection, _p: AuthPacket): void {
  c.protocolError('SB_ERR_PROTOCOL', 'AUTH without an authentication method');
}
