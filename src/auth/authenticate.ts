/**
 * Login: (app key, login id, secret) -> application + identity, the same for MQTT and STOMP.
 *
 *   MQTT   client id = login id, username = app key, password = secret
 *   STOMP  host = app key, login = login id, passcode = secret
 *
 * The secret is tried, in order, as: a static profile key of the application (constant-time
 * compare), a JWT (when the application configures one and the secret looks like one), an
 * entry of the application's password file, the application's HTTP auth hook. A TLS client
 * certificate (mTLS, where configured) logs in its subject CN without a secret.
 * Failed logins are answered late and concurrent logins per address are capped (throttle.ts);
 * secrets are never logged.
 *
 * Development mode (no application configured): one open application, any login accepted;
 * the profile is the secret when it names one ("admin", "service", ...), else AGENT.
 */
import { readFileSync } from 'node:fs';
import type { Application } from '../core/application.js';
import type { Grants, Profile } from '../core/permissions.js';
import type { AuthConfig } from '../config/types.js';
import type { ErrorCode } from '../errors/catalogue.js';
import { clientInfo } from '../core/hooks.js';
import type { BrokerHooks, LoginProtocol } from '../core/hooks.js';
import { createJwtVerifier } from './jwt.js';
import { createHttpAuthHook } from './http-hook.js';
import { loadPasswordFile, safeEqual, verifyPassword } from './passwords.js';
import { LoginThrottle } from './throttle.js';
import { parseProfile } from './types.js';
import type { AuthResult } from './types.js';

export interface LoginRequest {
  protocol: LoginProtocol;
  transport: string;
  appKey: string | null;
  login: string;
  secret: string | null;
  remoteAddress: string;
  /** Subject CN of a verified TLS client certificate. */
  certificateCN?: string;
}

export interface LoginIdentity {
  login: string;
  profile: Profile;
  grants?: Grants;
  /** When the credentials stop being valid, ms since epoch (a JWT's exp): close the connection then. */
  expiresAt?: number;
}

export type LoginOutcome =
  | { ok: true; app: Application; identity: LoginIdentity }
  | { ok: false; code: ErrorCode; detail: string };

type Verifier = (token: string, login: string | null) => Promise<AuthResult>;
type Hook = (req: { app: string; login: string; password: string; protocol: LoginProtocol; remoteAddress: string }) => Promise<AuthResult>;

interface AppAuth {
  app: Application;
  jwt: Verifier | null;
  hook: Hook | null;
  passwords: Map<string, { profile: Profile; hash: string }> | null;
}

/** Login throttling and token rules (config `auth`); `now` and `maxEntries` for tests. */
export type AuthSettings = AuthConfig & { now?: () => number; maxEntries?: number };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const PROFILE_ORDER: Profile[] = ['ADMIN', 'SERVICE', 'SUPER_AGENT', 'AGENT'];
/** The answer when an address already has its maximum of logins pending (shared: never mutated). */
const BUSY: LoginOutcome = { ok: false, code: 'SB_ERR_SERVER_BUSY', detail: 'too many logins in progress from this address' };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class Authenticator {
  private byKey = new Map<string, AppAuth>();
  readonly throttle: LoginThrottle;
  /** Logins refused so far (metrics). */
  failures = 0;

  constructor(
    private apps: Application[],
    private readonly dev: Application | null,
    private readonly hook: BrokerHooks['authenticate'] | undefined,
    private readonly byId: ReadonlyMap<string, Application> | undefined,
    private readonly settings: AuthSettings,
  ) {
    this.throttle = new LoginThrottle({
      windowMs: settings.failureWindowMs,
      freeFailuresPerAddress: settings.freeFailuresPerAddress,
      freeFailuresPerLogin: settings.freeFailuresPerLogin,
      maxDelayMs: settings.maxDelayMs,
      maxPendingPerAddress: settings.maxPendingPerAddress,
      ...(settings.now !== undefined ? { now: settings.now } : {}),
      ...(settings.maxEntries !== undefined ? { maxEntries: settings.maxEntries } : {}),
    });
    this.rebuild(apps);
  }

  /** (Re)build per-application verifiers (startup and config reload). */
  rebuild(apps: Application[]): void {
    this.apps = apps;
    const next = new Map<string, AppAuth>();
    for (const app of apps) {
      const c = app.config!;
      const jwt = c.jwt
        ? createJwtVerifier({
            app: c.id,
            ...(c.jwt.hs256Secret !== undefined ? { hs256Secret: c.jwt.hs256Secret } : {}),
            ...(c.jwt.publicKeyFile !== undefined ? { publicKeyPem: readText(c.jwt.publicKeyFile) } : {}),
            ...(c.jwt.jwksFile !== undefined ? { jwksFile: c.jwt.jwksFile } : {}),
            maxLifetimeSec: this.settings.maxTokenLifetime,
            ...(this.settings.now !== undefined ? { now: this.settings.now } : {}),
          })
        : null;
      const hook = c.httpAuth ? createHttpAuthHook(c.httpAuth) : null;
      const passwords = c.passwordFile ? loadPasswordFile(c.passwordFile) : null;
      next.set(c.appKey, { app, jwt, hook, passwords });
    }
    this.byKey = next;
  }

  /** Whether any application is configured (else development mode). */
  get developmentMode(): boolean {
    return this.dev !== null;
  }

  /**
   * Authenticate, then ask the application's authorizeConnect hook (if any); answer when the
   * caller should: a failure comes back only after the throttle's delay (as a Promise).
   * From an address with `maxPendingPerAddress` logins pending: SB_ERR_SERVER_BUSY at once,
   * nothing verified. A synchronous success (profile key) is never pending: no Promise, no timer.
   */
  login(req: LoginRequest): LoginOutcome | Promise<LoginOutcome> {
    // Before any verification, so that a busy answer says nothing about the secret.
    if (this.throttle.full(req.remoteAddress)) return BUSY;
    const authenticated = this.authenticate(req);
    if (authenticated instanceof Promise) return this.pending(req, authenticated.then((o) => this.authorizeConnect(req, o)));
    const outcome = this.authorizeConnect(req, authenticated);
    if (outcome instanceof Promise) return this.pending(req, outcome);
    if (outcome.ok || this.throttle.delayFor(req.remoteAddress, req.login) === 0) return outcome;
    return this.pending(req, Promise.resolve(outcome));
  }

  /** Holds a pending slot of the address from now until the outcome may be answered. */
  private async pending(req: LoginRequest, decided: Promise<LoginOutcome>): Promise<LoginOutcome> {
    const address = req.remoteAddress;
    this.throttle.acquire(address);
    try {
      const outcome = await decided;
      if (!outcome.ok) {
        const delay = this.throttle.delayFor(address, req.login);
        if (delay > 0) await sleep(delay);
      }
      return outcome;
    } finally {
      this.throttle.release(address);
    }
  }

  private authorizeConnect(req: LoginRequest, o: LoginOutcome): LoginOutcome | Promise<LoginOutcome> {
    if (!o.ok) return o;
    const hook = o.app.hooks.authorizeConnect;
    // An HTTP API call is no connection: its profile decides (src/http/auth.ts).
    if (hook === undefined || req.protocol === 'http') return o;
    const info = clientInfo(req.login, o.identity, o.app.id, req.protocol, req.transport, req.remoteAddress);
    const decide = (ok: boolean): LoginOutcome => (ok ? o : { ok: false, code: 'SB_ERR_NOT_AUTHORIZED', detail: 'refused by the authorizeConnect hook' });
    const r = hook(info);
    return r instanceof Promise ? r.then(decide, () => decide(false)) : decide(r);
  }

  private authenticate(req: LoginRequest): LoginOutcome | Promise<LoginOutcome> {
    if (this.hook !== undefined) {
      const r = this.hook({ app: req.appKey, login: req.login, secret: req.secret, protocol: req.protocol, remoteAddress: req.remoteAddress });
      if (r instanceof Promise) return r.then((x) => this.fromHook(req, x));
      return this.fromHook(req, r);
    }
    return this.builtIn(req);
  }

  /** An embedding hook decided (or passed with null). */
  private fromHook(req: LoginRequest, r: { app: string; profile: Profile; grants?: Grants } | false | null): LoginOutcome | Promise<LoginOutcome> {
    if (r === null) return this.builtIn(req);
    if (r === false) return this.failed(req, 'SB_ERR_BAD_CREDENTIALS', 'refused by the authenticate hook');
    const app = this.byId?.get(r.app) ?? (this.dev !== null && r.app === this.dev.id ? this.dev : undefined);
    if (!app) return this.failed(req, 'SB_ERR_NOT_AUTHORIZED', `the authenticate hook named unknown application "${r.app}"`);
    const identity: LoginIdentity = { login: req.login, profile: r.profile };
    if (r.grants) identity.grants = r.grants;
    return this.succeeded(req, app, identity);
  }

  private builtIn(req: LoginRequest): LoginOutcome | Promise<LoginOutcome> {
    if (this.dev !== null) {
      const profile = (req.secret !== null ? parseProfile(req.secret) : null) ?? 'AGENT';
      return { ok: true, app: this.dev, identity: { login: req.login, profile } };
    }
    const entry = req.appKey !== null ? this.findApp(req.appKey) : undefined;
    if (entry === undefined) return this.failed(req, 'SB_ERR_BAD_CREDENTIALS', 'unknown application key');
    const { app } = entry;
    const c = app.config!;
    if (req.login.length === 0) return this.failed(req, 'SB_ERR_CLIENT_ID', 'a login id (client identifier) is required');
    if (req.certificateCN !== undefined && c.mtls) {
      if (req.certificateCN === req.login) return this.succeeded(req, app, { login: req.login, profile: c.mtls.profile });
      return this.failed(req, 'SB_ERR_NOT_AUTHORIZED', 'certificate subject does not match the login');
    }
    const secret = req.secret;
    if (secret === null || secret.length === 0) return this.failed(req, 'SB_ERR_BAD_CREDENTIALS', 'no credentials');
    for (const p of PROFILE_ORDER) {
      const key = c.profileKeys[p];
      if (key !== undefined && safeEqual(secret, key)) return this.succeeded(req, app, { login: req.login, profile: p });
    }
    return this.slowPath(req, entry, secret);
  }

  private async slowPath(req: LoginRequest, entry: AppAuth, secret: string): Promise<LoginOutcome> {
    const { app } = entry;
    if (entry.jwt !== null && JWT_SHAPE.test(secret)) {
      const r = await entry.jwt(secret, req.login);
      return this.result(req, app, r);
    }
    const pw = entry.passwords?.get(req.login);
    if (pw !== undefined) {
      if (await verifyPassword(secret, pw.hash)) return this.succeeded(req, app, { login: req.login, profile: pw.profile });
      return this.failed(req, 'SB_ERR_BAD_CREDENTIALS', 'wrong password');
    }
    if (entry.hook !== null) {
      const r = await entry.hook({ app: app.id, login: req.login, password: secret, protocol: req.protocol, remoteAddress: req.remoteAddress });
      return this.result(req, app, r);
    }
    return this.failed(req, 'SB_ERR_BAD_CREDENTIALS', 'bad credentials');
  }

  private result(req: LoginRequest, app: Application, r: AuthResult): LoginOutcome {
    if (r.ok) {
      if (r.identity.login !== req.login) return this.failed(req, 'SB_ERR_NOT_AUTHORIZED', 'credentials are for another login');
      const identity: LoginIdentity = { login: r.identity.login, profile: r.identity.profile };
      if (r.identity.grants !== undefined) identity.grants = r.identity.grants;
      if (r.identity.expiresAt !== undefined) identity.expiresAt = r.identity.expiresAt;
      return this.succeeded(req, app, identity);
    }
    const code: ErrorCode = r.reason === 'unavailable' ? 'SB_ERR_SERVER_UNAVAILABLE' : r.reason === 'not-authorized' ? 'SB_ERR_NOT_AUTHORIZED' : 'SB_ERR_BAD_CREDENTIALS';
    return this.failed(req, code, r.detail);
  }

  private findApp(key: string): AppAuth | undefined {
    // Constant-time over all applications so timing does not reveal which keys exist.
    let found: AppAuth | undefined;
    for (const [k, v] of this.byKey) if (safeEqual(key, k)) found = v;
    return found;
  }

  /** A success resets no failure counter (throttle.ts). */
  private succeeded(_req: LoginRequest, app: Application, identity: LoginIdentity): LoginOutcome {
    return { ok: true, app, identity };
  }

  private failed(req: LoginRequest, code: ErrorCode, detail: string): LoginOutcome {
    this.failures++;
    this.throttle.fail(req.remoteAddress, req.login);
    return { ok: false, code, detail };
  }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
