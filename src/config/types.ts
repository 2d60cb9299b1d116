/**
 * The resolved broker configuration: what `createBroker` takes after defaults are applied.
 * Derived from the schema (schema.ts), where every field is declared, bounded and described
 * once; see docs/configuration.md or `switchboard --help` for the descriptions and defaults.
 */
import type { z } from 'zod';
import type {
  aclRuleSchema,
  applicationSchema,
  authSchema,
  clusterSchema,
  configSchema,
  duplicateLoginPolicySchema,
  httpAuthSchema,
  jwtSchema,
  limitsSchema,
  logLevelSchema,
  logSchema,
  mqttSchema,
  mqttsnSchema,
  stompSchema,
  storeSchema,
  sysSchema,
  tlsSchema,
  webhookEventSchema,
  webhookSchema,
  wsSchema,
} from './schema.js';

export type LogLevel = z.output<typeof logLevelSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;
export type MqttConfig = z.output<typeof mqttSchema>;
export type MqttSnConfig = z.output<typeof mqttsnSchema>;
export type LimitsConfig = z.output<typeof limitsSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type StompConfig = z.output<typeof stompSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type SysConfig = z.output<typeof sysSchema>;
export type WsConfig = z.output<typeof wsSchema>;
export type LogConfig = z.output<typeof logSchema>;
export type DuplicateLoginPolicy = z.output<typeof duplicateLoginPolicySchema>;
export type HttpAuthConfig = z.output<typeof httpAuthSchema>;
export type JwtConfig = z.output<typeof jwtSchema>;
export type AclRuleConfig = z.output<typeof aclRuleSchema>;
export type WebhookConfig = z.output<typeof webhookSchema>;
export type WebhookEventName = z.output<typeof webhookEventSchema>;
/**
 * An application: its own namespace of topics, clients, presence and dead letters.
 * Login: MQTT client id = login id, username = appKey, password = a profile key, a JWT or a
 * password; STOMP host = appKey, login = login id, passcode = the same.
 */
export type ApplicationConfig = z.output<typeof applicationSchema>;
export type BrokerConfig = z.output<typeof configSchema>;
