import { configSchema } from './schema.js';
import type { BrokerConfig } from './types.js';

/**
 * Defaults for every option, as declared in the schema (schema.ts). Listeners bind to loopback
 * unless authentication is configured.
 */
export const DEFAULT_CONFIG: BrokerConfig = structuredClone(configSchema.parse({}));
