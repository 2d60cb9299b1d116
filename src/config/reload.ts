/**
 * What a configuration reload (SIGHUP) can apply to a running broker, and what needs a restart.
 * Applied live: the applications (permissions, grants, keys, presence topics, webhooks), the TLS
 * certificate, key and CA (new handshakes), and `ws.allowedOrigins` (new upgrades). Every other
 * setting (listeners, store, cluster, limits, ...) is read once at start.
 */
import type { BrokerConfig } from './types.js';

/** Settings (or whole subtrees) a reload applies. */
export const LIVE_SETTINGS: readonly string[] = ['applications', 'tls.cert', 'tls.key', 'tls.ca', 'tls.passphrase', 'ws.allowedOrigins'];

/** The settings that differ between `running` and `next` and that only a restart applies, as dotted keys. */
export function restartNeeded(running: BrokerConfig, next: BrokerConfig): string[] {
  const out: string[] = [];
  diff(running, next, '', out);
  return out;
}

/** The configuration in force after reloading `next`: its live settings, and `running`'s for the rest. */
export function applied(running: BrokerConfig, next: BrokerConfig, restart: readonly string[]): BrokerConfig {
  const out = structuredClone(next) as unknown as Record<string, unknown>;
  for (const key of restart) {
    const parts = key.split('.');
    let from: unknown = running;
    let to: Record<string, unknown> = out;
    for (let i = 0; i < parts.length - 1; i++) {
      from = isObject(from) ? from[parts[i]!] : undefined;
      const child = to[parts[i]!];
      if (!isObject(child)) break;
      to = child;
    }
    const last = parts[parts.length - 1]!;
    const value = isObject(from) ? from[last] : undefined;
    if (value === undefined) delete to[last];
    else to[last] = structuredClone(value);
  }
  return out as unknown as BrokerConfig;
}

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (LIVE_SETTINGS.includes(path)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], path === '' ? k : `${path}.${k}`, out);
    return;
  }
  // Leaves and lists are compared whole (a listener list is one setting).
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
