/** CONNECT / STOMP -> CONNECTED (STOMP 1.2 "Connecting", "Protocol Negotiation", "Heart-beating"). */
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

  const login = header(f, 'login');
  c.clientId = login !== undefined && login.length > 0 ? `${login}-${c.sessionId}` : `stomp-${c.sessionId}`;
  const { session } = c.router.attach(c.clientId, c, true);
  session.expiryInterval = 0;
  session.protocol = 'stomp';

  const headers: Array<[string, string]> = [
    ['version', version],
    ['session', c.sessionId],
    ['server', ctx.serverName],
    ['heart-beat', `${sx},${sy}`],
  ];
  c.sendFrame('CONNECTED', headers);
  c.markConnected(session);
  ctx.logger.debug({ clientId: c.clientId, version, transport: c.conn.transport }, 'STOMP client connected');
}
