/** PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT-SN 1.2 sections 5.4.13, 5.4.14, 6.7): acknowledgements of either direction. */
import type { Puback, Pubcomp, Pubrec, Pubrel } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';

/** The client acknowledged a QoS 1 delivery (or refused it: a return code ends it as well). */
export function handlePuback(c: MqttSnConnection, p: Puback): void {
  const session = c.session!;
  const e = session.inflight(p.msgId);
  if (e === undefined) return; // a late or repeated PUBACK
  session.settle(p.msgId);
  if (c.outstanding(p.msgId, 'publish')) c.finished();
}

/** The client has a QoS 2 delivery: PUBREL until PUBCOMP. */
export function handlePubrec(c: MqttSnConnection, p: Pubrec): void {
  const session = c.session!;
  const e = session.inflight(p.msgId);
  if (e === undefined || e.qos !== 2) {
    if (e === undefined) c.send({ type: 'PUBREL', msgId: p.msgId }); // unknown id: released so the client moves on
    return;
  }
  session.markReceived(p.msgId);
  if (c.outstanding(p.msgId, 'publish') || c.outstanding(p.msgId, 'pubrel')) c.release2(p.msgId);
  else c.send({ type: 'PUBREL', msgId: p.msgId });
}

/** The client releases a QoS 2 message it published: forget its MsgId, PUBCOMP. */
export function handlePubrel(c: MqttSnConnection, p: Pubrel): void {
  c.session!.releaseInbound(p.msgId);
  c.send({ type: 'PUBCOMP', msgId: p.msgId });
}

export function handlePubcomp(c: MqttSnConnection, p: Pubcomp): void {
  const session = c.session!;
  if (session.inflight(p.msgId) !== undefined) session.settle(p.msgId);
  if (c.outstanding(p.msgId, 'pubrel')) c.finished();
}
