/** UNSUBSCRIBE -> UNSUBACK (MQTT-SN 1.2 sections 5.4.17, 5.4.18, 6.10). UNSUBACK carries no return code: it is sent either way. */
import type { Unsubscribe } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';
import { filterOf } from './subscribe.js';

export function handleUnsubscribe(c: MqttSnConnection, p: Unsubscribe): void {
  const raw = filterOf(c, p.topic);
  const ack = (): void => c.send({ type: 'UNSUBACK', msgId: p.msgId });
  if (raw === undefined) {
    ack();
    return;
  }
  const answers = c.client!.unsubscribe([raw]);
  if (!(answers instanceof Promise)) {
    ack();
    return;
  }
  c.hold();
  answers.then(ack, ack).finally(() => c.release());
}
