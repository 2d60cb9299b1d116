/** UNSUBSCRIBE (STOMP 1.2 "UNSUBSCRIBE"). */
import type { StompConnection, StompSubscription } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

export function handleUnsubscribe(c: StompConnection, f: StompFrame): void | Promise<void> {
  const id = header(f, 'id') ?? (c.version === '1.0' ? header(f, 'destination') : undefined);
  const sub = id === undefined ? undefined : c.subs.get(id);
  if (!sub) {
    c.fail('unknown subscription', `no subscription with id "${id ?? ''}"`, header(f, 'receipt'));
    return;
  }
  // The hook sees the core filter, as for MQTT UNSUBSCRIBE (`a/b`, `$share/q/$queue/q`).
  const hook = c.app?.hooks.authorizeUnsubscribe;
  const allowed = hook && c.info ? hook(c.info, sub.raw) : true;
  const denied = (): void => c.fail('not authorized', `unsubscribing from "${sub.destination}" is not allowed`, header(f, 'receipt'));
  if (allowed === true) return remove(c, sub);
  if (allowed === false) return denied();
  return allowed.then(
    (ok) => (ok ? remove(c, sub) : denied()),
    () => denied(),
  );
}

function remove(c: StompConnection, sub: StompSubscription): void {
  if (!c.connected || c.subs.get(sub.id) !== sub) return;
  c.subs.delete(sub.id);
  c.subsByNum.delete(sub.num);
  c.router.unsubscribe(c.session!, sub.raw);
  // Messages still pending for it: queue messages return to their queue.
  for (const [k, p] of c.pending) {
    if (p.sub !== sub) continue;
    c.pending.delete(k);
    if (p.group !== null) c.router.redeliver(p.group, p.msg, null, false);
  }
  c.pump();
}
