/**
 * Who is calling the HTTP API: the same credentials as a client login (auth/authenticate.ts),
 * through the same Authenticator (constant-time key compare, failed attempts slowed down per
 * address and login):
 *
 *   Authorization: Basic base64(<app key>:<profile key>)          login "http"
 *   Authorization: Bearer <JWT of the application>, X-App-Key: <app key>   login = the token's sub
 *
 * Development mode (no application configured) accepts a profile name as the key, as the
 * protocols do, but only from a loopback address: nothing is open to the network without a key.
 */
import type http from 'node:http';
import type { Authenticator } from '../auth/authenticate.js';
import { jwtSubject } from '../auth/jwt.js';
import type { Application } from '../core/application.js';
import type { Profile } from '../core/permissions.js';
import { PROFILE_RANK } from '../core/permissions.js';
import { isLoopback } from '../shared/listen-url.js';
import { HttpError } from './errors.js';

export interface Caller {
  app: Application;
  login: string;
  profile: Profile;
  remoteAddress: string;
}

/** The login of a request authenticated with a profile key. */
export const HTTP_LOGIN = 'http';

function header(req: http.IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' ? v : null;
}

export async function authenticate(auth: Authenticator, req: http.IncomingMessage): Promise<Caller> {
  const remoteAddress = req.socket.remoteAddress ?? '';
  const h = header(req, 'authorization');
  if (h === null) throw new HttpError('SB_ERR_BAD_CREDENTIALS', 'an Authorization header is required (Basic app key:profile key, or Bearer JWT with X-App-Key)');
  let appKey: string | null;
  let login: string;
  let secret: string;
  const space = h.indexOf(' ');
  const scheme = h.slice(0, space < 0 ? h.length : space).toLowerCase();
  const value = space < 0 ? '' : h.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new HttpError('SB_ERR_BAD_CREDENTIALS', 'Basic credentials must be <app key>:<profile key>');
    appKey = decoded.slice(0, colon);
    secret = decoded.slice(colon + 1);
    login = HTTP_LOGIN;
  } else if (scheme === 'bearer') {
    appKey = header(req, 'x-app-key');
    secret = value;
    login = jwtSubject(value) ?? '';
    if (appKey === null && !auth.developmentMode) throw new HttpError('SB_ERR_BAD_CREDENTIALS', 'a Bearer token needs the X-App-Key header');
  } else throw new HttpError('SB_ERR_BAD_AUTH_METHOD', `unsupported authorization scheme "${scheme}"`);
  if (auth.developmentMode && !isLoopback(remoteAddress)) throw new HttpError('SB_ERR_NOT_AUTHORIZED', 'development mode (no application configured) serves the HTTP API to loopback addresses only');
  const outcome = await auth.login({ protocol: 'http', transport: 'http', appKey, login, secret, remoteAddress });
  if (!outcome.ok) throw new HttpError(outcome.code, outcome.detail);
  return { app: outcome.app, login: outcome.identity.login, profile: outcome.identity.profile, remoteAddress };
}

/** At least `min` (ADMIN > SERVICE > SUPER_AGENT > AGENT). */
export function requireProfile(caller: Caller, min: Profile): void {
  if (PROFILE_RANK[caller.profile] < PROFILE_RANK[min]) throw new HttpError('SB_ERR_NOT_AUTHORIZED', `this needs the ${min} profile; the key is ${caller.profile}`);
}
