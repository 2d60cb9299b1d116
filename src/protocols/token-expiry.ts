/**
 * Connections whose credentials expire (a JWT's `exp`) are closed at that moment, whatever the
 * protocol: MQTT 5 DISCONNECT 0xA0 (Maximum connect time), a STOMP ERROR, a plain close for
 * MQTT 3.1.1. Only such connections pay for a timer.
 */
import type { CloseReason } from '../core/session.js';

/** setTimeout's longest delay; longer lifetimes are re-armed in steps. */
const MAX_DELAY = 0x7fffffff;

export interface Expiring {
  close(reason: CloseReason): void;
}

export class TokenExpiry {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly expiresAt: number,
    private readonly link: Expiring,
    private readonly now: () => number = Date.now,
  ) {
    this.arm();
  }

  private arm(): void {
    const left = this.expiresAt - this.now();
    if (left <= 0) {
      this.timer = null;
      this.link.close('token-expired');
      return;
    }
    this.timer = setTimeout(() => this.arm(), Math.min(left, MAX_DELAY));
    this.timer.unref();
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
