/**
 * HTTP auth hook: POST {app, login, password, protocol, remoteAddress} as JSON to a backend,
 * which answers {allow: boolean, profile?: string, grants?: {...}}. Timeout, retries with a
 * short backoff, a short cache of answers keyed by a SHA-256 of the credentials (the password
 * itself is never stored), deny on error unless configured otherwise.
 */
import type { LoginProtocol } from '../core/hooks.js';
import { createHash } from 'node:crypto';
import { parseProfile } from './types.js';
import type { AuthResult } from './types.js';

export interface HttpHookOptions {
  url: string;
  timeoutMs: number;
  retries: number;
  cacheTtlMs: number;
  denyOnError: boolean;
}

export interface HookRequest {
  app: string;
  login: string;
  password: string;
  protocol: LoginProtocol;
  remoteAddress: string;
}

export function createHttpAuthHook(opts: HttpHookOptions): (req: HookRequest) => Promise<AuthResult> {
  const cache = new Map<string, { at: number; result: AuthResult }>();
  return async (req) => {
    const key = createHash('sha256').update(`${req.app}\0${req.login}\0${req.password}`).digest('base64');
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < opts.cacheTtlMs) return hit.result;
    let lastError = 'no answer';
    for (let attempt = 0; attempt <= opts.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * attempt));
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(req),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
        if (!res.ok) {
          lastError = `auth hook answered HTTP ${res.status}`;
          continue;
        }
        const body = (await res.json()) as { allow?: unknown; profile?: unknown; grants?: { publish?: string[]; subscribe?: string[] } };
        let result: AuthResult;
        if (body.allow !== true) result = { ok: false, reason: 'bad-credentials', detail: 'denied by the auth hook' };
        else {
          const profile = typeof body.profile === 'string' ? parseProfile(body.profile) : 'AGENT';
          result = profile
            ? { ok: true, identity: { app: req.app, login: req.login, profile, ...(body.grants ? { grants: body.grants } : {}) } }
            : { ok: false, reason: 'not-authorized', detail: 'the auth hook named an unknown profile' };
        }
        cache.set(key, { at: Date.now(), result });
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
        return result;
      } catch (err) {
        lastError = (err as Error).name === 'TimeoutError' ? 'auth hook timed out' : `auth hook unreachable: ${(err as Error).message}`;
      }
    }
    if (!opts.denyOnError) return { ok: true, identity: { app: req.app, login: req.login, profile: 'AGENT' } };
    return { ok: false, reason: 'unavailable', detail: lastError };
  };
}
