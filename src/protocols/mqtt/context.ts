/** What an MQTT connection needs from the broker (composition root fills it in). */
import type { Logger } from 'pino';
import type { LimitsConfig, MqttConfig } from '../../config/types.js';
import type { Router } from '../../core/router.js';
import type { Authenticator } from '../../auth/authenticate.js';
import type { Sweep } from '../../core/clock.js';

export interface MqttContext {
  /** The router a connection starts with (development application); CONNECT picks the real one. */
  readonly router: Router;
  readonly auth: Authenticator;
  readonly mqtt: MqttConfig;
  readonly limits: LimitsConfig;
  readonly logger: Logger;
  /** The broker's clock and its one sweep (core/clock.ts): connect timeout, keepalive, token expiry. */
  readonly sweep: Sweep;
  /** The network connection is gone (called exactly once per connection). */
  closed(remoteAddress: string): void;
  /** Live MQTT connections (for shutdown and $SYS). */
  readonly connections: Set<{ shutdown(): void }>;
  /** Monotonic counters for $SYS and metrics. */
  readonly counters: MqttCounters;
  /** Generates a client identifier for clients that send an empty one [MQTT-3.1.3-6]. */
  assignClientId(): string;
  /** True while the broker is stopping: new CONNECTs get CONNACK 0x88 / 3 (SB_ERR_SERVER_UNAVAILABLE). */
  stopping(): boolean;
}

export interface MqttCounters {
  connectionsAccepted: number;
  protocolErrors: number;
  packetsIn: number;
  packetsOut: number;
}
