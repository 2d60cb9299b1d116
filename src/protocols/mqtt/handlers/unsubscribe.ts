/** UNSUBSCRIBE -> UNSUBACK (MQTT 5.0 section 3.10, 3.11). */
import { PacketType, Reason } from '../codec/packets.js';
import type { Properties, UnsubscribePacket } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';

const NO_PROPS: Properties = Object.freeze({}) as Properties;

export function handleUnsubscribe(c: MqttConnection, p: UnsubscribePacket): void {
  const hook = c.app?.hooks.authorizeUnsubscribe;
  const checks = p.filters.map((f) => (hook && c.info ? hook(c.info, f) : true));
  if (checks.some((x) => x instanceof Promise)) {
    c.holdPackets();
    Promise.all(checks.map((x) => (x instanceof Promise ? x.catch(() => false) : x)))
      .then((ok) => finishUnsubscribe(c, p, ok))
      .finally(() => c.releasePackets());
    return;
  }
  finishUnsubscribe(c, p, checks as boolean[]);
}

function finishUnsubscribe(c: MqttConnection, p: UnsubscribePacket, allowed: boolean[]): void {
  const session = c.session;
  if (session === null) return;
  const codes: number[] = [];
  p.filters.forEach((filter, i) => {
    if (!allowed[i]) {
      codes.push(Reason.NotAuthorized);
      return;
    }
    const existed = c.router.unsubscribe(session, filter); // [MQTT-3.10.4-1]
    codes.push(existed ? Reason.Success : Reason.NoSubscriptionExisted);
  });
  // Sent even when nothing matched [MQTT-3.10.4-5]; one code per filter [MQTT-3.11.3-1].
  c.send({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: codes, properties: NO_PROPS });
}
