/** Configuration sources: a YAML/JSON file, SWITCHBOARD_* environment variables, flags. */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { ConfigError, resolveConfig } from './schema.js';
import type { SourcedLayer } from './schema.js';
import type { BrokerConfig } from './types.js';
import { isLoopback, parseListenUrl } from '../transports/listeners.js';

/** Environment variables for the common settings (documented in --help). */
export const ENV_VARS: Record<string, string> = {
  SWITCHBOARD_CONFIG: 'configuration file (YAML or JSON)',
  SWITCHBOARD_LISTEN: 'listener URLs, comma-separated',
  SWITCHBOARD_LOG_LEVEL: 'fatal|error|warn|info|debug|trace|silent',
  SWITCHBOARD_LOG_PRETTY: 'true|false: human-readable logs',
  SWITCHBOARD_TLS_CERT: 'TLS certificate (PEM file)',
  SWITCHBOARD_TLS_KEY: 'TLS private key (PEM file)',
  SWITCHBOARD_TLS_CA: 'CA bundle for client certificates (PEM file)',
  SWITCHBOARD_MAX_CONNECTIONS: 'limits.maxConnections',
  SWITCHBOARD_MAX_PACKET_SIZE: 'mqtt.maxPacketSize (bytes)',
  SWITCHBOARD_SYS_INTERVAL: 'sys.interval (seconds, 0 = off)',
  SWITCHBOARD_WORKERS: 'cluster.workers (broker processes, experimental)',
  SWITCHBOARD_ALLOW_ANONYMOUS: 'auth.allowAnonymous: true = development mode may listen beyond loopback',
};

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

function num(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`environment: ${name}: "${v}" is not a number`);
  return n;
}

export function envLayer(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, Record<string, unknown> | unknown> = {};
  const section = (k: string): Record<string, unknown> => (out[k] ??= {}) as Record<string, unknown>;
  if (env.SWITCHBOARD_LISTEN) out.listen = env.SWITCHBOARD_LISTEN.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.SWITCHBOARD_LOG_LEVEL) section('log').level = env.SWITCHBOARD_LOG_LEVEL;
  if (env.SWITCHBOARD_LOG_PRETTY) section('log').pretty = env.SWITCHBOARD_LOG_PRETTY === 'true' || env.SWITCHBOARD_LOG_PRETTY === '1';
  if (env.SWITCHBOARD_TLS_CERT) section('tls').cert = env.SWITCHBOARD_TLS_CERT;
  if (env.SWITCHBOARD_TLS_KEY) section('tls').key = env.SWITCHBOARD_TLS_KEY;
  if (env.SWITCHBOARD_TLS_CA) section('tls').ca = env.SWITCHBOARD_TLS_CA;
  if (env.SWITCHBOARD_MAX_CONNECTIONS) section('limits').maxConnections = num('SWITCHBOARD_MAX_CONNECTIONS', env.SWITCHBOARD_MAX_CONNECTIONS);
  if (env.SWITCHBOARD_MAX_PACKET_SIZE) section('mqtt').maxPacketSize = num('SWITCHBOARD_MAX_PACKET_SIZE', env.SWITCHBOARD_MAX_PACKET_SIZE);
  if (env.SWITCHBOARD_SYS_INTERVAL) section('sys').interval = num('SWITCHBOARD_SYS_INTERVAL', env.SWITCHBOARD_SYS_INTERVAL);
  if (env.SWITCHBOARD_WORKERS) section('cluster').workers = num('SWITCHBOARD_WORKERS', env.SWITCHBOARD_WORKERS);
  if (env.SWITCHBOARD_ALLOW_ANONYMOUS) section('auth').allowAnonymous = env.SWITCHBOARD_ALLOW_ANONYMOUS === 'true' || env.SWITCHBOARD_ALLOW_ANONYMOUS === '1';
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
    let node = out;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = value;
  }
  return out;
}

export interface LoadInput {
  configFile?: string;
  env: NodeJS.ProcessEnv;
  flags: Record<string, unknown>;
}

/** Defaults < file < environment < flags. */
export function loadConfig(input: LoadInput): BrokerConfig {
  const layers: SourcedLayer[] = [];
  const file = input.configFile ?? input.env.SWITCHBOARD_CONFIG;
  if (file) layers.push({ source: file, data: readConfigFile(file) });
  layers.push({ source: 'environment', data: envLayer(input.env) });
  layers.push({ source: 'flags', data: input.flags });
  const config = resolveConfig(layers);
  if (input.env.SWITCHBOARD_LOG_PRETTY === undefined && (input.flags.log as { pretty?: boolean } | undefined)?.pretty === undefined) {
    const fromFile = file ? ((readConfigFile(file) as { log?: { pretty?: boolean } }).log?.pretty ?? undefined) : undefined;
    if (fromFile === undefined) config.log.pretty = process.stderr.isTTY === true;
  }
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
