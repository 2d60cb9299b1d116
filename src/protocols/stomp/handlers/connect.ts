/** CONNECT / STOMP -> CONNECTED (STOMP 1.2 "Connecting", "Protocol Negotiation", "Heart-beating"). */
import type { LoginOutcome } from '../../../auth/authenticate.js';
import { clientInfo } from '../../../core/hooks.js';
import { ERRORS } from '../../../errors/catalogue.js';
import type { StompConnection, StompVersion } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

const SUPPORTED: StompVersion[] = ['1.2', '1.1', '1.0'];

export function handleConnect(c: StompConnection, f: StompFrame): void {
  const ctx = c.ctx;
  // accept-version absent = 1.0 (STOMP 1.2 "Protocol Negotiation").
  const offered = (header(f, 'accept-version') ?? '1.0').split(',').map((v) => v.trim());
  const version = SUPPORTED.find((v) => offered.includes(v));
  if (version === undefined) {
    c.sendFrame('ERROR', [['version', SUPPORTED.slice().reverse().join(',')], ['message', 'unsupported protocol version'], ['content-type', 'text/plain']], Buffer.from(`Supported protocol versions are ${SUPPORTED.slice().reverse().join(' ')}\n`));
    c.end();
    return;
  }
  c.version = version;
  c.parser.setVersion(version);
  if (ctx.stopping()) {
    c.fail('server shutting down', 'the broker is shutting down');
    return;
  }

  // Heart-beating: "cx,cy" from the client, "sx,sy" ours; 0 = off on either side.
  const hb = (header(f, 'heart-beat') ?? '0,0').split(',');
  const cx = Number(hb[0]);
  const cy = Number(hb[1]);
  if (hb.length !== 2 || !Number.isInteger(cx) || !Number.isInteger(cy) || cx < 0 || cy < 0) {
    c.fail('invalid heart-beat header', `heart-beat must be "x,y" with non-negative integers, got "${header(f, 'heart-beat')}"`);
    return;
  }
  const [sx, sy] = ctx.heartbeat;
  c.sendEvery = sx > 0 && cy > 0 ? Math.max(sx, cy) : 0;
  c.expectEvery = cx > 0 && sy > 0 ? Math.max(cx, sy) : 0;

  const login = header(f, 'login') ?? '';
  const outcome = ctx.auth.login({
    protocol: 'stomp',
    appKey: header(f, 'host') ?? null,
    login: login.length > 0 ? login : `stomp-${c.sessionId}`,
    secret: header(f, 'passcode') ?? null,
    remoteAddress: c.conn.remoteAddress,
    transport: c.conn.transport,
    ...(c.conn.certificateCN !== undefined ? { certificateCN: c.conn.certificateCN } : {}),
  });
  if (!(outcome instanceof Promise)) {
    finishConnect(c, f, outcome);
    return;
  }
  c.holdFrames();
  outcome.then(
    (o) => finishConnect(c, f, o),
    (err: unknown) => {
      ctx.logger.error({ err }, 'authentication failed with an error');
      finishConnect(c, f, { ok: false, code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'authentication error' });
    },
  );
}

function finishConnect(c: StompConnection, f: StompFrame, outcome: LoginOutcome): void {
  const ctx = c.ctx;
  if (!c.open) return;
  if (!outcome.ok) {
    const spec = ERRORS[outcome.code];
    const delay = ctx.auth.delayFor(c.conn.remoteAddress);
    const answer = (): void => c.fail(spec.stomp, outcome.detail, header(f, 'receipt'));
    if (delay > 0) setTimeout(answer, delay).unref();
    else answer();
    return;
  }
  const { app, identity } = outcome;
  const clientId = identity.login;
  const existing = app.router.sessions.get(clientId);
  if (existing?.link && app.duplicatePolicy(identity.profile) === 'reject') {
    c.fail('already connected', `client "${clientId}" is already connected`, header(f, 'receipt'));
    return;
  }
  c.clientId = clientId;
  c.app = app;
  c.router = app.router;
  c.info = clientInfo(clientId, identity, app.id, 'stomp', c.conn.transport, c.conn.remoteAddress);
  const { session } = app.router.attach(clientId, c, true);
  session.expiryInterval = 0;
  session.protocol = 'stomp';
  session.identity = { login: identity.login, profile: identity.profile, protocol: 'stomp', transport: c.conn.transport, remoteAddress: c.conn.remoteAddress };

  const [sx, sy] = ctx.heartbeat;
  const headers: Array<[string, string]> = [
    ['version', c.version],
    ['session', c.sessionId],
    ['server', ctx.serverName],
    ['heart-beat', `${sx},${sy}`],
  ];
  c.sendFrame('CONNECTED', headers);
  c.markConnected(session);
  app.monitor.refresh(session);
  app.presence.online(session);
  ctx.logger.debug({ clientId, app: app.id, profile: identity.profile, version: c.version, transport: c.conn.transport }, 'STOMP client connected');
  c.releaseFrames();
}
