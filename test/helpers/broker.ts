/** Start a real broker in-process on port 0 for integration tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createBroker } from '../../src/broker.js';
import type { Broker, BrokerOptions, ListenerAddress } from '../../src/broker.js';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import type { BrokerConfig } from '../../src/config/types.js';

export interface TestConfig {
  listen?: string[];
  tls?: BrokerConfig['tls'];
  mqtt?: Partial<BrokerConfig['mqtt']>;
  stomp?: Partial<BrokerConfig['stomp']>;
  mqttsn?: Partial<BrokerConfig['mqttsn']>;
  limits?: Partial<BrokerConfig['limits']>;
  auth?: Partial<BrokerConfig['auth']>;
  http?: Partial<BrokerConfig['http']>;
  ws?: Partial<BrokerConfig['ws']>;
  /** Default here: memory (tests that want SQLite give a temp data directory). */
  store?: Partial<BrokerConfig['store']>;
  sys?: Partial<BrokerConfig['sys']>;
  applications?: BrokerConfig['applications'];
}

export interface RunningBroker {
  broker: Broker;
  /** The configuration it was started with. */
  config: BrokerConfig;
  addrs: ListenerAddress[];
  url(scheme: ListenerAddress['protocol']): string;
  port(scheme: ListenerAddress['protocol']): number;
  stop(): Promise<void>;
}

export function testConfig(o: TestConfig = {}): BrokerConfig {
  const base = structuredClone(DEFAULT_CONFIG);
  return {
    ...base,
    listen: o.listen ?? ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt'],
    tls: o.tls ?? {},
    mqtt: { ...base.mqtt, ...o.mqtt },
    stomp: { ...base.stomp, ...o.stomp },
    mqttsn: { ...base.mqttsn, ...o.mqttsn },
    limits: { ...base.limits, ...o.limits },
    auth: { ...base.auth, ...o.auth },
    http: { ...base.http, ...o.http },
    ws: { ...base.ws, ...o.ws },
    store: { ...base.store, type: 'memory', ...o.store },
    sys: { ...base.sys, interval: 0, ...o.sys },
    log: { level: 'silent', pretty: false },
    applications: o.applications ?? [],
  };
}

export async function startBroker(o: TestConfig = {}, opts: BrokerOptions = {}): Promise<RunningBroker> {
  const level = process.env.SB_TEST_LOG ?? 'silent';
  const config = testConfig(o);
  const broker = createBroker(config, { logger: pino({ level }), ...opts });
  const addrs = await broker.start();
  const find = (scheme: ListenerAddress['protocol']): ListenerAddress => {
    const a = addrs.find((x) => x.protocol === scheme);
    if (!a) throw new Error(`no ${scheme} listener`);
    return a;
  };
  return {
    broker,
    config,
    addrs,
    url: (s) => find(s).url,
    port: (s) => find(s).port,
    stop: () => broker.stop(),
  };
}

/** A self-signed certificate for 127.0.0.1/localhost, made with openssl in a temp dir. */
export function selfSignedCert(): { cert: string; key: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1',
    '-keyout', key, '-out', cert, '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key, dir };
}

/** Resolve when `emitter` emits `event` (first argument), reject on timeout. */
export function once<T = unknown>(emitter: { once(e: string, f: (...a: never[]) => void): unknown }, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    emitter.once(event, ((v: T) => {
      clearTimeout(t);
      resolve(v);
    }) as never);
  });
}
