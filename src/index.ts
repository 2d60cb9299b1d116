/**
 * Public API: createBroker and the types its callers see. Everything else (the router,
 * sessions, protocols) is private to the package; tests and the bench reach the core objects
 * through src/internal.ts.
 */
export { createBroker, brokerVersion } from './broker.js';
export type { Broker, BrokerOptions, ListenerAddress } from './broker.js';
export { DEFAULT_CONFIG } from './config/defaults.js';
export type { BrokerConfig } from './config/types.js';

// Embedding hooks and the message they see.
export type { AuthenticateRequest, BrokerHooks, ClientInfo, MaybePromise } from './core/hooks.js';
export type { Message, MessageMeta, QoS, Sender } from './core/message.js';
export type { Profile } from './core/permissions.js';
export type { DropReason } from './core/session.js';

// A bus of one's own between brokers (createBroker(config, { bus })): see core/bus.ts.
export type { Bus, BusHandler, Claim, NodeId, Owner, RemoteGroup, Route } from './core/bus.js';

// The admin facade (broker.admin) and the server-side actions.
export { AdminError, ADMIN_FAILURE_STATUS, DEFAULT_PAGE, MAX_PAGE } from './core/admin.js';
export type {
  AdminFailure,
  AdminFailureReason,
  AdminResult,
  AppStats,
  ApplicationAdmin,
  BrokerAdmin,
  BrokerStats,
  BudgetStats,
  ClientDetails,
  ClientFilter,
  ClientQuery,
  ClientSummary,
  DeadLetterDetails,
  DeadLetterFilter,
  DeadLetterQuery,
  DeadLetterSelection,
  DeadLetterSummary,
  DirectOptions,
  DirectResult,
  KickOptions,
  KickResult,
  Page,
  PageRequest,
  PublishOptions,
  PublishResult,
  QueueDetails,
  QueueInfo,
  QueueMember,
  QueueQuery,
  ReloadResult,
  ReplayFailure,
  ReplayOptions,
  RetainedMessage,
  RetainedQuery,
  RetainedSummary,
  SessionDetails,
  SubscribeOptions,
  SubscribeResult,
  SubscriptionEntry,
  SubscriptionInfo,
  SubscriptionQuery,
  TopicEntry,
  TopicQuery,
  WillInfo,
} from './core/admin.js';
