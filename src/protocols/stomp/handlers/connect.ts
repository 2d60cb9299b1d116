/** CONNECT / STOMP -> CONNECTED (STOMP 1.2 "Connecting", "Protocol Negotiation", "Heart-beating"). */
import type { LoginOutcome } from '../../../auth/authenticate.js';
import { clientInfo } from '../../../core/hooks.js';
import type { ClientInfo } from '../../../core/hooks.js';
import { loginIdProblem } from '../../../core/identity.js';
import { isRefusal, openClient } from '../../../core/clients.js';
import type { Client, ConnectAttempt, Refusal } from '../../../core/clients.js';
import type { StompConnection, StompVersion } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

const SUPPORTED: StompVersion[] = ['1.2', '1.1', '1.0'];

/** Who asks to connect, for a 'client refused' line: the version once negotiated, the identity once the login is decided. */
function attempt(c: StompConnection, login: string, version: StompVersion | undefined, info?: ClientInfo): ConnectAttempt {
  const who: ConnectAttempt = { clientId: login, protocol: 'stomp', transport: c.conn.transport, remoteAddress: c.conn.remoteAddress };
  if (version !== undefined) who.protocolVersion = version;
  if (info !== undefined) who.info = info;
  return who;
}

export function handleConnect(c: StompConnection, f: StompFrame): void {
  const ctx = c.ctx;
  const given = header(f, 'login') ?? '';
  const login = given.length > 0 ? given : `stomp-${c.sessionId}`;
  // accept-version absent = 1.0 (STOMP 1.2 "Protocol Negotiation").
  const offered = (header(f, 'accept-version') ?? '1.0').split(',').map((v) => v.trim());
  const version = SUPPORTED.find((v) => offered.includes(v));
  if (version === undefined) {
    const supported = SUPPORTED.slice().reverse();
    c.refuse(attempt(c, login, undefined), 'SB_ERR_UNSUPPORTED_VERSION', `Supported protocol versions are ${supported.join(' ')}`, undefined, [['version', supported.join(',')]]);
    return;
  }
  c.version = version;
  c.parser.setVersion(version);
  if (ctx.stopping()) {
    c.refuse(attempt(c, login, version), 'SB_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    return;
  }

  // Heart-beating: "cx,cy" from the client, "sx,sy" ours; 0 = off on either side.
  const hb = (header(f, 'heart-beat') ?? '0,0').split(',');
  const cx = Number(hb[0]);
  const cy = Number(hb[1]);
  if (hb.length !== 2 || !Number.isInteger(cx) || !Number.isInteger(cy) || cx < 0 || cy < 0) {
    c.refuse(attempt(c, login, version), 'SB_ERR_HEART_BEAT', `heart-beat must be "x,y" with non-negative integers, got "${header(f, 'heart-beat')}"`);
    return;
  }
  const [sx, sy] = ctx.heartbeat;
  c.sendEvery = sx > 0 && cy > 0 ? Math.max(sx, cy) : 0;
  c.expectEvery = cx > 0 && sy > 0 ? Math.max(cx, sy) : 0;

  // Identities are one literal topic level inside an application (core/identity.ts).
  const problem = loginIdProblem(login, !ctx.auth.developmentMode, ctx.limits.maxClientIdLength);
  if (problem !== null) {
    c.refuse(attempt(c, login, version), 'SB_ERR_CLIENT_ID', `login ${problem}`, header(f, 'receipt'));
    return;
  }
  const outcome = ctx.auth.login({
    protocol: 'stomp',
    appKey: header(f, 'host') ?? null,
    login,
    secret: header(f, 'passcode') ?? null,
    remoteAddress: c.conn.remoteAddress,
    transport: c.conn.transport,
    ...(c.conn.certificateCN !== undefined ? { certificateCN: c.conn.certificateCN } : {}),
  });
  if (!(outcome instanceof Promise)) {
    finishConnect(c, f, login, outcome);
    return;
  }
  c.holdFrames();
  outcome.then(
    (o) => finishConnect(c, f, login, o),
    (err: unknown) => {
      ctx.logger.error({ err }, 'authentication failed with an error');
      finishConnect(c, f, login, { ok: false, code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'authentication error' });
    },
  );
}

function finishConnect(c: StompConnection, f: StompFrame, login: string, outcome: LoginOutcome): void {
  const ctx = c.ctx;
  if (!c.open) return;
  if (!outcome.ok) {
    // login() already held a failure back for the brute-force delay (auth/throttle.ts).
    c.refuse(attempt(c, login, c.version), outcome.code, outcome.detail, header(f, 'receipt'));
    return;
  }
  const { app, identity } = outcome;
  const clientId = identity.login;
  const info = clientInfo(clientId, identity, app.id, 'stomp', c.conn.transport, c.conn.remoteAddress);
  // STOMP sessions end with their connection and carry no will; the core admits and attaches
  // (core/clients.ts), synchronously since there is no will to authorise, and logs the client's
  // connection and its end (ConnectionLog).
  const opened = openClient(app, { info, cleanStart: true, expiry: 0, will: null, protocolVersion: c.version, log: ctx.logger }, c) as Client | Refusal;
  if (isRefusal(opened)) {
    c.refuse(attempt(c, login, c.version, info), opened.code, opened.detail, header(f, 'receipt'));
    return;
  }
  c.bind(opened);

  const [sx, sy] = ctx.heartbeat;
  const headers: Array<[string, string]> = [
    ['version', c.version],
    ['session', c.sessionId],
    ['server', ctx.serverName],
    ['heart-beat', `${sx},${sy}`],
  ];
  c.sendFrame('CONNECTED', headers);
  c.markConnected();
  c.releaseFrames();
}
