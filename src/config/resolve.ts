/**
 * Layers of configuration (file, environment, flags) are validated each on its own, so an error
 * names both the key and where it came from; they are then merged over DEFAULT_CONFIG (later
 * wins, arrays replace) and checked as a whole.
 */
import { z } from 'zod';
import { isLoopback, parseListenUrl } from '../shared/listen-url.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { ConfigError, configSchema } from './schema.js';
import { unwrap } from './settings.js';
import type { ApplicationConfig, BrokerConfig } from './types.js';

type DeepPartial<T> = T extends ReadonlyArray<unknown> ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** One layer of user configuration: everything optional, nothing unknown. */
export type ConfigLayer = DeepPartial<z.input<typeof configSchema>>;

/**
 * The schema of one layer, derived from the full one: the same settings, every one optional
 * and without its default (a layer says only what it sets). Applications are validated whole,
 * with the defaults of their own fields.
 */
function layerOf(schema: z.ZodType): z.ZodType {
  const u = unwrap(schema);
  if (u.inner instanceof z.ZodObject && (!u.meta || u.meta.section)) {
    const shape: Record<string, z.ZodType> = {};
    for (const [k, v] of Object.entries(u.inner.shape as Record<string, z.ZodType>)) shape[k] = layerOf(v).optional();
    return z.strictObject(shape);
  }
  return u.inner;
}

export const layerSchema = layerOf(configSchema) as z.ZodType<ConfigLayer>;

export interface SourcedLayer {
  /** Where the layer came from, for messages: a file path, "environment", "flags". */
  source: string;
  data: unknown;
  /** Dotted key -> what set it in this layer (an environment variable, a flag), for messages. */
  origins?: ReadonlyMap<string, string>;
}

function formatIssue(issue: z.core.$ZodIssue, layer: SourcedLayer): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  let origin: string | undefined;
  for (let n = issue.path.length; n > 0 && origin === undefined; n--) origin = layer.origins?.get(issue.path.slice(0, n).map(String).join('.'));
  return `${layer.source}: ${origin !== undefined ? `${origin}: ` : ''}${path || '(root)'}: ${issue.message}`;
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
    if (!r.success) throw new ConfigError(r.error.issues.map((i) => formatIssue(i, layer)).join('\n'));
    merged = merge(merged, r.data);
  }
  const config = merged as BrokerConfig;
  const r = config.cluster.redis;
  const redis = r.url !== undefined || r.nodes !== undefined || r.sentinels !== undefined;
  // store.type, when nobody set it: the nodes of a Redis cluster keep their sessions in Redis.
  if (redis && !layers.some((l) => isObject(l.data) && isObject(l.data.store) && l.data.store.type !== undefined)) config.store.type = 'redis';
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
  const ways = [r.url !== undefined && 'url', r.nodes !== undefined && 'nodes', r.sentinels !== undefined && 'sentinels'].filter(Boolean);
  if (ways.length > 1) throw new ConfigError(`cluster.redis: set one of url, nodes or sentinels, not ${ways.join(' and ')}`);
  if (config.store.type === 'redis' && !redis) throw new ConfigError('store.type: redis needs cluster.redis (url, nodes or sentinels)');
  // One process owns a SQLite data directory: worker processes cannot share it.
  if (config.cluster.workers > 1 && config.store.type === 'sqlite') {
    throw new ConfigError(
      'cluster.workers: several worker processes cannot share one SQLite store (store.type sqlite, the default): run one process, or set store.type: memory (--set store.type=memory) to run workers without persistence',
    );
  }
  return config;
}
