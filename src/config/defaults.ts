import type { BrokerConfig } from './types.js';

/** Defaults for every option. Listeners bind to loopback unless authentication is configured. */
export const DEFAULT_CONFIG: BrokerConfig = {
  listen: ['mqtt://127.0.0.1:1883', 'ws://127.0.0.1:8080/mqtt', 'stomp://127.0.0.1:61613', 'ws://127.0.0.1:8080/stomp'],
  tls: {},
  mqtt: {
    maxPacketSize: 1024 * 1024, // 1 MiB
    receiveMaximum: 100,
    maxInflight: 64,
    topicAliasMaximum: 10,
    serverTopicAliases: 0,
    maxKeepAlive: 0, // no cap
    maxSessionExpiry: 7 * 24 * 3600, // 7 days
    maxQoS: 2,
    retainAvailable: true,
    wildcardSubscriptions: true,
    sharedSubscriptions: true,
    subscriptionIdentifiers: true,
    connectTimeoutMs: 10_000,
    maxTopicLength: 65_535,
    maxTopicLevels: 128,
  },
  stomp: {
    heartbeatSendMs: 10_000,
    heartbeatReceiveMs: 10_000,
    maxHeaderCount: 64,
    maxHeaderLineBytes: 8192,
    maxBodyBytes: 1024 * 1024, // 1 MiB
    window: 64,
    maxRedeliveries: 5,
  },
  limits: {
    maxConnections: 1_000_000,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 16 * 1024 * 1024, // 16 MiB
    slowConsumerBytes: 8 * 1024 * 1024, // 8 MiB unflushed
    maxRetained: 1_000_000,
    maxRetainedPerClient: 1000,
    maxSubscriptionsPerClient: 1000,
    maxPersistentSessions: 100_000,
    maxQueuedBytesPerApp: 256 * 1024 * 1024, // 256 MiB
    memoryBudget: 1024 * 1024 * 1024, // 1 GiB of message data
    maxClientIdLength: 256,
    maxConnectionsPerAddress: 0, // no limit
    wsPingsPerSecond: 10,
  },
  auth: {
    failureWindowMs: 60_000,
    freeFailuresPerAddress: 10,
    freeFailuresPerLogin: 3,
    maxDelayMs: 5_000,
    maxPendingPerAddress: 16,
    maxTokenLifetime: 30 * 24 * 3600, // 30 days
    allowAnonymous: false,
  },
  sys: { interval: 10 },
  cluster: { workers: 1 },
  log: { level: 'info', pretty: false },
  applications: [],
};
