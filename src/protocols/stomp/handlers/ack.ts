/** ACK / NACK (STOMP 1.2 "ACK", "NACK"; 1.1 uses message-id + subscription). */
import type { StompConnection } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

export function handleAck(c: StompConnection, f: StompFrame, ack: boolean): void {
  const id = c.version === '1.2' ? header(f, 'id') : header(f, 'message-id');
  const p = id === undefined ? undefined : c.pending.get(id);
  if (!p) {
    c.fail('SB_ERR_PACKET_ID_NOT_FOUND', `${ack ? 'ACK' : 'NACK'}: no unacknowledged message with id "${id ?? ''}"`, header(f, 'receipt'));
    return;
  }
  // `client` mode is cumulative: everything sent earlier on that subscription is covered too.
  const covered: string[] = [];
  if (p.sub.ack === 'client') {
    for (const [k, q] of c.pending) {
      if (q.sub === p.sub) covered.push(k);
      if (k === id) break;
    }
  } else covered.push(id!);
  const client = c.client!;
  for (const k of covered) {
    const q = c.pending.get(k)!;
    c.pending.delete(k);
    // NACK: a queue message goes to another consumer (counted, dead-lettered past the limit).
    if (ack) client.settle(q.delivery);
    else client.nack(q.delivery);
  }
  c.pump();
}
