/**
 * WILLTOPICUPD -> WILLTOPICRESP, WILLMSGUPD -> WILLMSGRESP (MQTT-SN 1.2 sections 5.4.22-5.4.25,
 * 6.4). The new will is authorised as a publish, as at CONNECT (core/clients.ts updateWill);
 * the empty WILLTOPICUPD deletes it. WILLMSGUPD without a will topic is answered 0x03.
 */
import type { Refusal } from '../../../core/clients.js';
import type { MaybePromise } from '../../../core/hooks.js';
import { ReturnCode } from '../packets.js';
import type { WillMsgUpd, WillTopicUpd } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';
import { returnCode } from '../errors.js';
import { willOf } from './connect.js';

export function handleWillTopicUpd(c: MqttSnConnection, p: WillTopicUpd): void {
  if (p.will !== null && p.will.retain && !c.ctx.mqtt.retainAvailable) {
    c.send({ type: 'WILLTOPICRESP', returnCode: ReturnCode.NOT_SUPPORTED });
    return;
  }
  const previous = c.willTopic;
  c.willTopic = p.will;
  update(c, 'WILLTOPICRESP', () => {
    c.willTopic = previous;
  });
}

export function handleWillMsgUpd(c: MqttSnConnection, p: WillMsgUpd): void {
  if (c.willTopic === null) {
    c.send({ type: 'WILLMSGRESP', returnCode: ReturnCode.NOT_SUPPORTED });
    return;
  }
  const previous = c.willMsg;
  c.willMsg = Buffer.from(p.willMsg);
  update(c, 'WILLMSGRESP', () => {
    c.willMsg = previous;
  });
}

function update(c: MqttSnConnection, resp: 'WILLTOPICRESP' | 'WILLMSGRESP', undo: () => void): void {
  const client = c.client!;
  const answer: MaybePromise<Refusal | null> = client.updateWill(willOf(c, client.info, c.willTopic, c.willMsg));
  const done = (r: Refusal | null): void => {
    if (r !== null) {
      undo();
      c.ctx.logger.info({ clientId: c.clientId, code: r.code }, `will update refused: ${r.detail}`);
    }
    c.send({ type: resp, returnCode: r === null ? ReturnCode.ACCEPTED : returnCode(r.code, resp) });
  };
  if (!(answer instanceof Promise)) {
    done(answer);
    return;
  }
  c.hold();
  answer.then(done).finally(() => c.release());
}
