/**
 * Embedding hooks: a backend running the broker in-process decides logins and permissions
 * itself, as the earlier systems' validator callbacks did. Every hook is optional; a missing
 * one falls back to the configuration-driven behaviour. Hooks may return a value or a Promise;
 * a synchronous answer keeps the hot path free of promises, an asynchronous one pauses that
 * client's input until it resolves (order is preserved).
 */
import type { Message } from './message.js';
import type { Principal } from './permissions.js';
import type { DropReason } from './session.js';

/** Who a client is: the one type every layer uses (hooks, sessions, permissions, listings). */
export interface ClientInfo extends Principal {
  app: string;
  protocol: 'mqtt' | 'stomp' | 'mqttsn';
  transport: string;
  remoteAddress: string;
  /** When the credentials it logged in with expire (ms since epoch; JWT `exp`): it is closed then. */
  expiresAt?: number;
}

export type MaybePromise<T> = T | Promise<T>;

/** Who asks to log in: a protocol's client, or a caller of the HTTP API. */
export type LoginProtocol = 'mqtt' | 'stomp' | 'mqttsn' | 'http';

export interface AuthenticateRequest {
  app: string | null;
  login: string;
  secret: string | null;
  protocol: LoginProtocol;
  remoteAddress: string;
}

export interface BrokerHooks {
  /** Decide a login. Return null to use the configured credentials instead. */
  authenticate?(req: AuthenticateRequest): MaybePromise<{ app: string; profile: Principal['profile']; grants?: Principal['grants'] } | false | null>;
  /** After authentication: may this client connect now? */
  authorizeConnect?(client: ClientInfo): MaybePromise<boolean>;
  authorizePublish?(client: ClientInfo, msg: Message): MaybePromise<boolean>;
  authorizeSubscribe?(client: ClientInfo, filter: string): MaybePromise<boolean>;
  authorizeUnsubscribe?(client: ClientInfo, filter: string): MaybePromise<boolean>;
  /** The client sent a clean DISCONNECT. */
  onDisconnect?(client: ClientInfo): void;
  /** The network connection closed, for any reason. */
  onConnectionClose?(client: ClientInfo, reason: string): void;
  onMessageDropped?(msg: Message, reason: DropReason, receiver: string | null): void;
}

/** The ClientInfo hooks receive, built once per connection. */
export function clientInfo(
  clientId: string,
  identity: { login: string; profile: Principal['profile']; grants?: Principal['grants']; expiresAt?: number },
  app: string,
  protocol: ClientInfo['protocol'],
  transport: string,
  remoteAddress: string,
): ClientInfo {
  const info: ClientInfo = { clientId, login: identity.login, profile: identity.profile, app, protocol, transport, remoteAddress };
  if (identity.grants) info.grants = identity.grants;
  if (identity.expiresAt !== undefined) info.expiresAt = identity.expiresAt;
  return info;
}
