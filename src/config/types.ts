/**
 * The resolved broker configuration: what `createBroker` takes after defaults are applied.
 * The schema (schema.ts) validates user input (file, env, flags) into this shape.
 * Units are in the names or comments; every limit has a safe default (defaults.ts).
 */

import type { AclRule, Grants, Profile } from '../core/permissions.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TlsConfig {
  /** PEM file paths. Required when any mqtts:// or wss:// listener is configured. */
  cert?: string;
  key?: string;
  ca?: string;
  passphrase?: string;
}

export interface MqttConfig {
  /** Largest packet accepted from a client, bytes (whole packet). Advertised in v5 CONNACK. */
  maxPacketSize: number;
  /** Server Receive Maximum: inbound QoS 1/2 publishes in flight per client. */
  receiveMaximum: number;
  /** Upper bound on the outbound in-flight window per client (min'ed with the client's Receive Maximum). */
  maxInflight: number;
  /** Topic Alias Maximum the server accepts from clients (0 disables). */
  topicAliasMaximum: number;
  /** Topic aliases the server uses towards v5 clients that allow them (0 disables). */
  serverTopicAliases: number;
  /** Largest keepalive a client may ask for, seconds; above it v5 clients get Server Keep Alive. 0 = no cap. */
  maxKeepAlive: number;
  /** Cap on a v5 Session Expiry Interval, seconds. 3.1.1 persistent sessions use this too. */
  maxSessionExpiry: number;
  /** Highest QoS granted (0, 1 or 2). */
  maxQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptions: boolean;
  sharedSubscriptions: boolean;
  subscriptionIdentifiers: boolean;
  /** Close a connection that sends no CONNECT within this many ms. */
  connectTimeoutMs: number;
  /** Longest topic name or filter accepted, bytes of UTF-8. */
  maxTopicLength: number;
  maxTopicLevels: number;
}

export interface LimitsConfig {
  /** Concurrent connections across all listeners; more are refused (v5 CONNACK 0x97 / close). */
  maxConnections: number;
  /** Per-session queue of messages waiting for delivery (offline, or past the in-flight window). */
  maxQueuedMessages: number;
  /** Same queue, bounded in payload bytes. */
  maxQueuedBytes: number;
  /** Socket backlog (bytes written but not yet flushed) above which QoS 0 is dropped for that client. */
  slowConsumerBytes: number;
  /** Retained messages kept broker-wide; a publish that would store one more gets v5 0x97. */
  maxRetained: number;
  /** Retained messages one login may have set (counted per application). */
  maxRetainedPerClient: number;
  /** Subscriptions one session may hold; more get SUBACK 0x97 (v5) / 0x80, or a STOMP ERROR. */
  maxSubscriptionsPerClient: number;
  /** Persistent sessions (online or parked offline) per application; a new one beyond gets CONNACK 0x97 / 3. */
  maxPersistentSessions: number;
  /** Bytes of queued messages across all sessions and queues of one application. */
  maxQueuedBytesPerApp: number;
  /**
   * Broker-wide budget, bytes of message data held (queued, in flight, retained, queue backlogs).
   * Past it QoS 1/2 publishes get 0x97 (STOMP ERROR) and QoS 0 publishes are dropped and counted.
   */
  memoryBudget: number;
  /** Longest client identifier / login accepted, characters. */
  maxClientIdLength: number;
  /** Concurrent connections from one remote address; more are refused at accept. 0 = no limit. */
  maxConnectionsPerAddress: number;
  /** WebSocket pings answered per connection per second; a client that keeps pinging faster is closed (1008). */
  wsPingsPerSecond: number;
}

export interface AuthConfig {
  /** Failed logins are remembered this long, ms. */
  failureWindowMs: number;
  /** Failures from one address inside the window before answers are slowed down. */
  freeFailuresPerAddress: number;
  /** Failures for one login id (from anywhere) inside the window before answers are slowed down. */
  freeFailuresPerLogin: number;
  /** Longest delay before a failed login is answered, ms. */
  maxDelayMs: number;
  /** Logins from one address being decided or waiting for their delayed answer; more are refused at once. */
  maxPendingPerAddress: number;
  /** A JWT whose exp lies further in the future than this is refused, seconds. */
  maxTokenLifetime: number;
  /**
   * Development mode (no application: any login, any profile, ADMIN included) on a listener
   * reachable from the network. Refused at start unless true (loopback is always allowed).
   */
  allowAnonymous: boolean;
}

export interface StompConfig {
  /** Heart-beat the server offers, ms: [sends at least every, wants to receive every]; 0 = off. */
  heartbeatSendMs: number;
  heartbeatReceiveMs: number;
  maxHeaderCount: number;
  /** Longest header line, bytes. */
  maxHeaderLineBytes: number;
  /** Largest frame body, bytes. */
  maxBodyBytes: number;
  /** Unacknowledged MESSAGEs per connection in client ack modes (prefetch). */
  window: number;
  /** Deliveries of one queue message (first + redeliveries after NACK) before it is dead-lettered. */
  maxRedeliveries: number;
}

export interface ClusterConfig {
  /**
   * Broker processes (node:cluster) sharing the listeners; 1 = a single process. Experimental:
   * publishes and retained messages reach every worker, other state is per worker (README).
   */
  workers: number;
}

export interface SysConfig {
  /** Publish $SYS statistics every N seconds; 0 disables. */
  interval: number;
}

export interface LogConfig {
  level: LogLevel;
  /** Human-readable output; default: true when stderr is a TTY. */
  pretty: boolean;
}

export type DuplicateLoginPolicy = 'takeover' | 'reject';

export interface HttpAuthConfig {
  /** The broker POSTs {app, login, password, protocol, remoteAddress} here; answer {allow, profile, grants}. */
  url: string;
  timeoutMs: number;
  retries: number;
  cacheTtlMs: number;
  /** Deny when the hook cannot be reached (default true). */
  denyOnError: boolean;
}

export interface JwtConfig {
  /** HS256 secret (the "app secret"). */
  hs256Secret?: string;
  /** PEM public key file for RS256 / ES256. */
  publicKeyFile?: string;
  /** JWKS file (JSON) for RS256 / ES256. */
  jwksFile?: string;
}

/**
 * An application: its own namespace of topics, clients, presence and dead letters.
 * Login: MQTT client id = login id, username = appKey, password = a profile key, a JWT or a
 * password; STOMP host = appKey, login = login id, passcode = the same.
 */
export interface ApplicationConfig {
  id: string;
  appKey: string;
  /** Static profile keys; a client presenting one gets that profile. */
  profileKeys: Partial<Record<Profile, string>>;
  jwt?: JwtConfig;
  /** File of `login:PROFILE:scrypt-hash` lines (see `switchboard passwd`). */
  passwordFile?: string;
  httpAuth?: HttpAuthConfig;
  /** TLS client certificates: the certificate subject CN is the login, with this profile. */
  mtls?: { profile: Profile };
  duplicateLogin: Record<Profile, DuplicateLoginPolicy>;
  /** Ordered allow/deny rules, checked before the profile defaults. */
  acl: AclRule[];
  /** Extra topics per profile. */
  grants: Partial<Record<Profile, Grants>>;
  /** Topic filters whose subscribers are announced on `$members/<filter>`. */
  presenceTopics: string[];
}

export interface BrokerConfig {
  /** Listener URLs: mqtt://, mqtts://, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH (stomp://, stomps:// later). */
  listen: string[];
  tls: TlsConfig;
  mqtt: MqttConfig;
  stomp: StompConfig;
  limits: LimitsConfig;
  auth: AuthConfig;
  sys: SysConfig;
  cluster: ClusterConfig;
  log: LogConfig;
  /** Empty = development mode: one default application, any login accepted. */
  applications: ApplicationConfig[];
}
