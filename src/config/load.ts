/** Configuration sources: a YAML/JSON file, SWITCHBOARD_* environment variables, flags. */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { isLoopback, parseListenUrl } from '../shared/listen-url.js';
import { ConfigError, configSchema } from './schema.js';
import { resolveConfig } from './resolve.js';
import type { SourcedLayer } from './resolve.js';
import { isScalar, listSettings } from './settings.js';
import type { Setting } from './settings.js';
import type { BrokerConfig } from './types.js';

export { ConfigError } from './schema.js';
export { resolveConfig } from './resolve.js';
export type { SourcedLayer } from './resolve.js';

/** Every setting of the configuration, in declaration order (settings.ts). */
export const SETTINGS: readonly Setting[] = listSettings(configSchema);

/** Environment variables that are not settings. */
export const OTHER_ENV_VARS: Readonly<Record<string, string>> = {
  SWITCHBOARD_CONFIG: 'configuration file (YAML or JSON), as --config',
  SWITCHBOARD_JWT_SECRET: '`switchboard token`: the HS256 secret, as --secret',
};

/** Every environment variable the broker reads, with what it sets (documented in --help). */
export const ENV_VARS: Readonly<Record<string, string>> = Object.fromEntries([
  ...Object.entries(OTHER_ENV_VARS),
  ...SETTINGS.flatMap((s) => s.env.map((name, i) => [name, i === 0 ? s.key : `${s.key} (short for ${s.env[0]})`] as const)),
]);

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    // YAML is a superset of JSON: one parser reads both.
    return YAML.parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML/JSON: ${(err as Error).message}`);
  }
}

const TRUE = /^(true|1|yes|on)$/i;
const FALSE = /^(false|0|no|off)$/i;

/**
 * A setting's value from the text of an environment variable or a flag: numbers and booleans
 * are parsed (a bad one is an error naming `where`), lists are comma-separated; the schema
 * checks the rest.
 */
export function parseScalar(s: Setting, raw: string, where: string): unknown {
  const text = raw.trim();
  const shown = s.meta.secret ? '***' : raw;
  const number = (): number => {
    const n = Number(text);
    if (text === '' || !Number.isFinite(n)) throw new ConfigError(`${where}: "${shown}" is not a number`);
    return n;
  };
  switch (s.kind) {
    case 'integer':
    case 'number':
      return number();
    case 'boolean':
      if (TRUE.test(text)) return true;
      if (FALSE.test(text)) return false;
      throw new ConfigError(`${where}: "${shown}" is not a boolean (true or false)`);
    case 'enum':
      return s.values?.every((v) => typeof v === 'number') ? number() : text;
    case 'list':
      return text
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}

/** Set `value` at `path` in a plain object tree, creating objects on the way. */
export function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = root;
  for (const k of path.slice(0, -1)) {
    const next = node[k];
    node = typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Record<string, unknown>) : (node[k] = {});
  }
  node[path.at(-1)!] = value;
}

/** What an environment or flag layer sets, and which variable or flag set each key. */
export interface ParsedLayer {
  data: Record<string, unknown>;
  origins: Map<string, string>;
}

/**
 * The environment layer: SWITCHBOARD_<SECTION>_<KEY> for every single-valued setting, and the
 * short aliases (SWITCHBOARD_LISTEN, SWITCHBOARD_MAX_CONNECTIONS, SWITCHBOARD_WORKERS, ...).
 * The generated name wins over an alias; empty variables are ignored.
 */
export function envLayer(env: NodeJS.ProcessEnv): ParsedLayer {
  const out: ParsedLayer = { data: {}, origins: new Map() };
  for (const s of SETTINGS) {
    const name = s.env.find((n) => env[n] !== undefined && env[n] !== '');
    if (name === undefined || !isScalar(s)) continue;
    setPath(out.data, s.path, parseScalar(s, env[name]!, `environment: ${name}`));
    out.origins.set(s.key, name);
  }
  return out;
}

/** `--set a.b.c=value`: value parsed as JSON when it parses, else taken as a string. */
export function setLayer(assignments: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new ConfigError(`flags: --set ${a}: expected key.path=value`);
    const path = a.slice(0, eq).split('.');
    const raw = a.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    setPath(out, path, value);
  }
  return out;
}

export interface LoadInput {
  configFile?: string;
  env: NodeJS.ProcessEnv;
  flags: Record<string, unknown>;
  /** Dotted key -> the flag that set it, for messages (flags.ts). */
  flagOrigins?: ReadonlyMap<string, string>;
}

function has(data: unknown, path: readonly string[]): boolean {
  let node = data;
  for (const k of path) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Record<string, unknown>)[k];
  }
  return node !== undefined;
}

/** Defaults < file < environment < flags. */
export function loadConfig(input: LoadInput): BrokerConfig {
  const layers: SourcedLayer[] = [];
  const file = input.configFile ?? input.env.SWITCHBOARD_CONFIG;
  if (file) layers.push({ source: file, data: readConfigFile(file) });
  const env = envLayer(input.env);
  layers.push({ source: 'environment', data: env.data, origins: env.origins });
  layers.push({ source: 'flags', data: input.flags, ...(input.flagOrigins ? { origins: input.flagOrigins } : {}) });
  const config = resolveConfig(layers);
  // log.pretty, when nobody set it: whether stderr is a terminal.
  if (!layers.some((l) => has(l.data, ['log', 'pretty']))) config.log.pretty = process.stderr.isTTY === true;
  return config;
}

/** Listeners on non-loopback interfaces while no authentication is configured (allowed only with auth.allowAnonymous). */
export function openListeners(config: BrokerConfig): string[] {
  if (config.applications.length > 0) return [];
  return config.listen.filter((u) => !isLoopback(parseListenUrl(u).host));
}

export function describeListener(url: string): string {
  const s = parseListenUrl(url);
  const what: Record<string, string> = {
    mqtt: 'MQTT over TCP',
    mqtts: 'MQTT over TLS',
    ws: 'MQTT/STOMP over WebSocket',
    wss: 'MQTT/STOMP over secure WebSocket',
    stomp: 'STOMP over TCP',
    stomps: 'STOMP over TLS',
  };
  return `${url}  ${what[s.scheme]}${isLoopback(s.host) ? ', loopback only' : ', reachable from the network'}`;
}
