/**
 * Prometheus metrics (text exposition) over the admin facade's read model.
 *
 * No metric is updated per message: the broker's own counters (RouterStats, dead letters, the
 * memory budget) are read when Prometheus scrapes, through the metrics' `collect()` callbacks,
 * from one `admin.stats()` snapshot per scrape. Process and Node.js metrics come from
 * prom-client's default collectors under their standard names (process_*, nodejs_*), so the
 * usual dashboards work; everything else is `switchboard_*`. Per-application series carry an
 * `app` label; drops carry a `reason` label as well. Monotonic totals are counters (`_total`),
 * set from the broker's totals at each scrape.
 *
 * The registry is this object's own (never prom-client's global one), so several brokers in one
 * process, or in tests, do not collide.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppStats, BrokerAdmin, BrokerStats } from '../core/admin.js';
import { LATENCY_SAMPLE } from '../core/router.js';
import { CONFIRM_SAMPLE } from '../core/application.js';
import type { RouterStats } from '../core/router.js';

export interface BrokerMetricsOptions {
  /**
   * Extra numeric values read at each scrape (e.g. the cluster bus's stats), exported as gauges
   * `switchboard_cluster_<key>`, the key lowercased with every other character than [a-z0-9_]
   * made '_' (a leading "cluster_" is not repeated). A key that is gone at a later scrape is no
   * longer exported; of keys that sanitise to the same name, the first wins.
   */
  extra?: () => Record<string, number> | undefined;
  /** Logins refused so far (every protocol and the HTTP API). */
  authFailures?: () => number;
  /** The MQTT-SN gateway's counters (protocols/mqttsn/context.ts MqttSnCounters), when it listens. */
  mqttsn?: () => Readonly<Record<string, number>>;
}

/** The MQTT-SN gateway's counters, as `switchboard_mqttsn_<name>_total`. */
const MQTTSN_COUNTERS: Record<string, string> = {
  datagramsIn: 'Datagrams received by the MQTT-SN gateway.',
  datagramsOut: 'Datagrams sent by the MQTT-SN gateway.',
  malformed: 'Datagrams that were not MQTT-SN 1.2 messages (dropped).',
  unexpected: 'Valid MQTT-SN messages not expected in the client\'s state (ignored).',
  udpDropped: 'Datagrams dropped before parsing: over mqttsn.datagramsPerSecond for their address, or from a new address beyond mqttsn.maxClients.',
  retransmissions: 'MQTT-SN messages sent again to a client after mqttsn.retryMs.',
  anonymousPublishes: 'QoS -1 publishes taken from addresses without a connection.',
};

type AppLabel = 'app';

/**
 * Every numeric counter of RouterStats, as a counter with its name and help. `dropped` is the
 * sum of `droppedByReason` and is exported only as that, by reason (a total beside it in the same
 * family would be counted twice by sum()). Typed as a Record so a new counter fails to compile here.
 */
const ROUTER_COUNTERS: Record<Exclude<keyof RouterStats, 'droppedByReason' | 'messagesInByQos' | 'messagesOutByQos' | 'bytesOutByQos'>, { name: string; help: string } | null> = {
  messagesIn: { name: 'switchboard_messages_in_total', help: 'Messages published into the application (clients, the broker and server-side publishes).' },
  messagesOut: { name: 'switchboard_messages_out_total', help: 'Deliveries to subscribers (a message to three subscribers counts three).' },
  bytesIn: { name: 'switchboard_bytes_in_total', help: 'Payload bytes of the messages published into the application.' },
  dropped: null,
};

const CLUSTER_PREFIX = 'switchboard_cluster_';

/** `switchboard_cluster_<key>` for an extra value's key, or null when nothing is left of it. */
function clusterMetricName(key: string): string | null {
  let k = key.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (k.startsWith('cluster_')) k = k.slice('cluster_'.length);
  return k === '' ? null : CLUSTER_PREFIX + k;
}

export class BrokerMetrics {
  private readonly registry = new Registry();
  /** The stats of the scrape under way (taken once, read by every collect()). */
  private snapshot: BrokerStats | null = null;
  /** Gauges of the `extra` values, by metric name. */
  private readonly extras = new Map<string, Gauge>();
  /** Sampled publish-to-delivery latency (Router.onLatency feeds it: observeLatency). */
  private readonly latency: Histogram<AppLabel>;
  private readonly storeLatency: Histogram<AppLabel>;
  private readonly busLatency: Histogram<AppLabel>;
  /** Forget what one scrape read (the next one reads again). */
  private endScrape: () => void = () => undefined;
  /** The Prometheus text exposition format's content type (text/plain; version=0.0.4). */
  readonly contentType: string;

  constructor(
    private readonly admin: BrokerAdmin,
    private readonly opts: BrokerMetricsOptions = {},
  ) {
    const register = this.registry;
    this.contentType = register.contentType;
    collectDefaultMetrics({ register });
    const stats = (): BrokerStats => (this.snapshot ??= this.admin.stats());
    const registers = [register];

    /** A gauge per application, set at each scrape by `each` (one `set` per application). */
    const gaugePerApp = (name: string, help: string, each: (set: (app: string, value: number) => void) => void): void => {
      new Gauge<AppLabel>({
        name,
        help,
        labelNames: ['app'],
        registers,
        collect() {
          this.reset();
          each((app, value) => this.set({ app }, value));
        },
      });
    };
    /** A gauge per application, from its stats. */
    const appGauge = (name: string, help: string, read: (a: AppStats) => number): void =>
      gaugePerApp(name, help, (set) => {
        for (const a of stats().applications) set(a.app, read(a));
      });
    /** A counter per application: the broker's own total, copied at each scrape. */
    const appCounter = (name: string, help: string, read: (a: AppStats) => number): void => {
      new Counter<AppLabel>({
        name,
        help,
        labelNames: ['app'],
        registers,
        collect() {
          this.reset();
          for (const a of stats().applications) this.inc({ app: a.app }, Math.max(0, read(a)));
        },
      });
    };

    appGauge('switchboard_sessions', 'Client sessions, online or parked.', (a) => a.clients.sessions);
    appGauge('switchboard_clients_online', 'Sessions with a connection.', (a) => a.clients.online);
    appGauge('switchboard_sessions_persistent', 'Sessions that outlive their connection (expiry > 0), online or not.', (a) => a.clients.persistent);
    appGauge('switchboard_subscriptions', 'Subscriptions ($monitor and $presence ones not counted).', (a) => a.subscriptions);
    appGauge('switchboard_retained_messages', 'Retained messages.', (a) => a.retained);
    appGauge('switchboard_stored_bytes', 'Bytes held for clients: queues, backlogs, retained messages, wills, subscriptions (limits.maxStoredBytesPerApp).', (a) => a.storedBytes);
    appCounter('switchboard_dead_letters_total', 'Messages dead-lettered.', (a) => a.deadLetters.total);
    appGauge('switchboard_dead_letters_kept', 'Dead letters kept in the recent list.', (a) => a.deadLetters.kept);
    for (const key of Object.keys(ROUTER_COUNTERS) as Array<keyof typeof ROUTER_COUNTERS>) {
      const m = ROUTER_COUNTERS[key];
      if (m !== null) appCounter(m.name, m.help, (a) => a.messages[key]);
    }
    const byQos = (name: string, help: string, read: (a: AppStats) => readonly number[]): void => {
      new Counter<'app' | 'qos'>({
        name,
        help,
        labelNames: ['app', 'qos'],
        registers,
        collect() {
          this.reset();
          for (const a of stats().applications) read(a).forEach((n, qos) => this.inc({ app: a.app, qos: String(qos) }, Math.max(0, n)));
        },
      });
    };
    byQos('switchboard_messages_in_by_qos_total', 'Messages published into the application, by the QoS they were published with.', (a) => a.messages.messagesInByQos);
    byQos('switchboard_messages_out_by_qos_total', "Deliveries to this node's sessions (queued ones included), by the QoS they are delivered with.", (a) => a.messages.messagesOutByQos);
    byQos('switchboard_bytes_out_by_qos_total', "Payload bytes of the deliveries to this node's sessions, by the QoS they are delivered with.", (a) => a.messages.bytesOutByQos);
    /** A latency histogram per application, fed by observe* (sampled in core). */
    const latency = (name: string, help: string, buckets: number[]): Histogram<AppLabel> => new Histogram<AppLabel>({ name, help, labelNames: ['app'], buckets, registers });
    const ACK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.latency = latency(
      'switchboard_publish_to_delivery_seconds',
      `Publish-to-delivery latency inside the broker, from routing until the deliveries are written to the subscribers' sockets; one message in ${LATENCY_SAMPLE} is timed.`,
      [0.0001, 0.00025, ...ACK_BUCKETS],
    );
    this.storeLatency = latency(
      'switchboard_store_write_seconds',
      `How long a QoS 1/2 acknowledgement waits for the store to make the message durable (store.durability sync); one in ${CONFIRM_SAMPLE} is timed.`,
      ACK_BUCKETS,
    );
    this.busLatency = latency(
      'switchboard_bus_confirm_seconds',
      `How long a QoS 1/2 acknowledgement waits for the cluster nodes the message went to (shared store, sync); one in ${CONFIRM_SAMPLE} is timed.`,
      ACK_BUCKETS,
    );
    new Counter<'app' | 'reason'>({
      name: 'switchboard_messages_dropped_total',
      help: 'Messages dropped, by reason (queue-full, expired, slow-consumer, offline, no-subscribers, nack-limit, overload).',
      labelNames: ['app', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const a of stats().applications) {
          for (const [reason, n] of Object.entries(a.messages.droppedByReason)) this.inc({ app: a.app, reason }, Math.max(0, n));
        }
      },
    });

    // Per application, walked at scrape time (one pass over its sessions): connections by
    // protocol and transport, and what waits in sessions and queues.
    const walk = (): Map<string, { conns: Map<string, number>; queued: number; inflight: number; queueDepth: number }> => {
      const out = new Map<string, { conns: Map<string, number>; queued: number; inflight: number; queueDepth: number }>();
      for (const id of this.admin.applications()) {
        const a = this.admin.app(id);
        if (a === undefined) continue;
        const w = { conns: new Map<string, number>(), queued: 0, inflight: 0, queueDepth: 0 };
        for (const c of a.clients()) {
          w.queued += c.queued;
          w.inflight += c.inflight;
          if (c.online) {
            const k = `${c.protocol}\n${c.transport ?? 'unknown'}`;
            w.conns.set(k, (w.conns.get(k) ?? 0) + 1);
          }
        }
        for (let page = a.listQueues({ limit: 1000 }); ; page = a.listQueues({ limit: 1000, cursor: page.next })) {
          for (const q of page.items) w.queueDepth += q.depth;
          if (page.next === null) break;
        }
        out.set(id, w);
      }
      return out;
    };
    let walked: ReturnType<typeof walk> | null = null;
    const sessions = (): ReturnType<typeof walk> => (walked ??= walk());
    this.endScrape = () => {
      walked = null;
    };
    new Gauge<'app' | 'protocol' | 'transport'>({
      name: 'switchboard_client_connections',
      help: 'Clients connected, by protocol (mqtt, stomp) and transport (tcp, tls, ws, wss).',
      labelNames: ['app', 'protocol', 'transport'],
      registers,
      collect() {
        this.reset();
        for (const [app, w] of sessions()) {
          for (const [k, n] of w.conns) {
            const [protocol = '', transport = ''] = k.split('\n');
            this.set({ app, protocol, transport }, n);
          }
        }
      },
    });
    const walkGauge = (name: string, help: string, read: (w: ReturnType<typeof walk> extends Map<string, infer W> ? W : never) => number): void =>
      gaugePerApp(name, help, (set) => {
        for (const [app, w] of sessions()) set(app, read(w));
      });
    walkGauge('switchboard_session_queued_messages', 'Deliveries waiting in session queues (memory and store).', (w) => w.queued);
    walkGauge('switchboard_inflight_messages', 'Deliveries sent and not yet acknowledged.', (w) => w.inflight);
    walkGauge('switchboard_queue_depth_messages', 'Messages waiting in queues and shared groups for a consumer.', (w) => w.queueDepth);
    const authFailures = this.opts.authFailures;
    if (authFailures !== undefined) {
      new Counter({
        name: 'switchboard_auth_failures_total',
        help: 'Logins refused (bad credentials, not authorised, throttled), every protocol and the HTTP API.',
        registers,
        collect() {
          this.reset();
          this.inc(authFailures());
        },
      });
    }

    const mqttsn = this.opts.mqttsn;
    if (mqttsn !== undefined) {
      for (const [key, help] of Object.entries(MQTTSN_COUNTERS)) {
        new Counter({
          name: `switchboard_mqttsn_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`,
          help,
          registers,
          collect() {
            this.reset();
            this.inc(mqttsn()[key] ?? 0);
          },
        });
      }
    }

    // Broker-wide.
    new Gauge({
      name: 'switchboard_memory_budget_used_bytes',
      help: 'Bytes of queued, backlogged and retained message data, broker-wide (limits.memoryBudget).',
      registers,
      collect() {
        this.set(stats().budget.used);
      },
    });
    new Gauge({
      name: 'switchboard_memory_budget_limit_bytes',
      help: 'The memory budget (limits.memoryBudget).',
      registers,
      collect() {
        this.set(stats().budget.limit);
      },
    });
    new Gauge({
      name: 'switchboard_memory_budget_exceeded',
      help: '1 while the memory budget is exceeded (publishes are refused), else 0.',
      registers,
      collect() {
        this.set(stats().budget.exceeded ? 1 : 0);
      },
    });
    // Only when the admin knows them (createBroker's does); 0 would be a false reading.
    if (admin.stats().connections !== null) {
      new Gauge({
        name: 'switchboard_connections',
        help: 'Open network connections, every protocol, including those not logged in yet.',
        registers,
        collect() {
          this.set(stats().connections ?? 0);
        },
      });
    }
  }

  /** One sampled publish-to-delivery latency of application `app` (Router.onLatency). */
  observeLatency(app: string, seconds: number): void {
    this.latency.observe({ app }, seconds);
  }

  /** One sampled wait for the store to make a message durable (Application.storeLatency). */
  observeStore(app: string, seconds: number): void {
    this.storeLatency.observe({ app }, seconds);
  }

  /** One sampled wait for the other nodes to confirm a message (Application.busLatency). */
  observeBus(app: string, seconds: number): void {
    this.busLatency.observe({ app }, seconds);
  }

  /** The metrics, read now. */
  async text(): Promise<string> {
    this.snapshot = null;
    try {
      this.syncExtras();
      return await this.registry.metrics();
    } finally {
      this.snapshot = null;
      this.endScrape();
    }
  }

  /** Register, set and retire the `extra` gauges (before the registry is walked, never during). */
  private syncExtras(): void {
    if (this.opts.extra === undefined) return;
    const values = this.opts.extra() ?? {};
    const seen = new Set<string>();
    for (const [key, value] of Object.entries(values)) {
      const name = clusterMetricName(key);
      if (name === null || seen.has(name) || typeof value !== 'number') continue;
      seen.add(name);
      let g = this.extras.get(name);
      if (g === undefined) {
        g = new Gauge({ name, help: `Cluster: ${key}.`, registers: [this.registry] });
        this.extras.set(name, g);
      }
      g.set(value);
    }
    for (const name of this.extras.keys()) {
      if (seen.has(name)) continue;
      this.registry.removeSingleMetric(name);
      this.extras.delete(name);
    }
  }
}
