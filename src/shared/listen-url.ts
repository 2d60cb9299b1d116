/**
 * Listener URLs: syntax, default ports, loopback test. A leaf module (Node built-ins only):
 * the configuration validates `listen` with it and transports/ binds what it returns, so
 * neither has to import the other (see .dependency-cruiser.cjs).
 */

export type Scheme = 'mqtt' | 'mqtts' | 'ws' | 'wss' | 'stomp' | 'stomps' | 'mqttsn';

export interface ListenerSpec {
  scheme: Scheme;
  host: string;
  port: number;
  path: string;
}

export const DEFAULT_PORTS: Readonly<Record<Scheme, number>> = { mqtt: 1883, mqtts: 8883, ws: 8080, wss: 8443, stomp: 61613, stomps: 61614, mqttsn: 1884 };

export function parseListenUrl(raw: string): ListenerSpec {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`invalid listener URL "${raw}"`);
  }
  const scheme = u.protocol.slice(0, -1) as Scheme;
  if (!(scheme in DEFAULT_PORTS)) throw new Error(`unsupported listener scheme "${u.protocol}" in "${raw}"`);
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') host = '127.0.0.1';
  const port = u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port);
  let path = u.pathname || '/';
  if ((scheme === 'ws' || scheme === 'wss') && (path === '/' || path === '')) path = '/mqtt';
  return { scheme, host, port, path };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
