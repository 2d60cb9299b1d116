/**
 * $SYS statistics, published as retained messages every `interval` seconds
 * (names follow the widely used Mosquitto layout so existing dashboards work).
 * Cluster mode: each node publishes its own, under `$SYS/broker/<node>/...` (they are retained
 * on every node; one node's values never replace another's).
 */
import { createMessage } from './message.js';
import type { Router } from './router.js';

export interface SysSource {
  version: string;
  startedAt: number;
  connectedClients(): number;
  extra?(): Record<string, number>;
}

export class SysPublisher {
  private timer: NodeJS.Timeout | null = null;
  private prefix = '$SYS/broker/';

  constructor(
    private readonly router: Router,
    private readonly src: SysSource,
  ) {}

  start(intervalSeconds: number): void {
    if (intervalSeconds <= 0) return;
    const node = this.router.cluster?.node;
    this.prefix = node === undefined ? '$SYS/broker/' : `$SYS/broker/${node}/`;
    this.publishStatic();
    this.tick();
    this.timer = setInterval(() => this.tick(), intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private set(topic: string, value: string | number): void {
    // Broker-originated: bypasses the publish counters' client semantics but is routed normally.
    this.router.publish(createMessage(this.prefix + topic, Buffer.from(String(value)), 0, true, null, 0, null));
  }

  private publishStatic(): void {
    this.set('version', `switchboard ${this.src.version}`);
  }

  tick(): void {
    const r = this.router;
    const s = r.stats;
    const mem = process.memoryUsage();
    this.set('uptime', `${Math.floor((this.router.now() - this.src.startedAt) / 1000)} seconds`);
    this.set('clients/connected', this.src.connectedClients());
    this.set('clients/total', r.sessions.size);
    this.set('messages/received', s.messagesIn);
    this.set('messages/sent', s.messagesOut);
    this.set('messages/dropped', s.dropped);
    this.set('bytes/received', s.bytesIn);
    this.set('subscriptions/count', r.trie.size);
    this.set('retained messages/count', r.retained.size);
    this.set('heap/current', mem.heapUsed);
    this.set('rss', mem.rss);
    const extra = this.src.extra?.();
    if (extra) for (const [k, v] of Object.entries(extra)) this.set(k, v);
  }
}
