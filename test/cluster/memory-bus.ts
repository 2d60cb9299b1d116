/**
 * A Bus between brokers in one process (what an embedder may pass to createBroker): it shows
 * that core/bus.ts is all the core needs from a bus, and lets tests run several nodes without
 * processes. Deliveries are asynchronous and in order per destination, as on a real bus; a
 * message is copied once per publish (its record), whatever the number of nodes.
 */
import type { Bus, BusHandler, Claim, NodeId, Owner, RemoteGroup, Route } from '../../src/core/bus.js';
import { fromRecord, messageRecord } from '../../src/core/message.js';
import type { Message } from '../../src/core/message.js';
import { topicMatches } from '../../src/core/topic.js';

export class MemoryHub {
  readonly nodes = new Map<NodeId, MemoryBus>();
  /** Messages that crossed, per route kind (for assertions). */
  readonly sent = new Map<string, number>();

  /** Resolves once nothing is in flight between the nodes. */
  async idle(): Promise<void> {
    while ([...this.nodes.values()].some((b) => b.busy)) await new Promise((r) => setImmediate(r));
  }
}

const FANOUT: Route = { kind: 'fanout' };

export class MemoryBus implements Bus {
  private handler: BusHandler | null = null;
  /** Filters this node announced, per application. */
  readonly interest = new Map<string, Set<string>>();
  /** Other nodes' claims: app -> client id -> claims. */
  private readonly registry = new Map<string, Map<string, Owner[]>>();
  private queue: Array<() => void> = [];
  private scheduled = false;

  get busy(): boolean {
    return this.scheduled;
  }

  constructor(
    private readonly hub: MemoryHub,
    readonly node: NodeId,
  ) {}

  /** Run `fn` on this node after the current turn, in order. */
  private post(fn: () => void): void {
    this.queue.push(fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const q = this.queue;
      this.queue = [];
      for (const f of q) if (this.handler !== null) f();
    });
  }

  private others(): MemoryBus[] {
    return [...this.hub.nodes.values()].filter((b) => b !== this);
  }

  async start(handler: BusHandler): Promise<void> {
    this.handler = handler;
    const peers = this.others();
    this.hub.nodes.set(this.node, this);
    for (const p of peers) {
      for (const { app, claim } of handler.claims()) p.post(() => p.claimed(app, claim, this.node));
      for (const { app, claim } of p.handler!.claims()) this.claimed(app, claim, p.node);
      p.post(() => p.handler!.nodeUp(this.node));
      handler.nodeUp(p.node);
    }
    // Retained sync from one peer, before this node serves anyone.
    const from = peers[0];
    if (from !== undefined) for (const { app, msg } of from.handler!.retained()) handler.message(app, copy(msg), { kind: 'retained' }, from.node);
  }

  quiesce(): void {}

  async stop(): Promise<void> {
    this.hub.nodes.delete(this.node);
    this.handler = null;
    for (const p of this.others()) {
      p.post(() => {
        for (const m of p.registry.values()) for (const [id, list] of m) if (list.some((o) => o.node === this.node)) m.set(id, list.filter((o) => o.node !== this.node));
        p.handler!.nodeDown(this.node);
      });
    }
  }

  peers(): readonly NodeId[] {
    return this.others().map((b) => b.node);
  }

  subscribe(app: string, filter: string): void {
    let s = this.interest.get(app);
    if (s === undefined) this.interest.set(app, (s = new Set()));
    s.add(filter);
    for (const p of this.others()) p.post(() => p.handler!.interest(app, filter, this.node, true));
  }

  unsubscribe(app: string, filter: string): void {
    if (this.interest.get(app)?.delete(filter) !== true) return;
    for (const p of this.others()) p.post(() => p.handler!.interest(app, filter, this.node, false));
  }

  private wants(app: string, topic: string): boolean {
    for (const f of this.interest.get(app) ?? []) if (!f.startsWith('$share/') && topicMatches(f, topic)) return true;
    return false;
  }

  interested(app: string, topic: string): boolean {
    return this.others().some((p) => p.wants(app, topic)) || this.groups(app, topic).length > 0;
  }

  groups(app: string, topic: string): readonly RemoteGroup[] {
    const out: Array<{ filter: string; group: string; nodes: NodeId[] }> = [];
    for (const p of this.others()) {
      for (const f of p.interest.get(app) ?? []) {
        if (!f.startsWith('$share/')) continue;
        const slash = f.indexOf('/', 7);
        const group = f.slice(7, slash);
        const filter = f.slice(slash + 1);
        if (!topicMatches(filter, topic)) continue;
        const g = out.find((x) => x.filter === filter && x.group === group);
        if (g) g.nodes.push(p.node);
        else out.push({ filter, group, nodes: [p.node] });
      }
    }
    return out;
  }

  private deliver(to: MemoryBus, app: string, msg: Message, route: Route): void {
    this.hub.sent.set(route.kind, (this.hub.sent.get(route.kind) ?? 0) + 1);
    to.post(() => to.handler!.message(app, copy(msg), route, this.node));
  }

  publish(app: string, msg: Message, route: Route = FANOUT): number {
    let n = 0;
    const rec = fromRecord(messageRecord(msg));
    for (const p of this.others()) {
      const wants = p.wants(app, msg.topic);
      if (wants) n++;
      if (wants || (msg.retain && route.kind === 'fanout')) this.deliver(p, app, rec, route);
    }
    return n;
  }

  send(node: NodeId, app: string, msg: Message, route: Route): boolean {
    const p = this.hub.nodes.get(node);
    if (p === undefined || p === this) return false;
    this.deliver(p, app, msg, route);
    return true;
  }

  broadcast(app: string, msg: Message, route: Route): void {
    for (const p of this.others()) this.deliver(p, app, msg, route);
  }

  claim(app: string, claim: Claim): void {
    for (const p of this.others()) p.post(() => p.claimed(app, claim, this.node));
  }

  private claimed(app: string, claim: Claim, node: NodeId): void {
    const owner: Owner = { ...claim, node };
    let m = this.registry.get(app);
    if (m === undefined) this.registry.set(app, (m = new Map()));
    m.set(claim.clientId, [...(m.get(claim.clientId) ?? []).filter((o) => o.node !== node), owner]);
    this.handler?.claimed(app, owner);
  }

  /** Nodes in one process do not die apart: no other node needs their wills. */
  will(): void {}

  /** No shared store between these nodes: the claim that follows settles a takeover. */
  handOver(): Promise<void> {
    return Promise.resolve();
  }

  release(app: string, clientId: string): void {
    for (const p of this.others()) {
      p.post(() => {
        const m = p.registry.get(app);
        const rest = (m?.get(clientId) ?? []).filter((o) => o.node !== this.node);
        if (rest.length === 0) m?.delete(clientId);
        else m!.set(clientId, rest);
      });
    }
  }

  owner(app: string, clientId: string): Owner | undefined {
    const list = this.registry.get(app)?.get(clientId) ?? [];
    return list.find((o) => o.online) ?? list[list.length - 1];
  }

  *owners(app: string): Iterable<Owner> {
    for (const id of this.registry.get(app)?.keys() ?? []) {
      const o = this.owner(app, id);
      if (o !== undefined) yield o;
    }
  }
}

function copy(msg: Message): Message {
  return fromRecord(messageRecord(msg));
}
