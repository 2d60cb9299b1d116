/**
 * Engine tests: a broker that is never started (no listeners, no sockets) and in-process
 * MQTT / STOMP clients on memory connections (src/transports/memory.ts), through
 * `broker.accept` as a listener would hand them over.
 *
 * Waiting is counted in event-loop turns, not milliseconds: everything happens in this process,
 * so an answer that does not come within a few turns will not come. Timer-driven behaviour
 * (will delay, session expiry) is tested with node:test mock timers (setTimeout / Date only:
 * the turns below use setImmediate, which must stay real).
 */
import { pino } from 'pino';
import { createBroker } from '../../src/broker.js';
import type { Broker, BrokerOptions } from '../../src/broker.js';
import type { Application } from '../../src/core/application.js';
import { memoryPair } from '../../src/transports/memory.js';
import type { MemoryOptions } from '../../src/transports/memory.js';
import { testConfig } from './broker.js';
import type { TestConfig } from './broker.js';
import { MqttPeer } from './memory-mqtt.js';
import type { ConnectOptions } from './memory-mqtt.js';
import { StompPeer } from './memory-stomp.js';

export { MqttPeer } from './memory-mqtt.js';
export { StompPeer } from './memory-stomp.js';

/** One event-loop turn (the broker flushes its writes once per turn). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Let everything in flight settle: input delivered, handled, answers flushed. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await turn();
}

export interface Engine {
  broker: Broker;
  /** The application (default: the development application, or the first configured one). */
  app(id?: string): Application;
  /** A raw MQTT connection (not yet connected). */
  open(level?: 3 | 4 | 5, opts?: MemoryOptions & { autoAck?: boolean }): MqttPeer;
  /** Open and CONNECT; throws unless the CONNACK accepts. */
  mqtt(clientId: string, opts?: ConnectOptions & { autoAck?: boolean; level?: 3 | 4 | 5 }): Promise<MqttPeer>;
  /** A raw STOMP connection (not yet connected). */
  openStomp(opts?: MemoryOptions): StompPeer;
  /** Open and CONNECT (STOMP 1.2); throws unless CONNECTED. */
  stomp(login: string, headers?: Record<string, string>): Promise<StompPeer>;
  stop(): Promise<void>;
}

export function engine(o: TestConfig = {}, opts: BrokerOptions = {}): Engine {
  const config = testConfig({ ...o, stomp: { heartbeatSendMs: 0, heartbeatReceiveMs: 0, ...o.stomp } });
  const broker = createBroker(config, { logger: pino({ level: process.env.SB_TEST_LOG ?? 'silent' }), ...opts });
  const e: Engine = {
    broker,
    app(id) {
      const a = id === undefined ? [...broker.applications.values()][0] : broker.applications.get(id);
      if (!a) throw new Error(`no application ${id ?? ''}`);
      return a;
    },
    open(level = 5, o2 = {}) {
      const { conn, peer } = memoryPair(o2);
      const c = new MqttPeer(peer, level, o2.autoAck ?? true);
      broker.accept(conn, 'mqtt');
      return c;
    },
    async mqtt(clientId, o2 = {}) {
      const c = e.open(o2.level ?? 5, { autoAck: o2.autoAck ?? true });
      const ack = await c.connect({ clientId, ...o2 });
      if (ack.reasonCode !== 0) throw new Error(`CONNACK ${ack.reasonCode} for ${clientId}`);
      return c;
    },
    openStomp(o2 = {}) {
      const { conn, peer } = memoryPair(o2);
      const c = new StompPeer(peer);
      broker.accept(conn, 'stomp');
      return c;
    },
    async stomp(login, headers = {}) {
      const c = e.openStomp();
      const f = await c.connect({ login, ...headers });
      if (f.command !== 'CONNECTED') throw new Error(`STOMP ${f.command}: ${f.headers.message ?? ''} ${f.body.toString()}`);
      return c;
    },
    stop: () => broker.stop(),
  };
  return e;
}
