/**
 * The configuration schema (zod): every layer (file, environment, flags) is validated on its
 * own, so an error names both the key and where it came from; the layers are then merged over
 * DEFAULT_CONFIG (later wins, arrays replace) and checked as a whole.
 */
import { z } from 'zod';
import { DEFAULT_CONFIG } from './defaults.js';
import type { ApplicationConfig, BrokerConfig } from './types.js';
import { isLoopback, parseListenUrl } from '../transports/listeners.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const profile = z.enum(['AGENT', 'SUPER_AGENT', 'SERVICE', 'ADMIN']);
const listenUrl = z.string().superRefine((s, ctx) => {
  try {
    parseListenUrl(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
const grants = z.strictObject({ publish: z.array(z.string()).optional(), subscribe: z.array(z.string()).optional() });
const profileMap = <T extends z.ZodType>(t: T) =>
  z.strictObject({ AGENT: t.optional(), SUPER_AGENT: t.optional(), SERVICE: t.optional(), ADMIN: t.optional() });

const application = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
  appKey: z.string().min(8, 'at least 8 characters'),
  profileKeys: profileMap(z.string().min(8, 'at least 8 characters')).default({}),
  jwt: z.strictObject({ hs256Secret: z.string().min(16, 'at least 16 characters').optional(), publicKeyFile: z.string().optional(), jwksFile: z.string().optional() }).optional(),
  passwordFile: z.string().optional(),
  httpAuth: z
    .strictObject({
      url: z.url(),
      timeoutMs: int(1, 60_000).default(2000),
      retries: int(0, 5).default(1),
      cacheTtlMs: int(0).default(10_000),
      denyOnError: z.boolean().default(true),
    })
    .optional(),
  mtls: z.strictObject({ profile }).optional(),
  duplicateLogin: profileMap(z.enum(['takeover', 'reject'])).default({}),
  acl: z
    .array(
      z.strictObject({
        permission: z.enum(['allow', 'deny']),
        action: z.enum(['publish', 'subscribe', 'all']),
        topic: z.string().min(1),
        profiles: z.array(profile).optional(),
      }),
    )
    .default([]),
  grants: profileMap(grants).default({}),
  presenceTopics: z.array(z.string().min(1)).default([]),
});

/** One layer of user configuration: everything optional, nothing unknown. */
export const layerSchema = z.strictObject({
  listen: z.array(listenUrl).min(1, 'at least one listener').optional(),
  tls: z.strictObject({ cert: z.string().optional(), key: z.string().optional(), ca: z.string().optional(), passphrase: z.string().optional() }).optional(),
  mqtt: z
    .strictObject({
      maxPacketSize: int(64, 268_435_455),
      receiveMaximum: int(1, 65_535),
      maxInflight: int(1, 65_535),
      topicAliasMaximum: int(0, 65_535),
      serverTopicAliases: int(0, 65_535),
      maxKeepAlive: int(0, 65_535),
      maxSessionExpiry: int(0, 0xffffffff),
      maxQoS: z.union([z.literal(0), z.literal(1), z.literal(2)]),
      retainAvailable: z.boolean(),
      wildcardSubscriptions: z.boolean(),
      sharedSubscriptions: z.boolean(),
      subscriptionIdentifiers: z.boolean(),
      connectTimeoutMs: int(100, 600_000),
      maxTopicLength: int(1, 65_535),
      maxTopicLevels: int(1, 65_535),
    })
    .partial()
    .optional(),
  stomp: z
    .strictObject({
      heartbeatSendMs: int(0),
      heartbeatReceiveMs: int(0),
      maxHeaderCount: int(1, 10_000),
      maxHeaderLineBytes: int(64, 1_048_576),
      maxBodyBytes: int(0, 268_435_455),
      window: int(1, 65_535),
      maxRedeliveries: int(1, 1000),
    })
    .partial()
    .optional(),
  limits: z
    .strictObject({
      maxConnections: int(1),
      maxQueuedMessages: int(1),
      maxQueuedBytes: int(1024),
      slowConsumerBytes: int(1024),
      maxRetained: int(0),
      maxRetainedPerClient: int(0),
      maxSubscriptionsPerClient: int(1),
      maxPersistentSessions: int(0),
      maxQueuedBytesPerApp: int(1024),
      memoryBudget: int(1024 * 1024),
      maxClientIdLength: int(23, 65_535),
      maxConnectionsPerAddress: int(0),
      wsPingsPerSecond: int(1, 10_000),
    })
    .partial()
    .optional(),
  auth: z
    .strictObject({
      failureWindowMs: int(1000),
      freeFailuresPerAddress: int(0),
      freeFailuresPerLogin: int(0),
      maxDelayMs: int(0, 600_000),
      maxPendingPerAddress: int(1),
      maxTokenLifetime: int(1),
      allowAnonymous: z.boolean(),
    })
    .partial()
    .optional(),
  sys: z.strictObject({ interval: int(0, 86_400) }).partial().optional(),
  cluster: z.strictObject({ workers: int(1, 32) }).partial().optional(),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), pretty: z.boolean() }).partial().optional(),
  applications: z.array(application).optional(),
});

export type ConfigLayer = z.input<typeof layerSchema>;

export interface SourcedLayer {
  /** Where the layer came from, for messages: a file path, "environment", "flags". */
  source: string;
  data: unknown;
}

function formatIssue(issue: z.core.$ZodIssue, source: string): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  return `${source}: ${path || '(root)'}: ${issue.message}`;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === undefined ? base[k] : merge(base[k], v);
  return out;
}

/** Validate each layer, merge them over the defaults (later wins), check the whole. */
export function resolveConfig(layers: SourcedLayer[]): BrokerConfig {
  let merged: unknown = structuredClone(DEFAULT_CONFIG);
  for (const layer of layers) {
    const r = layerSchema.safeParse(layer.data ?? {});
    if (!r.success) throw new ConfigError(r.error.issues.map((i) => formatIssue(i, layer.source)).join('\n'));
    merged = merge(merged, r.data);
  }
  const config = merged as BrokerConfig;
  // Cross-field checks.
  const secure = config.listen.some((u) => /^(mqtts|wss|stomps):/.test(u));
  if (secure && (!config.tls.cert || !config.tls.key)) {
    throw new ConfigError('tls.cert and tls.key: required by the mqtts://, wss:// or stomps:// listeners');
  }
  const ids = new Set<string>();
  const keys = new Set<string>();
  config.applications.forEach((a: ApplicationConfig, i) => {
    if (ids.has(a.id)) throw new ConfigError(`applications[${i}].id: duplicate application id "${a.id}"`);
    if (keys.has(a.appKey)) throw new ConfigError(`applications[${i}].appKey: two applications share this key`);
    ids.add(a.id);
    keys.add(a.appKey);
    const given: Partial<ApplicationConfig['duplicateLogin']> = a.duplicateLogin;
    a.duplicateLogin = { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover', ...given };
    const has = Object.keys(a.profileKeys).length > 0 || a.jwt || a.passwordFile || a.httpAuth || a.mtls;
    if (!has) throw new ConfigError(`applications[${i}]: no way to log in (profileKeys, jwt, passwordFile, httpAuth or mtls)`);
  });
  // Nothing admin-level is open by default: development mode stays on loopback unless asked.
  if (config.applications.length === 0 && !config.auth.allowAnonymous) {
    const exposed = config.listen.find((u) => !isLoopback(parseListenUrl(u).host));
    if (exposed !== undefined) {
      throw new ConfigError(
        `listen: ${exposed} is reachable from the network, but no application is configured (development mode accepts any login with any profile, ADMIN included). Configure applications, or set auth.allowAnonymous: true (--allow-anonymous)`,
      );
    }
  }
  return config;
}
