/** What an MQTT-SN gateway connection needs from the broker (composition root fills it in). */
import type { Logger } from 'pino';
import type { LimitsConfig, MqttConfig, MqttSnConfig } from '../../config/types.js';
import type { Router } from '../../core/router.js';
import type { Authenticator } from '../../auth/authenticate.js';
import type { Sweep } from '../../core/clock.js';
import type { PredefinedTopics } from './topics.js';
import type { AnonymousPublisher } from './anonymous.js';

/**
 * How every MQTT-SN client logs in (its CONNECT carries no credentials): as the configured
 * application (`mqttsn.app`) with the key of `mqttsn.profile`, its client id as login; resolved
 * once at start (broker.ts). Development mode: no key, the profile name as secret.
 */
export interface MqttSnLogin {
  appKey: string | null;
  secret: string;
}

export interface MqttSnContext {
  /** The router a connection starts with; CONNECT picks the configured application's. */
  readonly router: Router;
  readonly auth: Authenticator;
  readonly login: MqttSnLogin;
  /** The topic space's rules and MQTT limits shared with MQTT (QoS, retain, wildcards, session expiry, keepalive). */
  readonly mqtt: MqttConfig;
  readonly mqttsn: MqttSnConfig;
  readonly limits: LimitsConfig;
  readonly predefined: PredefinedTopics;
  /** Publishes QoS -1 messages (6.8) for addresses without a connection. */
  readonly anonymous: AnonymousPublisher;
  readonly logger: Logger;
  /** The broker's clock and its one sweep (core/clock.ts): connect timeout, keepalive, retransmission, token expiry. */
  readonly sweep: Sweep;
  /** The address's connection is gone (called exactly once per connection). */
  closed(remoteAddress: string): void;
  readonly connections: Set<{ shutdown(): void }>;
  readonly counters: MqttSnCounters;
  stopping(): boolean;
}

/** Monotonic counters (metrics, $SYS); per datagram only where nothing cheaper can tell. */
export interface MqttSnCounters {
  connectionsAccepted: number;
  datagramsIn: number;
  datagramsOut: number;
  /** Datagrams that are not MQTT-SN 1.2 messages (dropped). */
  malformed: number;
  /** Valid messages that were not expected in the client's state (ignored). */
  unexpected: number;
  /** Datagrams dropped by the UDP transport (rate, too many addresses). */
  udpDropped: number;
  /** Retransmissions to clients (6.13). */
  retransmissions: number;
  /** QoS -1 publishes (6.8) taken / refused. */
  anonymousPublishes: number;
}
