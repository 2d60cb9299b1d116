/** UNSUBSCRIBE (STOMP 1.2 "UNSUBSCRIBE"). */
import { isRefusal } from '../../../core/clients.js';
import type { UnsubscribeAnswer } from '../../../core/clients.js';
import type { StompConnection, StompSubscription } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

export function handleUnsubscribe(c: StompConnection, f: StompFrame): void | Promise<void> {
  const id = header(f, 'id') ?? (c.version === '1.0' ? header(f, 'destination') : undefined);
  const sub = id === undefined ? undefined : c.subs.get(id);
  if (!sub) {
    c.fail('SB_ERR_UNKNOWN_SUBSCRIPTION', `no subscription with id "${id ?? ''}"`, header(f, 'receipt'));
    return;
  }
  // The core asks the hook with the core filter, as for MQTT (`a/b`, `$share/q/$queue/q`).
  const answers = c.client!.unsubscribe([sub.raw]);
  if (!(answers instanceof Promise)) return finish(c, f, sub, answers);
  return answers.then((a) => finish(c, f, sub, a));
}

function finish(c: StompConnection, f: StompFrame, sub: StompSubscription, answers: UnsubscribeAnswer[]): void {
  if (!c.connected || c.subs.get(sub.id) !== sub) return;
  const a = answers[0]!;
  if (isRefusal(a)) {
    c.fail(a.code, `unsubscribing from "${sub.destination}" is not allowed`, header(f, 'receipt'));
    return;
  }
  c.subs.delete(sub.id);
  // Messages still unacknowledged for it: queue messages return to their queue.
  const client = c.client!;
  for (const [k, p] of c.pending) {
    if (p.sub !== sub) continue;
    c.pending.delete(k);
    const d = client.withdraw(p.delivery);
    if (d !== undefined && d.group !== null) client.giveBack(d.group, d.msg);
  }
  c.pump();
}
