/**
 * Connections whose credentials expire (a JWT's `exp`) are closed at that moment, whatever the
 * protocol: MQTT 5 DISCONNECT 0xA0 (Maximum connect time), a STOMP ERROR, a plain close for
 * MQTT 3.1.1. The expiry is a deadline in the broker's sweep (core/clock.ts): no timer and no
 * closure per connection, and any lifetime (past setTimeout's 24.8 days) is kept to the
 * millisecond. Only such connections pay for an entry.
 */
import type { Deadline, Due, Sweep } from '../core/clock.js';
import type { CloseReason } from '../core/session.js';

export interface Expiring {
  close(reason: CloseReason): void;
}

const EXPIRED: Due<Expiring> = {
  due: (link) => link.close('token-expired'),
};

/**
 * Close `link` at `expiresAt` (ms since the epoch, on the sweep's clock; already past: on the
 * sweep's next wake). Cancel the returned deadline when the link ends first.
 */
export function expireToken(sweep: Sweep, expiresAt: number, link: Expiring): Deadline {
  return sweep.at(expiresAt, EXPIRED, link);
}
