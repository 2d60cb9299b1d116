/** Secrets are never printed: the settings marked `secret` in the schema are shown as ***. */
import { z } from 'zod';
import { configSchema } from './schema.js';
import { unwrap } from './settings.js';
import type { BrokerConfig } from './types.js';

export const REDACTED = '***';

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Mask, in place, the secrets of `value` as `schema` marks them. */
function mask(schema: z.ZodType, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  const u = unwrap(schema);
  if (u.meta?.secret) {
    if (!isObject(value)) return REDACTED;
    for (const k of Object.keys(value)) if (value[k] !== undefined) value[k] = REDACTED; // a map of secrets
    return value;
  }
  if (u.inner instanceof z.ZodObject && isObject(value)) {
    for (const [k, s] of Object.entries(u.inner.shape as Record<string, z.ZodType>)) if (k in value) value[k] = mask(s, value[k]);
    return value;
  }
  if (u.inner instanceof z.ZodArray && Array.isArray(value)) {
    const element = u.inner.element as z.ZodType;
    return value.map((v: unknown) => mask(element, v));
  }
  return value;
}

/** A copy of the configuration with every secret replaced by ***. */
export function redact(config: BrokerConfig): BrokerConfig {
  return mask(configSchema, structuredClone(config)) as BrokerConfig;
}
