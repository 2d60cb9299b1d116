/**
 * PINGREQ -> PINGRESP (MQTT-SN 1.2 sections 5.4.19, 6.11). With a ClientId from an asleep
 * client (6.14): it is awake; what was buffered for it goes out first, then PINGRESP, and it
 * is asleep again (connection.ts pump).
 */
import type { Pingreq } from '../packets.js';
import { State } from '../connection.js';
import type { MqttSnConnection } from '../connection.js';

export function handlePingreq(c: MqttSnConnection, p: Pingreq): void {
  if (c.state === State.Asleep) {
    if (p.clientId !== c.clientId) {
      c.ctx.counters.unexpected++; // a wake-up for another client id (6.14 keys it by ClientId)
      return;
    }
    c.wake();
    return;
  }
  if (c.state === State.Awake) return; // PINGRESP follows the buffered messages
  c.send({ type: 'PINGRESP' });
}
