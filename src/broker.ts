/**
 * Composition root: config -> stores -> core router -> protocols -> transports.
 * `createBroker(config).start()` binds every listener and returns the real addresses.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config/types.js';
import type { Router } from './core/router.js';
import { createMessage } from './core/message.js';
import type { Message, MessageMeta, QoS } from './core/message.js';
import type { DropReason, Session } from './core/session.js';
import type { BrokerHooks } from './core/hooks.js';
import { parseFilter } from './core/topic.js';
import { Application } from './core/application.js';
import { MemoryBudget } from './core/budget.js';
import { Authenticator } from './auth/authenticate.js';
import { SysPublisher } from './core/sys.js';
import { MqttConnection } from './protocols/mqtt/connection.js';
import type { MqttContext, MqttCounters } from './protocols/mqtt/context.js';
import { StompConnection } from './protocols/stomp/connection.js';
import type { StompContext } from './protocols/stomp/context.js';
import type { Connection } from './transports/connection.js';
import { Listeners } from './transports/listeners.js';
import type { ListenerAddress, ProtocolName } from './transports/listeners.js';

export type { ListenerAddress } from './transports/listeners.js';

export interface Broker {
  /** Bind all listeners; resolves with their real addresses (port 0 resolved). */
  start(): Promise<ListenerAddress[]>;
  /** Graceful: stop accepting, DISCONNECT 0x8B to v5 clients, flush, close. */
  stop(): Promise<void>;
  /** The first (or development) application's router. */
  readonly router: Router;
  readonly applications: ReadonlyMap<string, Application>;
  readonly addresses: ListenerAddress[];
  /** Server-side actions, per application (`app` = application id; 'default' in development mode). */
  publish(app: string, topic: string, payload: Buffer | string, opts?: PublishOptions): number;
  subscribeClient(app: string, clientId: string, filter: string, qos?: QoS): boolean;
  unsubscribeClient(app: string, clientId: string, filter: string): boolean;
  listClients(app: string): ClientSummary[];
  disconnectClient(app: string, clientId: string): boolean;
  /** Apply a new configuration's applications (permissions, keys, presence topics) without restarting. */
  reload(config: BrokerConfig): void;
}

export interface BrokerOptions {
  logger?: Logger;
  /** Embedding hooks (see core/hooks.ts); missing ones fall back to the configuration. */
  hooks?: BrokerHooks;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
  /** Shown to receivers as the sender ('from'); default '' (the broker). */
  from?: string;
}

export interface ClientSummary {
  clientId: string;
  online: boolean;
  profile: string;
  protocol: string;
  transport: string | null;
  subscriptions: string[];
  queued: number;
}

export function brokerVersion(): string {
  try {
    const pkgPath = fileURLToPath(new URL('../../package.json', import.meta.url));
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function createBroker(config: BrokerConfig, opts: BrokerOptions = {}): Broker {
  const logger = opts.logger ?? pino({ level: config.log.level }, pino.destination(2));
  const hooks = opts.hooks ?? {};
  const appOpts = {
    limits: config.limits,
    budget: new MemoryBudget(config.limits.memoryBudget),
    topics: config.mqtt,
    maxRedeliveries: config.stomp.maxRedeliveries,
    hooks,
    onDrop: hooks.onMessageDropped ? (s: Session | null, m: Message, r: DropReason) => hooks.onMessageDropped!(m, r, s?.clientId ?? null) : undefined,
  };
  const dev = config.applications.length === 0 ? new Application(null, appOpts) : null;
  const apps = new Map<string, Application>();
  if (dev) apps.set(dev.id, dev);
  for (const a of config.applications) apps.set(a.id, new Application(a, appOpts));
  const auth = new Authenticator(dev ? [] : [...apps.values()], dev, hooks.authenticate, apps, config.auth);
  // Connections start on the first application's router until CONNECT picks theirs.
  const router = [...apps.values()][0]!.router;
  const mqttConnections = new Set<MqttConnection>();
  const stompConnections = new Set<StompConnection>();
  const counters: MqttCounters = { connectionsAccepted: 0, protocolErrors: 0, packetsIn: 0, packetsOut: 0 };
  let stopping = false;
  let open = 0;

  const mqttCtx: MqttContext = {
    router,
    auth,
    mqtt: config.mqtt,
    limits: config.limits,
    logger,
    connections: mqttConnections as Set<{ shutdown(): void }>,
    counters,
    assignClientId: () => `sb-${randomBytes(9).toString('base64url')}`,
    closed,
    stopping: () => stopping,
  };

  const version = brokerVersion();
  const stompCtx: StompContext = {
    router,
    auth,
    limits: config.limits,
    stomp: config.stomp,
    topics: config.mqtt,
    logger,
    connections: stompConnections as Set<{ shutdown(): void }>,
    counters,
    heartbeat: [config.stomp.heartbeatSendMs, config.stomp.heartbeatReceiveMs],
    window: config.stomp.window,
    connectTimeoutMs: config.mqtt.connectTimeoutMs,
    serverName: `switchboard/${version}`,
    closed,
    stopping: () => stopping,
  };

  const perAddress = new Map<string, number>();
  const maxPerAddress = config.limits.maxConnectionsPerAddress;
  const onConnection = (conn: Connection, protocol: ProtocolName): void => {
    if (stopping || open >= config.limits.maxConnections) {
      logger.warn({ remote: conn.remoteAddress, open }, 'connection refused: limit reached or stopping');
      conn.destroy();
      return;
    }
    if (maxPerAddress > 0) {
      const n = perAddress.get(conn.remoteAddress) ?? 0;
      if (n >= maxPerAddress) {
        // A flood from one address must not flood the log either.
        logger.debug({ remote: conn.remoteAddress }, 'connection refused: limits.maxConnectionsPerAddress');
        conn.destroy();
        return;
      }
      perAddress.set(conn.remoteAddress, n + 1);
    }
    open++;
    // The connection registers itself as the transport's handler and calls ctx.closed() once.
    if (protocol === 'mqtt') new MqttConnection(mqttCtx, conn);
    else new StompConnection(stompCtx, conn);
  };
  function closed(remoteAddress: string): void {
    open--;
    if (maxPerAddress > 0) {
      const n = (perAddress.get(remoteAddress) ?? 1) - 1;
      if (n <= 0) perAddress.delete(remoteAddress);
      else perAddress.set(remoteAddress, n);
    }
  }

  const listeners = new Listeners({
    tls: config.tls,
    onConnection,
    maxWsPayload: Math.max(config.mqtt.maxPacketSize, config.stomp.maxBodyBytes + 64 * 1024),
    connectTimeoutMs: config.mqtt.connectTimeoutMs,
    wsPingsPerSecond: config.limits.wsPingsPerSecond,
  });

  const startedAt = Date.now();
  const sysPublishers = [...apps.values()].map((a) => new SysPublisher(a.router, { version, startedAt, connectedClients: () => open }));

  const appOf = (id: string): Application => {
    const a = apps.get(id);
    if (!a) throw new Error(`unknown application "${id}"`);
    return a;
  };

  const broker: Broker = {
    router,
    applications: apps,
    publish(app, topic, payload, o = {}) {
      let meta: MessageMeta | null = null;
      if (o.contentType !== undefined) (meta ??= {}).contentType = o.contentType;
      if (o.responseTopic !== undefined) (meta ??= {}).responseTopic = o.responseTopic;
      if (o.correlationData !== undefined) (meta ??= {}).correlationData = o.correlationData;
      if (o.userProperties !== undefined) (meta ??= {}).userProperties = o.userProperties;
      const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
      // A backend publishing as `from` is shown to receivers as that client (a SERVICE).
      const sender = o.from !== undefined && o.from !== '' ? { clientId: o.from, app, profile: 'SERVICE' as const } : null;
      return appOf(app).publish(createMessage(topic, body, o.qos ?? 0, o.retain ?? false, meta, 0, sender));
    },
    subscribeClient(app, clientId, filter, qos = 1) {
      const a = appOf(app);
      const session = a.router.sessions.get(clientId);
      const parsed = parseFilter(filter);
      if (!session || !parsed) return false;
      a.router.subscribe(session, {
        subscriber: session,
        raw: filter,
        filter: parsed.filter,
        group: parsed.group,
        qos,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
        subscriptionId: 0,
      });
      return true;
    },
    unsubscribeClient(app, clientId, filter) {
      const a = appOf(app);
      const session = a.router.sessions.get(clientId);
      return session !== undefined && a.router.unsubscribe(session, filter);
    },
    listClients(app) {
      return [...appOf(app).router.sessions.values()].map((s) => ({
        clientId: s.clientId,
        online: s.link !== null,
        profile: s.profile,
        protocol: s.protocol,
        transport: s.identity?.transport ?? null,
        subscriptions: [...s.subscriptions.keys()],
        queued: s.queued,
      }));
    },
    disconnectClient(app, clientId) {
      const s = appOf(app).router.sessions.get(clientId);
      if (!s?.link) return false;
      s.link.close('kicked');
      return true;
    },
    reload(next) {
      for (const c of next.applications) {
        const a = apps.get(c.id);
        if (a) a.reconfigure(c);
        else logger.warn({ app: c.id }, 'new applications need a restart; ignored on reload');
      }
      if (!dev) auth.rebuild([...apps.values()]);
      logger.info('configuration reloaded');
    },
    addresses: [],
    async start() {
      try {
        // Binds all listeners or none (a failed one closes those already bound).
        const addrs = await listeners.listen(config.listen);
        broker.addresses.push(...addrs);
        for (const s of sysPublishers) s.start(config.sys.interval);
        for (const a of addrs) logger.info({ url: a.url }, 'listening');
        return addrs;
      } catch (err) {
        // Leave nothing running: no timers, no servers, no sockets.
        for (const s of sysPublishers) s.stop();
        const closing = listeners.close();
        listeners.destroyAll();
        await closing;
        broker.addresses.length = 0;
        throw err;
      }
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const s of sysPublishers) s.stop();
      const closing = listeners.close();
      for (const c of [...mqttConnections]) c.shutdown();
      for (const c of [...stompConnections]) c.shutdown();
      await new Promise((r) => setImmediate(r));
      listeners.destroyAll();
      await closing;
      logger.info('stopped');
    },
  };
  return broker;
}
