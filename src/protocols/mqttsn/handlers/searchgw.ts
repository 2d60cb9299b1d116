/**
 * SEARCHGW -> GWINFO (MQTT-SN 1.2 sections 5.4.2, 5.4.3, 6.1) on the unicast port: GWINFO with
 * the gateway id only (a gateway sends no GwAdd). The one answer allowed to an unverified
 * address, and no larger than the SEARCHGW (3 octets each). Multicast discovery (ADVERTISE, the
 * group) is the discovery module's.
 */
import type { SearchGw } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';

const NO_ADDRESS = Buffer.alloc(0);

export function handleSearchGw(c: MqttSnConnection, _p: SearchGw): void {
  // Discovery is off by default (mqttsn.advertise): then the gateway does not answer either.
  if (!c.ctx.mqttsn.advertise) return;
  c.send({ type: 'GWINFO', gwId: c.ctx.mqttsn.gatewayId, gwAdd: NO_ADDRESS });
}
