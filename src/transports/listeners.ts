/**
 * Listener URLs -> servers. TCP and TLS listeners get a server each; every ws:// or wss://
 * URL on the same host:port shares one HTTP(S) server whose upgrade handler dispatches by
 * path (ws `noServer` mode), so one port can carry /mqtt, /stomp and later the HTTP API.
 *
 * All or nothing: if one listener cannot bind, the ones already bound are closed again.
 * `connectTimeoutMs` bounds the phases before a protocol's own CONNECT timer starts: the
 * TLS handshake and the HTTP request head (so a WebSocket that never upgrades is dropped).
 * The WebSocket ping policy is enforced in ws.ts (WsConnection).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Connection } from './connection.js';
import { SocketConnection } from './tcp.js';
import { WsConnection } from './ws.js';
import { UdpServer } from './udp.js';
import { parseListenUrl } from '../shared/listen-url.js';
import type { ListenerSpec, Scheme } from '../shared/listen-url.js';

// Listener URL parsing lives in src/shared/ (the configuration validates with it too).
export { isLoopback, parseListenUrl } from '../shared/listen-url.js';
export type { ListenerSpec, Scheme } from '../shared/listen-url.js';
export type ProtocolName = 'mqtt' | 'stomp' | 'mqttsn';

export interface ListenerAddress {
  url: string;
  protocol: Scheme;
  host: string;
  port: number;
  path?: string;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export type ConnectionAcceptor = (conn: Connection, protocol: ProtocolName) => void;
export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** PEM file paths for TLS listeners (the configuration's `tls` section fits this). */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  passphrase?: string;
}

export interface ListenersOptions {
  tls: TlsFiles;
  onConnection: ConnectionAcceptor;
  /** Plain HTTP requests on ws/wss ports (API, metrics, console). Default: 404. */
  httpHandler?: HttpHandler;
  /** Largest WebSocket message accepted, bytes. */
  maxWsPayload: number;
  /** TLS handshake and HTTP request head (WebSocket upgrade) must complete within this, ms. */
  connectTimeoutMs: number;
  /** WebSocket pings answered per connection per second (see ws.ts). */
  wsPingsPerSecond: number;
  /** `ws.allowedOrigins`: upgrades from a browser page of another origin get 403. Unset: every origin. */
  allowedOrigins?: readonly string[] | undefined;
  /** `mqttsn://` listeners (UDP): per-address rate, most addresses at once (transports/udp.ts). */
  udp?: { datagramsPerSecond: number; maxClients: number; receiveBufferBytes?: number; readonly counters: { udpDropped: number } };
  /** Told of each upgrade refused for its Origin (logging). */
  onOriginRefused?: (origin: string, remoteAddress: string) => void;
}

/**
 * The origins a list allows, as browsers send them in `Origin` (RFC 6454: scheme://host[:port],
 * lower case, no default port, no path); null: every origin.
 */
export function originSet(list: readonly string[] | undefined): ReadonlySet<string> | null {
  if (list === undefined || list.includes('*')) return null;
  return new Set(
    list.map((o) => {
      try {
        return new URL(o).origin;
      } catch {
        return o.toLowerCase();
      }
    }),
  );
}

const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];
const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

interface WsRoute {
  path: string;
  wss: WebSocketServer;
  url: string;
}

const kTracker = Symbol('switchboard.tracker');
type TrackedSocket = Duplex & { [kTracker]: Set<Duplex> };
// Shared by every socket: a closure (and a once() wrapper) per socket would cost ~300 bytes.
function untrack(this: TrackedSocket): void {
  this[kTracker].delete(this);
}

export class Listeners {
  /** Bound servers, each with the sockets it accepted that are still open. */
  private readonly servers: Array<{ server: net.Server; sockets: Set<Duplex> }> = [];
  private readonly udp: UdpServer[] = [];
  private origins: ReadonlySet<string> | null;
  private tlsFiles: TlsFiles;

  constructor(private readonly opts: ListenersOptions) {
    this.origins = originSet(opts.allowedOrigins);
    this.tlsFiles = opts.tls;
  }

  /** A reloaded `ws.allowedOrigins`: applies to the next upgrades. */
  setAllowedOrigins(list: readonly string[] | undefined): void {
    this.origins = originSet(list);
  }

  /**
   * Read the TLS certificate, key and CA again and give them to every TLS listener
   * (tls.Server#setSecureContext): new handshakes use them, open connections keep theirs.
   * Throws, changing nothing, when a file cannot be read or does not make a context.
   */
  reloadTls(files: TlsFiles): number {
    const secure = this.servers.filter((b) => b.server instanceof tls.Server);
    if (secure.length === 0) return 0;
    const options = this.tlsOptions(files);
    tls.createSecureContext(options); // throws on a key that does not match, a bad PEM
    for (const b of secure) (b.server as tls.Server).setSecureContext(options);
    this.tlsFiles = files;
    return secure.length;
  }

  /** Bind every listener, or none: on a failure the ones already bound are closed and the error rethrown. */
  async listen(urls: string[]): Promise<ListenerAddress[]> {
    const specs = urls.map(parseListenUrl);
    const before = this.servers.length;
    try {
      return await this.listenAll(specs);
    } catch (err) {
      const bound = this.servers.splice(before);
      const closing = Promise.all([...bound.map((b) => closeServer(b.server)), ...this.udp.splice(0).map((u) => u.close())]);
      // Connections accepted in the meantime go too.
      for (const b of bound) for (const sock of b.sockets) sock.destroy();
      await closing;
      throw err;
    }
  }

  private async listenAll(specs: ListenerSpec[]): Promise<ListenerAddress[]> {
    const out: ListenerAddress[] = [];
    const httpGroups = new Map<string, ListenerSpec[]>();
    for (const spec of specs) {
      if (spec.scheme === 'ws' || spec.scheme === 'wss') {
        const key = `${spec.scheme}|${spec.host}|${spec.port}`;
        const g = httpGroups.get(key);
        if (g) g.push(spec);
        else httpGroups.set(key, [spec]);
        continue;
      }
      out.push(spec.scheme === 'mqttsn' ? await this.listenDatagram(spec) : await this.listenStream(spec));
    }
    for (const group of httpGroups.values()) out.push(...(await this.listenHttp(group)));
    return out;
  }

  /** Stop accepting new connections; existing ones are left to the caller (UDP sockets close: their clients have no connection of their own). */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((b) => closeServer(b.server)));
  }

  /**
   * Send through the first `mqttsn://` listener's socket (gateway discovery: clients connect to
   * the source of ADVERTISE and GWINFO), multicast leaving on `iface` when given; null: none.
   */
  datagramSender(iface?: string): ((buf: Buffer, port: number, address: string) => void) | null {
    const u = this.udp[0];
    if (u === undefined) return null;
    if (iface !== undefined) u.socket.setMulticastInterface(iface);
    return (buf, port, address) => u.socket.send(buf, port, address);
  }

  /** Close the UDP sockets (after the protocols said goodbye: a gateway's DISCONNECTs go out through them). */
  async closeUdp(): Promise<void> {
    await Promise.all(this.udp.splice(0).map((u) => u.close()));
  }

  private async listenDatagram(spec: ListenerSpec): Promise<ListenerAddress> {
    const udp = this.opts.udp ?? { datagramsPerSecond: 100, maxClients: 10_000, counters: { udpDropped: 0 } };
    const server = new UdpServer(spec.host.includes(':') ? 'udp6' : 'udp4', {
      datagramsPerSecond: udp.datagramsPerSecond,
      maxClients: udp.maxClients,
      counters: udp.counters,
      onConnection: (conn) => this.opts.onConnection(conn, 'mqttsn'),
    });
    const { port } = await server.bind(spec.host, spec.port);
    // A burst of datagrams waits in the socket's buffer while the event loop is busy; past it the
    // kernel drops them unseen (the default is about 200 KB: some 250 small datagrams).
    if (udp.receiveBufferBytes !== undefined && udp.receiveBufferBytes > 0) {
      try {
        server.socket.setRecvBufferSize(udp.receiveBufferBytes);
      } catch {
        /* refused by the system: its default stays */
      }
    }
    this.udp.push(server);
    server.url = `mqttsn://${formatHost(spec.host)}:${port}`;
    return { url: server.url, protocol: spec.scheme, host: spec.host, port };
  }

  /** Destroy sockets that are still open after close (HTTP keep-alive, half-open). */
  destroyAll(): void {
    for (const b of this.servers) for (const s of b.sockets) s.destroy();
  }

  private tlsOptions(t: TlsFiles = this.tlsFiles): tls.TlsOptions {
    if (!t.cert || !t.key) throw new Error('tls.cert and tls.key are required for mqtts://, wss:// and stomps:// listeners');
    return {
      // A client that opens the connection and never completes the handshake (default: 120 s).
      handshakeTimeout: this.opts.connectTimeoutMs,
      cert: readFileSync(t.cert),
      key: readFileSync(t.key),
      // With a CA, clients may present certificates (mTLS); unverified or absent ones still
      // connect and log in with credentials.
      ...(t.ca ? { ca: readFileSync(t.ca), requestCert: true, rejectUnauthorized: false } : {}),
      ...(t.passphrase ? { passphrase: t.passphrase } : {}),
    };
  }

  private static track(sockets: Set<Duplex>, s: Duplex): void {
    sockets.add(s);
    (s as TrackedSocket)[kTracker] = sockets;
    s.on('close', untrack);
  }

  private async listenStream(spec: ListenerSpec): Promise<ListenerAddress> {
    const secure = spec.scheme === 'mqtts' || spec.scheme === 'stomps';
    const protocol: ProtocolName = spec.scheme.startsWith('stomp') ? 'stomp' : 'mqtt';
    const transport = secure ? 'tls' : 'tcp';
    let url = '';
    const sockets = new Set<Duplex>();
    const onSocket = (socket: net.Socket): void => {
      Listeners.track(sockets, socket);
      const conn = new SocketConnection(socket, transport, url);
      conn.certificateCN = verifiedCN(socket);
      this.opts.onConnection(conn, protocol);
    };
    const server = secure
      ? tls.createServer(this.tlsOptions(), onSocket)
      : net.createServer({ noDelay: true }, onSocket);
    if (secure) {
      // The raw socket as well: one still in its handshake must not hold close() open.
      server.on('connection', (raw: net.Socket) => Listeners.track(sockets, raw));
      // Failed handshakes are the client's problem; Node does not close a timed-out one itself.
      server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
    }
    const port = await listenOn(server, spec.host, spec.port);
    this.servers.push({ server, sockets });
    url = `${spec.scheme}://${formatHost(spec.host)}:${port}`;
    return { url, protocol: spec.scheme, host: spec.host, port };
  }

  private async listenHttp(group: ListenerSpec[]): Promise<ListenerAddress[]> {
    const first = group[0]!;
    const secure = first.scheme === 'wss';
    const handler: HttpHandler =
      this.opts.httpHandler ??
      ((_req, res) => {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      });
    // Node's defaults let a client hold a connection ~60 s (headers) to 300 s (request) without
    // ever upgrading; the checks run every connectionsCheckingInterval (default 30 s). Once a
    // socket is upgraded Node stops tracking it, so these never reach a WebSocket.
    const timeout = this.opts.connectTimeoutMs;
    const httpOptions: http.ServerOptions = {
      headersTimeout: timeout,
      requestTimeout: timeout,
      keepAliveTimeout: Math.min(timeout, 5000),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeout / 4))),
    };
    const server = secure
      ? https.createServer({ ...this.tlsOptions(), ...httpOptions }, handler)
      : http.createServer(httpOptions, handler);
    const sockets = new Set<Duplex>();
    server.on('connection', (s: net.Socket) => Listeners.track(sockets, s));
    if (secure) server.on('tlsClientError', () => {});
    const routes: WsRoute[] = [];
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const origin = req.headers.origin;
      // Browsers always send Origin on a WebSocket upgrade (RFC 6455 4.1); other clients may not.
      if (this.origins !== null && origin !== undefined && !this.origins.has(origin.toLowerCase())) {
        this.opts.onOriginRefused?.(origin, req.socket.remoteAddress ?? '');
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      const route = routes.find((r) => r.path === path);
      if (!route) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      route.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const sub = ws.protocol;
        const protocol: ProtocolName = STOMP_SUBPROTOCOLS.includes(sub)
          ? 'stomp'
          : MQTT_SUBPROTOCOLS.includes(sub)
            ? 'mqtt'
            : route.path.includes('stomp')
              ? 'stomp'
              : 'mqtt';
        const conn = new WsConnection(ws, secure ? 'wss' : 'ws', req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0, route.url, sub, this.opts.wsPingsPerSecond);
        conn.certificateCN = verifiedCN(req.socket);
        this.opts.onConnection(conn, protocol);
      });
    });
    const port = await listenOn(server, first.host, first.port);
    this.servers.push({ server, sockets });
    const out: ListenerAddress[] = [];
    for (const spec of group) {
      const url = `${spec.scheme}://${formatHost(spec.host)}:${port}${spec.path}`;
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: this.opts.maxWsPayload,
        perMessageDeflate: false,
        // Pings are answered by WsConnection under a rate limit: ws's own autoPong terminates
        // the socket (1006, no close frame) once 60 pongs are pending, as after a burst.
        autoPong: false,
        handleProtocols: (offered: Set<string>) => {
          for (const p of [...MQTT_SUBPROTOCOLS, ...STOMP_SUBPROTOCOLS]) if (offered.has(p)) return p;
          return false;
        },
      });
      routes.push({ path: spec.path, wss, url });
      out.push({ url, protocol: spec.scheme, host: spec.host, port, path: spec.path });
    }
    return out;
  }
}

/** Subject CN of a client certificate that verified against the configured CA (mTLS), else undefined. */
function verifiedCN(socket: net.Socket): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}

/** Stop accepting; resolves once the server is closed (idle HTTP keep-alive sockets are closed too). */
function closeServer(s: net.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    s.close(() => resolve());
    if (s instanceof http.Server || s instanceof https.Server) s.closeIdleConnections();
  });
}

function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${formatHost(host)}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
