/**
 * Composition root: config -> stores -> core router -> protocols -> transports.
 * `createBroker(config).start()` binds every listener and returns the real addresses.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config/types.js';
import type { Message, QoS } from './core/message.js';
import type { DropReason, Session } from './core/session.js';
import type { BrokerHooks } from './core/hooks.js';
import { AdminError, BrokerAdmin } from './core/admin.js';
import { createHttpApi } from './http/api.js';
import { loggerOptions } from './logging.js';
import { BrokerMetrics } from './http/metrics.js';
import { Webhooks } from './http/webhooks.js';
import type { WebhookMonitor } from './http/webhooks.js';
import type { HttpApi } from './http/api.js';
import type { ApplicationAdmin, ClientFilter, ClientSummary, PublishOptions, ReloadResult } from './core/admin.js';
import { Application } from './core/application.js';
import { MemoryBudget } from './core/budget.js';
import { Sweep, systemClock } from './core/clock.js';
import type { Clock } from './core/clock.js';
import { ClusterNode } from './core/bus.js';
import type { Bus } from './core/bus.js';
import type { Stores } from './stores/types.js';
import { SqliteStores } from './stores/sqlite/index.js';
import { RedisStores } from './stores/redis/index.js';
import { Authenticator } from './auth/authenticate.js';
import { SysPublisher } from './core/sys.js';
import { MqttConnection } from './protocols/mqtt/connection.js';
import type { MqttContext, MqttCounters } from './protocols/mqtt/context.js';
import { StompConnection } from './protocols/stomp/connection.js';
import type { StompContext } from './protocols/stomp/context.js';
import { MqttSnConnection } from './protocols/mqttsn/connection.js';
import type { MqttSnContext, MqttSnCounters, MqttSnLogin } from './protocols/mqttsn/context.js';
import { PredefinedTopics } from './protocols/mqttsn/topics.js';
import { AnonymousPublisher } from './protocols/mqttsn/anonymous.js';
import { Discovery } from './protocols/mqttsn/discovery.js';
import { ConfigError } from './config/schema.js';
import { isValidTopicName } from './core/topic.js';
import type { Connection } from './transports/connection.js';
import { Listeners } from './transports/listeners.js';
import { applied, restartNeeded } from './config/reload.js';
import type { ListenerAddress, ProtocolName } from './transports/listeners.js';

export type { ListenerAddress } from './transports/listeners.js';

export interface Broker {
  /** Bind all listeners; resolves with their real addresses (port 0 resolved). */
  start(): Promise<ListenerAddress[]>;
  /** Graceful: stop accepting, DISCONNECT 0x8B to v5 clients, flush, close. */
  stop(): Promise<void>;
  /**
   * The applications' core objects: package-internal (the cluster mesh; tests read them through
   * src/internal.ts), not part of the public API, which is `admin`.
   */
  readonly applications: ReadonlyMap<string, Application>;
  readonly addresses: ListenerAddress[];
  /** The admin facade (core/admin.ts): read model and actions over every application. */
  readonly admin: BrokerAdmin;
  /** Lifecycle webhooks (`applications[].webhooks`, http/webhooks.ts): `stats()` per URL, outcome `events`. */
  readonly webhooks: WebhookMonitor;
  /*
   * Server-side actions, per application (`app` = application id; 'default' in development
   * mode; an unknown id throws). Thin wrappers over `admin.app(app)`, whose answers say why.
   */
  /** Deliveries made (0: nobody subscribed). Throws an AdminError when refused: invalid or broker-owned topic, memory budget, retained limits. */
  publish(app: string, topic: string, payload: Buffer | string, opts?: PublishOptions): number;
  /** True when subscribed; false when the client has no session (not connected yet, or its session ended), the filter is invalid, over the quota, or a STOMP client. */
  subscribeClient(app: string, clientId: string, filter: string, qos?: QoS): boolean;
  /** True when the client had that subscription. */
  unsubscribeClient(app: string, clientId: string, filter: string): boolean;
  /** Every client with a session (online or parked); `admin.app(app).listClients()` pages. */
  listClients(app: string, filter?: ClientFilter): ClientSummary[];
  /** True when a connection was closed (reason 'kicked'); false when the client is not connected. */
  disconnectClient(app: string, clientId: string): boolean;
  /**
   * Apply a new configuration without restarting (SIGHUP): the applications (permissions,
   * keys, presence topics, webhooks), the TLS certificate and key, `ws.allowedOrigins`. Says
   * which other changed settings need a restart (config/reload.ts).
   */
  reload(config: BrokerConfig): BrokerReloadResult;
  /**
   * Serve a connection made elsewhere (in process: transports/memory.ts; or another transport):
   * admitted and handled exactly as one a listener accepted.
   */
  accept(conn: Connection, protocol: ProtocolName): void;
}

export interface BrokerReloadResult extends ReloadResult {
  /** TLS listeners given the re-read certificate and key (0: none, or the files failed: `tlsError`). */
  tlsReloaded: number;
  tlsError?: string;
  /** Changed settings this reload did not apply, as dotted keys (`listen`, `limits.maxConnections`). */
  restartNeeded: string[];
}

export interface BrokerOptions {
  logger?: Logger;
  /** Embedding hooks (see core/hooks.ts); missing ones fall back to the configuration. */
  hooks?: BrokerHooks;
  /**
   * Where sessions, retained messages, queues and dead letters are kept (stores/). A broker
   * created again with the same stores resumes what they hold; `MemoryStores` does this inside
   * one process. Absent: nothing is kept.
   */
  stores?: Stores;
  /**
   * What crosses processes (core/bus.ts): the cluster mesh in `--workers` mode, or an embedder's
   * own. Started by `start()` before any listener (linked, retained messages synced), stopped by
   * `stop()`. Absent: a single process.
   */
  bus?: Bus;
  /**
   * The broker's time (core/clock.ts): timestamps, and through one sweep every timer
   * (keepalive, heart-beats, connect timeouts, token expiry, session expiry, will delays).
   * Default: the system clock. A `ManualClock` makes all of them move only when told.
   */
  clock?: Clock;
}

export type { ClientSummary, PublishOptions } from './core/admin.js';

/** On stop, webhook deliveries still queued or in flight get this long, ms; the rest are dropped. */
const WEBHOOK_STOP_GRACE_MS = 1000;

export function brokerVersion(): string {
  try {
    const pkgPath = fileURLToPath(new URL('../../package.json', import.meta.url));
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function createBroker(config: BrokerConfig, opts: BrokerOptions = {}): Broker {
  const logger = opts.logger ?? pino(loggerOptions(config.log.level), pino.destination(2));
  // One clock, and one sweep on it for every timer of this broker (core/clock.ts).
  const clock = opts.clock ?? systemClock;
  // Lifecycle webhooks: fed by the router's events, the onConnectionClose hook (added in front of
  // the embedder's) and each application's drop listener; publishes only where a filter asks.
  const webhooks = new Webhooks(config.applications, { logger, now: () => clock.now() });
  const hooks = webhooks.hooks(opts.hooks ?? {});
  const sweep = new Sweep(clock, {
    periodMs: Sweep.periodFor(config.stomp.heartbeatSendMs, config.stomp.heartbeatReceiveMs),
    onError: (err) => logger.error({ err }, 'internal error in a timer'),
  });
  const appOpts = {
    sweep,
    limits: config.limits,
    budget: new MemoryBudget(config.limits.memoryBudget),
    topics: config.mqtt,
    maxRedeliveries: config.stomp.maxRedeliveries,
    hooks,
    ...(opts.stores ? { stores: opts.stores } : {}),
    durability: config.store.durability,
    onDrop: hooks.onMessageDropped ? (s: Session | null, m: Message, r: DropReason) => hooks.onMessageDropped!(m, r, s?.clientId ?? null) : undefined,
  };
  const dev = config.applications.length === 0 ? new Application(null, appOpts) : null;
  const apps = new Map<string, Application>();
  if (dev) apps.set(dev.id, dev);
  for (const a of config.applications) apps.set(a.id, new Application(a, { ...appOpts, onDrop: webhooks.dropListener(a.id, appOpts.onDrop) }));
  const auth = new Authenticator(dev ? [] : [...apps.values()], dev, hooks.authenticate, apps, config.auth);
  // Cluster mode: every application's router, presence, monitor... reach other nodes through the bus.
  const cluster = opts.bus ? new ClusterNode(opts.bus, apps) : null;
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
    sweep,
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
    sweep,
    connections: stompConnections as Set<{ shutdown(): void }>,
    counters,
    heartbeat: [config.stomp.heartbeatSendMs, config.stomp.heartbeatReceiveMs],
    window: config.stomp.window,
    connectTimeoutMs: config.stomp.connectTimeoutMs,
    serverName: `switchboard/${version}`,
    closed,
    stopping: () => stopping,
  };

  // The MQTT-SN gateway (`mqttsn://` listeners): its login and predefined topics are resolved
  // once, here; a configuration that cannot work is refused at start like any other.
  const snCounters: MqttSnCounters = {
    connectionsAccepted: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    malformed: 0,
    unexpected: 0,
    udpDropped: 0,
    retransmissions: 0,
    anonymousPublishes: 0,
  };
  const snConnections = new Set<MqttSnConnection>();
  const snLogin = mqttsnLogin(config, dev !== null);
  let predefined: PredefinedTopics;
  try {
    predefined = new PredefinedTopics(config.mqttsn.predefinedTopics, (t) => isValidTopicName(t, config.mqtt));
  } catch (err) {
    throw new ConfigError(`mqttsn.predefinedTopics: ${(err as Error).message}`);
  }
  const anonymous = new AnonymousPublisher(auth, snLogin, logger, snCounters);
  const snCtx: MqttSnContext = {
    router,
    auth,
    login: snLogin,
    mqtt: config.mqtt,
    mqttsn: config.mqttsn,
    limits: config.limits,
    predefined,
    anonymous,
    logger,
    sweep,
    connections: snConnections as Set<{ shutdown(): void }>,
    counters: snCounters,
    closed,
    stopping: () => stopping,
  };

  const perAddress = new Map<string, number>();
  const maxPerAddress = config.limits.maxConnectionsPerAddress;
  const onConnection = (conn: Connection, protocol: ProtocolName): void => {
    if (stopping || open >= config.limits.maxConnections) {
      logger.warn({ remoteAddress: conn.remoteAddress, open }, 'connection refused: limit reached or stopping');
      conn.destroy();
      return;
    }
    if (maxPerAddress > 0) {
      const n = perAddress.get(conn.remoteAddress) ?? 0;
      if (n >= maxPerAddress) {
        // A flood from one address must not flood the log either.
        logger.debug({ remoteAddress: conn.remoteAddress }, 'connection refused: limits.maxConnectionsPerAddress');
        conn.destroy();
        return;
      }
      perAddress.set(conn.remoteAddress, n + 1);
    }
    open++;
    // The connection registers itself as the transport's handler and calls ctx.closed() once.
    if (protocol === 'mqtt') new MqttConnection(mqttCtx, conn);
    else if (protocol === 'mqttsn') new MqttSnConnection(snCtx, conn);
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

  /** MQTT-SN gateway discovery, when mqttsn.advertise (made by start()). */
  let discovery: Discovery | null = null;
  /** The HTTP API on the ws/wss ports (src/http/api.ts), made by start(). */
  let httpApi: HttpApi | null = null;
  const listeners = new Listeners({
    tls: config.tls,
    onConnection,
    httpHandler: (req, res) => {
      if (httpApi !== null) httpApi.handler(req, res);
      else {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('starting\n');
      }
    },
    maxWsPayload: Math.max(config.mqtt.maxPacketSize, config.stomp.maxBodyBytes + 64 * 1024),
    // The protocol is known only once connected: the setup phase gets the smaller timeout.
    connectTimeoutMs: Math.min(config.mqtt.connectTimeoutMs, config.stomp.connectTimeoutMs),
    wsPingsPerSecond: config.limits.wsPingsPerSecond,
    udp: { datagramsPerSecond: config.mqttsn.datagramsPerSecond, maxClients: config.mqttsn.maxClients, receiveBufferBytes: config.mqttsn.receiveBufferBytes, counters: snCounters },
    allowedOrigins: config.ws.allowedOrigins,
    onOriginRefused: (origin, remoteAddress) => {
      // Once per origin (bounded): a page that keeps retrying would otherwise fill the log.
      if (refusedOrigins.size >= 1000 || refusedOrigins.has(origin)) return;
      refusedOrigins.add(origin);
      logger.info({ origin, remoteAddress }, 'websocket upgrade refused: origin not in ws.allowedOrigins');
    },
  });
  const refusedOrigins = new Set<string>();
  /** The configuration running now (reloads compare against it). */
  let running = config;

  /** Stores the broker opened itself (store.type sqlite or redis), closed by stop(). */
  let ownStores: Stores | null = null;
  const startedAt = clock.now();
  const bus = opts.bus;
  // $SYS: the cluster bus's values, and the MQTT-SN gateway's counters when it listens.
  const gateway = config.listen.some((u) => u.startsWith('mqttsn:'));
  const sysExtra: (() => Record<string, number>) | null =
    bus?.stats === undefined && !gateway
      ? null
      : () => ({
          ...(bus?.stats?.() ?? {}),
          ...(gateway ? Object.fromEntries(Object.entries(snCounters).map(([k, v]) => [`mqttsn/${k}`, v])) : {}),
        });
  const sysPublishers = [...apps.values()].map(
    (a) => new SysPublisher(a.router, { version, startedAt, connectedClients: () => open, ...(sysExtra !== null ? { extra: sysExtra } : {}) }),
  );

  const admin = new BrokerAdmin(apps, {
    connections: () => open,
    onReload: (r) => {
      for (const id of r.ignored) logger.warn({ app: id }, 'new applications need a restart; ignored on reload');
      if (!dev) auth.rebuild([...apps.values()]);
      webhooks.reconfigure(r.updated.flatMap((id) => apps.get(id)?.config ?? []));
    },
  });
  const appOf = (id: string): ApplicationAdmin => {
    const a = admin.app(id);
    if (!a) throw new Error(`unknown application "${id}"`);
    return a;
  };

  const broker: Broker = {
    applications: apps,
    admin,
    webhooks,
    publish(app, topic, payload, o = {}) {
      const r = appOf(app).publish(topic, payload, o);
      if (!r.ok) throw new AdminError(r);
      return r.deliveries;
    },
    subscribeClient(app, clientId, filter, qos = 1) {
      return appOf(app).subscribe(clientId, filter, { qos }).ok;
    },
    unsubscribeClient(app, clientId, filter) {
      const r = appOf(app).unsubscribe(clientId, filter);
      return r.ok && r.existed;
    },
    listClients(app, filter) {
      return [...appOf(app).clients(filter)];
    },
    disconnectClient(app, clientId) {
      const r = appOf(app).kick(clientId);
      return r.ok && r.disconnected;
    },
    reload(next) {
      const r = admin.reload(next);
      let tlsReloaded = 0;
      let tlsError: string | undefined;
      try {
        tlsReloaded = listeners.reloadTls(next.tls);
        if (tlsReloaded > 0) logger.info({ cert: next.tls.cert, listeners: tlsReloaded }, 'TLS certificate and key reloaded');
      } catch (err) {
        tlsError = (err as Error).message;
        logger.error({ err: tlsError }, 'TLS reload failed; the listeners keep the certificate they had');
      }
      listeners.setAllowedOrigins(next.ws.allowedOrigins);
      const restart = restartNeeded(running, next);
      if (restart.length > 0) logger.warn({ settings: restart }, 'changed settings need a restart to apply; kept as they were');
      running = applied(running, next, restart);
      logger.info({ applications: r.updated, restartNeeded: restart }, 'configuration reloaded');
      return { ...r, tlsReloaded, ...(tlsError !== undefined ? { tlsError } : {}), restartNeeded: restart };
    },
    addresses: [],
    accept: onConnection,
    async start() {
      // The configured store (unless the embedder passed its own): opened, and what it holds
      // comes back, before any client can connect.
      if (opts.stores === undefined && config.store.type === 'sqlite') {
        const sqlite = await SqliteStores.open({ dataDir: config.store.dataDir, durability: config.store.durability, batchMs: config.store.batchMs });
        ownStores = sqlite;
        for (const a of apps.values()) a.useStores(sqlite);
        logger.info({ file: sqlite.file, durability: sqlite.durability }, 'store opened');
      } else if (opts.stores === undefined && config.store.type === 'redis') {
        // Shared by the nodes: sessions are taken when their client connects (core/clients.ts).
        const redis = new RedisStores({ redis: config.cluster.redis, node: opts.bus?.node ?? hostname() });
        await redis.open();
        ownStores = redis;
        for (const a of apps.values()) a.useStores(redis);
        logger.info({ redis: redis.where }, 'store opened');
      }
      // Shared sessions: an acknowledgement waits for the other nodes a message went to as well.
      if ((opts.stores ?? ownStores)?.shared !== undefined && config.store.durability === 'sync') opts.bus?.confirmStored?.();
      try {
        for (const a of apps.values()) await a.restore();
        // From here on (what the stores gave back is not news: no subscription.added for it).
        for (const a of apps.values()) webhooks.attach(a);
        // Linked to the other nodes, with their retained messages, before any client connects.
        if (cluster !== null) await cluster.start();
        const metrics = new BrokerMetrics(admin, {
          authFailures: () => auth.failures,
          ...(bus?.stats !== undefined ? { extra: () => bus.stats!() } : {}),
          ...(gateway ? { mqttsn: () => Object.fromEntries(Object.entries(snCounters)) } : {}),
        });
        // Sampled latencies: publish to delivery (router.ts), acknowledgements waiting for the store and the bus (application.ts).
        for (const a of apps.values()) {
          a.router.onLatency = (seconds) => metrics.observeLatency(a.id, seconds);
          a.storeLatency.report = (seconds) => metrics.observeStore(a.id, seconds);
          a.busLatency.report = (seconds) => metrics.observeBus(a.id, seconds);
        }
        httpApi = await createHttpApi({
          admin,
          auth,
          logger,
          version,
          ...(config.http.metricsToken !== undefined ? { metricsToken: config.http.metricsToken } : {}),
          ...(config.http.staticDir !== undefined ? { static: { dir: config.http.staticDir, path: config.http.staticPath } } : {}),
          metrics,
          readiness: () => {
            const store = opts.stores ?? ownStores;
            const busStats = bus?.stats?.();
            const checks: Record<string, boolean> = { listening: broker.addresses.length > 0 && !stopping, store: store === null || store === undefined || store.writeError === null };
            if (busStats !== undefined && 'cluster/redis/connected' in busStats) checks.bus = busStats['cluster/redis/connected'] === 1;
            return { ready: Object.values(checks).every(Boolean), checks };
          },
        });
        // Binds all listeners or none (a failed one closes those already bound).
        const addrs = await listeners.listen(config.listen);
        broker.addresses.push(...addrs);
        // MQTT-SN discovery (mqttsn.advertise): ADVERTISE and GWINFO leave through the gateway's socket.
        const send = config.mqttsn.advertise ? listeners.datagramSender(config.mqttsn.multicastInterface) : null;
        if (send !== null) {
          discovery = new Discovery({ gatewayId: config.mqttsn.gatewayId, group: config.mqttsn.multicastGroup, port: config.mqttsn.multicastPort, iface: config.mqttsn.multicastInterface, intervalSec: config.mqttsn.advertiseSeconds, send });
          await discovery.start();
          logger.info({ group: `${config.mqttsn.multicastGroup}:${config.mqttsn.multicastPort}`, gatewayId: config.mqttsn.gatewayId }, 'MQTT-SN discovery: advertising');
        }
        for (const s of sysPublishers) s.start(config.sys.interval);
        for (const a of addrs) logger.info({ url: a.url }, 'listening');
        return addrs;
      } catch (err) {
        // Leave nothing running: no timers, no servers, no sockets.
        for (const s of sysPublishers) s.stop();
        const closing = listeners.close();
        listeners.destroyAll();
        await closing;
        await discovery?.stop();
        discovery = null;
        await listeners.closeUdp();
        await cluster?.stop().catch(() => undefined);
        await httpApi?.close().catch(() => undefined);
        httpApi = null;
        sweep.stop();
        await webhooks.stop(0);
        await ownStores?.close().catch(() => undefined);
        ownStores = null;
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
      for (const c of [...snConnections]) c.shutdown();
      anonymous.shutdown();
      await new Promise((r) => setImmediate(r));
      listeners.destroyAll();
      await discovery?.stop();
      await listeners.closeUdp(); // after the gateway's DISCONNECTs went out through them
      await closing;
      await cluster?.stop();
      await httpApi?.close();
      // What is still queued for webhooks (the disconnects of this shutdown too) gets a short grace.
      await webhooks.stop(WEBHOOK_STOP_GRACE_MS);
      sweep.stop(); // no timer outlives the broker (parked sessions of a stopped broker never expire)
      // Last writes committed, the data directory released (an embedder's own stores stay open).
      await ownStores?.close().catch((err: unknown) => logger.error({ err }, 'closing the store failed'));
      ownStores = null;
      logger.info('stopped');
    },
  };
  return broker;
}

/**
 * How MQTT-SN clients log in (their CONNECT carries no credentials): as the application
 * `mqttsn.app` with the key of the profile `mqttsn.profile`; in development mode the profile's
 * name is the secret (Authenticator.builtIn). Checked only when an `mqttsn://` listener is
 * configured: a missing application or key is a configuration error naming the setting.
 */
function mqttsnLogin(config: BrokerConfig, development: boolean): MqttSnLogin {
  const profile = config.mqttsn.profile;
  if (development) return { appKey: null, secret: profile };
  const used = config.listen.some((u) => u.startsWith('mqttsn:'));
  const id = config.mqttsn.app;
  if (id === undefined) {
    if (used) throw new ConfigError('mqttsn.app: required by the mqttsn:// listeners when applications are configured (the application MQTT-SN clients log in to)');
    return { appKey: null, secret: '' };
  }
  const app = config.applications.find((a) => a.id === id);
  if (app === undefined) throw new ConfigError(`mqttsn.app: no application "${id}"`);
  const key = app.profileKeys[profile];
  if (key === undefined) {
    if (used) throw new ConfigError(`mqttsn.profile: application "${id}" has no profileKeys.${profile} for MQTT-SN clients to log in with`);
    return { appKey: app.appKey, secret: '' };
  }
  return { appKey: app.appKey, secret: key };
}
