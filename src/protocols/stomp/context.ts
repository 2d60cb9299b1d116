/** What a STOMP connection needs from the broker. */
import type { Logger } from 'pino';
import type { LimitsConfig } from '../../config/types.js';
import type { Router } from '../../core/router.js';
import type { Authenticator } from '../../auth/authenticate.js';
import type { TopicLimits } from '../../core/topic.js';
import type { Sweep } from '../../core/clock.js';

export interface StompLimits {
  maxHeaderCount: number;
  maxHeaderLineBytes: number;
  maxBodyBytes: number;
}

export interface StompContext {
  readonly router: Router;
  readonly auth: Authenticator;
  readonly limits: LimitsConfig;
  readonly stomp: StompLimits;
  /** The topic space's limits, shared with MQTT. */
  readonly topics: TopicLimits & { wildcardSubscriptions: boolean };
  readonly logger: Logger;
  /** The broker's clock and its one sweep (core/clock.ts): connect timeout, heart-beats, token expiry. */
  readonly sweep: Sweep;
  /** The network connection is gone (called exactly once per connection). */
  closed(remoteAddress: string): void;
  readonly connections: Set<{ shutdown(): void }>;
  readonly counters: { protocolErrors: number };
  /** Heart-beat the server offers: [can send every ms, wants to receive every ms]. */
  readonly heartbeat: [number, number];
  /** Unacknowledged MESSAGEs per connection in client ack modes (prefetch). */
  readonly window: number;
  readonly connectTimeoutMs: number;
  readonly serverName: string;
  stopping(): boolean;
}
