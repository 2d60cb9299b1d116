/**
 * JWT verification for logins: HS256 with the application secret, RS256 / ES256 with a
 * configured public key or a JWKS file. Only the configured algorithms are accepted (never
 * "none"). Claims: sub (login id), app, profile, exp (required, at most `maxLifetimeSec` ahead),
 * optional grants.
 * Uses node:crypto directly: three algorithms and a compact JWS need no dependency.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseProfile } from './types.js';
import type { AuthResult } from './types.js';

export interface JwtVerifierOptions {
  app: string;
  hs256Secret?: string;
  /** PEM public key (RSA for RS256, EC P-256 for ES256). */
  publicKeyPem?: string;
  jwksFile?: string;
  clockToleranceSec?: number;
  /** Refuse a token whose exp lies further ahead than this, seconds (config auth.maxTokenLifetime). */
  maxLifetimeSec?: number;
  now?: () => number;
}

/** The largest time a Date (and so an expiry) can hold, ms since epoch. */
const MAX_TIME_MS = 8.64e15;

interface Header {
  alg?: string;
  kid?: string;
}

interface Claims {
  sub?: unknown;
  app?: unknown;
  profile?: unknown;
  exp?: unknown;
  nbf?: unknown;
  grants?: { publish?: unknown; subscribe?: unknown };
}

function b64json<T>(s: string): T | null {
  try {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as T;
  } catch {
    return null;
  }
}

/** The `sub` claim of a token, unverified (to name the login the verifier then checks it for); null when there is none. */
export function jwtSubject(token: string): string | null {
  const payload = token.split('.')[1];
  const claims = payload === undefined ? null : b64json<{ sub?: unknown }>(payload);
  return typeof claims?.sub === 'string' ? claims.sub : null;
}

function keyAlg(k: KeyObject): 'RS256' | 'ES256' | null {
  if (k.asymmetricKeyType === 'rsa') return 'RS256';
  if (k.asymmetricKeyType === 'ec') return 'ES256';
  return null;
}

export function createJwtVerifier(opts: JwtVerifierOptions): (token: string, expectedLogin: string | null) => Promise<AuthResult> {
  const keys: Array<{ kid?: string; key: KeyObject }> = [];
  if (opts.publicKeyPem) keys.push({ key: createPublicKey(opts.publicKeyPem) });
  if (opts.jwksFile) {
    const jwks = JSON.parse(readFileSync(opts.jwksFile, 'utf8')) as { keys?: Array<Record<string, unknown>> };
    for (const jwk of jwks.keys ?? []) {
      const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      keys.push(typeof jwk.kid === 'string' ? { kid: jwk.kid, key } : { key });
    }
  }
  const secret = opts.hs256Secret !== undefined ? Buffer.from(opts.hs256Secret) : null;
  const tolerance = opts.clockToleranceSec ?? 5;
  const now = opts.now ?? Date.now;
  const bad = (detail: string): AuthResult => ({ ok: false, reason: 'bad-credentials', detail });

  return async (token, expectedLogin) => {
    const parts = token.split('.');
    if (parts.length !== 3) return bad('not a JWT');
    const [h, p, sig] = parts as [string, string, string];
    const header = b64json<Header>(h);
    const claims = b64json<Claims>(p);
    if (!header || !claims) return bad('undecodable JWT');
    const signed = Buffer.from(`${h}.${p}`);
    const signature = Buffer.from(sig, 'base64url');
    let valid = false;
    if (header.alg === 'HS256' && secret !== null) {
      const mac = createHmac('sha256', secret).update(signed).digest();
      valid = mac.length === signature.length && timingSafeEqual(mac, signature);
    } else if (header.alg === 'RS256' || header.alg === 'ES256') {
      for (const k of keys) {
        if (header.kid !== undefined && k.kid !== undefined && k.kid !== header.kid) continue;
        if (keyAlg(k.key) !== header.alg) continue;
        const ok = cryptoVerify('sha256', signed, header.alg === 'ES256' ? { key: k.key, dsaEncoding: 'ieee-p1363' } : k.key, signature);
        if (ok) {
          valid = true;
          break;
        }
      }
    } else return bad(`algorithm ${String(header.alg)} is not accepted`);
    if (!valid) return bad('invalid JWT signature');
    const t = now() / 1000;
    const exp = claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return bad('JWT without a valid exp');
    if (exp * 1000 > MAX_TIME_MS) return bad('JWT exp out of range');
    if (exp + tolerance < t) return { ok: false, reason: 'expired', detail: 'JWT expired' };
    if (opts.maxLifetimeSec !== undefined && exp - tolerance - t > opts.maxLifetimeSec) return bad('JWT lifetime longer than allowed');
    if (typeof claims.nbf === 'number' && claims.nbf - tolerance > t) return bad('JWT not yet valid');
    if (claims.app !== opts.app) return { ok: false, reason: 'not-authorized', detail: 'JWT for another application' };
    if (typeof claims.sub !== 'string' || (expectedLogin !== null && claims.sub !== expectedLogin)) {
      return { ok: false, reason: 'not-authorized', detail: 'JWT subject does not match the login' };
    }
    const profile = typeof claims.profile === 'string' ? parseProfile(claims.profile) : null;
    if (!profile) return bad('JWT without a valid profile');
    const list = (x: unknown): string[] | undefined => (Array.isArray(x) && x.every((s) => typeof s === 'string') ? (x as string[]) : undefined);
    const grants: { publish?: string[]; subscribe?: string[] } = {};
    const gp = list(claims.grants?.publish);
    const gs = list(claims.grants?.subscribe);
    if (gp) grants.publish = gp;
    if (gs) grants.subscribe = gs;
    return {
      ok: true,
      identity: { app: opts.app, login: claims.sub, profile, expiresAt: Math.floor(exp * 1000), ...(gp || gs ? { grants } : {}) },
    };
  };
}

/** Mint an HS256 token (the `switchboard token` command, tests, backends without a JWT library). */
export function signHs256(claims: Record<string, unknown>, secret: string, ttlSec: number, now = Date.now()): string {
  const enc = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ ...claims, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + ttlSec })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
