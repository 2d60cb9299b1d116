/** DISCONNECT from the client (MQTT 5.0 section 3.14). */
import { Reason } from '../codec/packets.js';
import type { DisconnectPacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

export function handleDisconnect(c: MqttConnection, p: DisconnectPacket): void {
  const session = c.session!;
  const expiry = p.properties.sessionExpiryInterval;
  if (expiry !== undefined) {
    // A session that was to end with the connection cannot be made persistent now [MQTT-3.14.2-2].
    if (session.expiryInterval === 0 && expiry !== 0) {
      c.protocolError('SB_ERR_PROTOCOL', 'session expiry set on DISCONNECT after 0 on CONNECT');
      return;
    }
    c.router.setExpiry(session, Math.min(expiry, c.ctx.mqtt.maxSessionExpiry));
  }
  // 0x04 "disconnect with will message" keeps the will; anything else discards it [MQTT-3.14.4-3].
  c.cleanDisconnect = p.reasonCode !== Reason.DisconnectWithWill;
  c.endReason = 'clean';
  if (c.info) c.app?.hooks.onDisconnect?.(c.info);
  c.end(); // [MQTT-3.14.4-1]: no further packets from the server
}
