/**
 * The bus: everything that crosses a process (or a host). In the spirit of centrifuge's Broker:
 * the core registers one handler, announces interest when the first local subscriber of a filter
 * arrives and withdraws it when the last one leaves, publishes, and hears about nodes joining
 * and leaving. MQTT adds wildcard and shared-group interest, client ownership (one holder per
 * client id, for takeover, duplicate logins and profile rules cluster-wide) and retained sync.
 * cluster/peers.ts holds what every transport shares; the transports are the Unix-socket mesh of
 * `--workers` (cluster/mesh.ts) and Redis (cluster/redis.ts: sharded pub/sub channels per node,
 * heartbeats). Tests use an in-process bus (test/cluster/memory-bus.ts).
 * Without a bus (one process) `router.cluster` is null: the publish path pays one null check.
 *
 * Invariants every implementation keeps:
 * - Order: messages from one node to another arrive in the order they were handed to the bus,
 *   whatever their route; so a publisher's messages (which are all handled by its node) reach
 *   every node in order, and a claim is seen before the state published after it.
 * - Once: `publish` reaches each other node at most once and never comes back to its sender; a
 *   message received from the bus is never given to the bus again (the receiving core acts on it
 *   locally, see `Route`). It is serialised once, whatever the number of nodes.
 * - Interest: `subscribe` / `unsubscribe` are called by the core per distinct filter (first /
 *   last local subscriber); a node that joins is told every filter of every other node before it
 *   receives publishes; a node that leaves is forgotten (its interest and claims) at once.
 * - Ownership: claims replace the node's previous claim of the client id and are idempotent;
 *   `owner` answers from a local replica (synchronous, may lag one propagation delay). Clashes
 *   (two nodes claim one client online at once) are settled by each node's core for its own
 *   connection, with the same rule on both sides (core/bus.ts `AppCluster.claimed`).
 * - Retained: a retained publish reaches every node (each keeps the full set); a node that starts
 *   gets a snapshot from one peer before `start` resolves. Snapshot entries never overwrite a
 *   topic set or cleared live since the sync began.
 * - Who acts: the node where a client is connected acts for it (its publishes, its $monitor taps,
 *   its presence, the drops of its deliveries); the publishing node chooses the one receiver of a
 *   shared group or queue and the owner node of an $inbox target. See README "Cluster mode".
 */
import { createMessage } from './message.js';
import type { Message } from './message.js';
import { PROFILE_RANK } from './permissions.js';
import type { Profile } from './permissions.js';
import type { Application } from './application.js';
import type { Session } from './session.js';
import type { SharedGroup, Subscription } from './topic-trie.js';
import { jsonPayload } from './envelope.js';
import type { ClientInfo } from './hooks.js';
import type { SessionRecord } from '../stores/types.js';
import type { EventEmitter } from 'node:events';

type Listener = Parameters<EventEmitter['on']>[1];

/** A node's id, unique among the live nodes (a restarted node may come back under its old id). */
export type NodeId = string;

/** What the receiving node does with a message that crossed the bus. */
export type Route =
  /** Deliver to the local ordinary subscribers (and keep it if retained); never to shared groups. */
  | { readonly kind: 'fanout' }
  /** An `$inbox/<id>` message for the session `<id>` held there: deliver, or queue it in the parked session, or dead-letter it there. */
  | { readonly kind: 'inbox' }
  /** One local member of the shared group (`filter`, `group`), or the queue's backlog there: the publishing node chose this node. */
  | { readonly kind: 'shared'; readonly filter: string; readonly group: string }
  /** A `$monitor/<client>` copy made where `client` (of `profile`) is connected: for the local watchers that outrank it. */
  | { readonly kind: 'tap'; readonly client: string; readonly profile: Profile }
  /** A `$presence/<id>` state published by the node that holds `<id>`: every node keeps it. */
  | { readonly kind: 'presence' }
  /** A node's count of local subscribers of a `presenceTopics` filter (JSON), kept by every node. */
  | { readonly kind: 'members' }
  /** A retained message from a peer's snapshot (retained sync when this node started). */
  | { readonly kind: 'retained' };

/** A node's claim on a client id. */
export interface Claim {
  readonly clientId: string;
  readonly profile: Profile;
  /** Connected there now; false: a parked persistent session there. */
  readonly online: boolean;
  /** When it connected (online) or disconnected (parked) there, ms since epoch. */
  readonly since: number;
  readonly protocol: string;
  readonly transport: string;
}

/** Another node's claim. */
export interface Owner extends Claim {
  readonly node: NodeId;
}

/**
 * The will of a client connected to this node, kept by every other node so that, if this node
 * dies, one of them publishes it (`msg` null: no will now, or it is this node's business again:
 * the client disconnected, and the will fires or is cancelled here).
 */
export interface WillRecord {
  readonly clientId: string;
  /** Who it is published as (authorised again when it fires). */
  readonly client: ClientInfo | null;
  readonly msg: Message | null;
  /** Seconds after the connection ends [MQTT-3.1.3-9]. */
  readonly delay: number;
}

/** A shared group (or queue) with members on other nodes. */
export interface RemoteGroup {
  readonly filter: string;
  readonly group: string;
  /** Nodes with at least one member, in a stable order. */
  readonly nodes: readonly NodeId[];
}

export interface Bus {
  /** This node. */
  readonly node: NodeId;
  /**
   * Join: register the handler (called for every event from now on), link to the current nodes,
   * and take the retained snapshot from one of them. Resolves once this node can serve clients.
   */
  start(handler: BusHandler): Promise<void>;
  /** Shutting down: nodes leaving from now on are expected (no warnings, no reconnects). */
  quiesce(): void;
  stop(): Promise<void>;
  /** The other live nodes. */
  peers(): readonly NodeId[];
  /** Figures for `$SYS/broker/<node>/cluster/...` (name -> value). */
  stats?(): Readonly<Record<string, number>>;

  // ---- interest -------------------------------------------------------------------------
  /** The first local subscriber of `filter` arrived (`$share/<group>/<filter>` for a group member). */
  subscribe(app: string, filter: string): void;
  /** The last local subscriber of `filter` left. */
  unsubscribe(app: string, filter: string): void;
  /** Does another node subscribe to `topic` (an ordinary subscription or a shared group)? */
  interested(app: string, topic: string): boolean;
  /** Shared groups of other nodes matching `topic` (a stable array until interest changes). */
  groups(app: string, topic: string): readonly RemoteGroup[];

  // ---- messages -------------------------------------------------------------------------
  /**
   * Fan-out: to every other node with an ordinary subscription matching `msg.topic` (a retained
   * message: to every node), serialised once, handled there as `route` says (default: fanout).
   * Returns how many nodes have matching interest.
   */
  publish(app: string, msg: Message, route?: Route): number;
  /** To one node, handled there as `route` says. False when that node is not reachable. */
  send(node: NodeId, app: string, msg: Message, route: Route): boolean;
  /** To every other node (state every node keeps: presence, member counts). */
  broadcast(app: string, msg: Message, route: Route): void;

  // ---- ownership ------------------------------------------------------------------------
  /** This node holds `claim.clientId` now (online or parked); replaces its previous claim. */
  claim(app: string, claim: Claim): void;
  /** This node no longer holds `clientId`. */
  release(app: string, clientId: string): void;
  /**
   * Before this node takes `clientId` over from another node: that node lets go of it (closes
   * it, and flushes its store writes so that a shared store holds its latest state). Resolves
   * when it has, at once when no other node holds the client, or when that node is gone or
   * does not answer in time.
   */
  handOver(app: string, clientId: string): Promise<void>;
  /**
   * From now on, QoS 1 and 2 messages this node publishes or sends are confirmed by the nodes
   * they reach once handled and stored there (a shared store with `sync` durability), so that
   * an acknowledgement to their publisher means stored wherever they went.
   */
  confirmStored?(): void;
  /**
   * The confirmation of `msg`, just published or sent: true once every node it went to has
   * stored it; false when one of them went away first or did not answer in time; null when
   * nothing is awaited (it went nowhere, or confirmations are off).
   */
  stored?(msg: Message): Promise<boolean> | null;
  /** The will of a client online here, or none now (see WillRecord). */
  will(app: string, will: WillRecord): void;
  /** Another node's claim on `clientId` (an online one first), if any. */
  owner(app: string, clientId: string): Owner | undefined;
  /** Every client held by another node (its best claim). */
  owners(app: string): Iterable<Owner>;
}

/** What the bus calls; the core's side (ClusterNode below). */
export interface BusHandler {
  /** A message from `from`, to be handled as `route` says. */
  message(app: string, msg: Message, route: Route, from: NodeId): void;
  /** `owner.node` claims a client id: settle a clash with a local holder. */
  claimed(app: string, owner: Owner): void;
  /** `node` started (`added`) or stopped subscribing to `filter`. */
  interest(app: string, filter: string, node: NodeId, added: boolean): void;
  /** Every retained message this node keeps (a joining node's snapshot). */
  retained(): Iterable<{ app: string; msg: Message }>;
  /** This node's current claims (a bus that keeps no copy of them replays them to a node that joins). */
  claims(): Iterable<{ app: string; claim: Claim }>;
  /** `node` joined or came back; its interest and claims are known already. */
  nodeUp(node: NodeId): void;
  /** `node` is gone; its interest and claims are forgotten already. */
  nodeDown(node: NodeId): void;
  /** A node died holding an online client with a will; this node publishes it (one node does). */
  orphanWill(app: string, will: WillRecord): void;
  /**
   * `node` died holding these clients (online or parked; per application): this node takes their
   * sessions in, and the queue backlogs `node` kept (one node does). Resolves once they are
   * held here (their interest announced).
   */
  orphans(node: NodeId, held: ReadonlyMap<string, readonly string[]>): Promise<void>;
  /** Another node takes `clientId` over: let go of it here; resolves once its store writes are flushed. */
  take(app: string, clientId: string): Promise<void>;
  /** Resolves once what this node's core has written to its store so far is durable: true, or false when some of it could not be. */
  flushed(): Promise<boolean>;
}

/** Sessions of a dead node acquired at once (AppCluster.adopt). */
const ADOPT_BATCH = 100;

/** The topics a retained snapshot covers: `#`, and the `$` roots that hold retained messages. */
const RETAINED_ROOTS = ['#', '$SYS/#', '$inbox/#', '$queue/#'];

/**
 * The core's side of the bus for the whole broker: dispatches bus events to each application's
 * AppCluster, answers snapshots. Created by createBroker when a bus is given.
 */
export class ClusterNode implements BusHandler {
  private readonly apps = new Map<string, AppCluster>();
  /** While starting: retained topics set or cleared live (snapshot entries do not overwrite them). */
  private touched: Map<string, Set<string>> | null = null;

  constructor(
    readonly bus: Bus,
    apps: ReadonlyMap<string, Application>,
  ) {
    for (const [name, app] of apps) this.apps.set(name, new AppCluster(bus, name, app));
  }

  get node(): NodeId {
    return this.bus.node;
  }

  async start(): Promise<void> {
    this.touched = new Map();
    try {
      await this.bus.start(this);
    } finally {
      this.touched = null;
    }
  }

  async stop(): Promise<void> {
    this.bus.quiesce();
    await this.bus.stop();
    for (const a of this.apps.values()) a.detach();
  }

  message(app: string, msg: Message, route: Route, from: NodeId): void {
    const a = this.apps.get(app);
    if (a === undefined) return; // configured on another node only (a reload in progress)
    if (route.kind === 'retained') {
      if (this.touched?.get(app)?.has(msg.topic) !== true) a.app.router.syncRetained(msg);
      return;
    }
    if (msg.retain && route.kind === 'fanout' && this.touched !== null) {
      let t = this.touched.get(app);
      if (t === undefined) this.touched.set(app, (t = new Set()));
      t.add(msg.topic);
    }
    a.receive(msg, route, from);
  }

  claimed(app: string, owner: Owner): void {
    this.apps.get(app)?.claimed(owner);
  }

  interest(app: string, filter: string, node: NodeId, added: boolean): void {
    this.apps.get(app)?.interest(filter, node, added);
  }

  *retained(): Iterable<{ app: string; msg: Message }> {
    for (const [name, a] of this.apps) {
      for (const root of RETAINED_ROOTS) for (const msg of a.app.router.retained.match(root)) yield { app: name, msg };
    }
  }

  *claims(): Iterable<{ app: string; claim: Claim }> {
    for (const [name, a] of this.apps) {
      for (const s of a.app.router.sessions.values()) {
        const c = claimOf(s);
        if (c !== null) yield { app: name, claim: c };
      }
    }
  }

  nodeUp(node: NodeId): void {
    for (const a of this.apps.values()) a.nodeUp(node);
  }

  nodeDown(node: NodeId): void {
    for (const a of this.apps.values()) a.nodeDown(node);
  }

  orphanWill(app: string, will: WillRecord): void {
    this.apps.get(app)?.orphanWill(will);
  }

  async orphans(node: NodeId, held: ReadonlyMap<string, readonly string[]>): Promise<void> {
    await Promise.all([...this.apps].map(([name, a]) => a.adopt(held.get(name) ?? [], node)));
  }

  take(app: string, clientId: string): Promise<void> {
    return this.apps.get(app)?.take(clientId) ?? Promise.resolve();
  }

  flushed(): Promise<boolean> {
    // The applications share one store. A write that failed, or that another node's fence
    // refused, is not stored: no confirmation then.
    for (const a of this.apps.values()) {
      const s = a.app.stores;
      if (s !== null && s.dirty) return s.flush().then(() => true, () => false);
    }
    return Promise.resolve(true);
  }

  /** The confirmation of `msg` by the nodes it went to (see Bus.stored). */
  stored(msg: Message): Promise<boolean> | null {
    return this.bus.stored?.(msg) ?? null;
  }
}

/** The claim a session makes (null: nothing to claim, e.g. not logged in yet, or ending). */
function claimOf(s: Session): Claim | null {
  const id = s.identity;
  if (id === null) return null;
  const online = s.link !== null;
  if (!online && s.expiryInterval === 0) return null;
  return { clientId: s.clientId, profile: id.profile, online, since: online ? s.connectedAt : s.disconnectedAt, protocol: s.protocol, transport: id.transport };
}

/**
 * One application's side of the bus: what its router, direct messages, monitor, presence and dead
 * letters call in cluster mode (`router.cluster`), and what it does with what comes from the bus.
 */
export class AppCluster {
  /** Local subscribers per announced filter (interest is announced on the first, withdrawn after the last). */
  private readonly local = new Map<string, number>();
  /** Round-robin position per shared group (`name\nfilter`) among the nodes with members. */
  private readonly cursors = new Map<string, number>();
  /** This node's member count per `presenceTopics` subscription (raw filter). */
  private readonly localMembers = new Map<string, { filter: string; count: number }>();
  /** Other nodes' member counts: raw filter -> node -> count. */
  private readonly remoteMembers = new Map<string, Map<NodeId, number>>();
  private readonly listeners: Array<[string, Listener]> = [];

  constructor(
    private readonly bus: Bus,
    readonly name: string,
    readonly app: Application,
  ) {
    const r = app.router;
    r.cluster = this;
    this.on('subscribe', (_s: Session, sub: Subscription<Session>, replaced: boolean) => {
      if (!replaced) this.count(sub, 1);
    });
    this.on('unsubscribe', (_s: Session, sub: Subscription<Session>) => this.count(sub, -1));
    this.on('online', (s: Session) => {
      const c = claimOf(s);
      if (c !== null) bus.claim(name, c);
      const w = s.will;
      if (w !== null) bus.will(name, { clientId: s.clientId, client: s.identity, msg: w.msg, delay: w.delay });
    });
    this.on('offline', (s: Session) => {
      bus.will(name, { clientId: s.clientId, client: null, msg: null, delay: 0 });
      // A session that lives on is parked here; one that ends is released at 'session-end'.
      if (r.sessions.get(s.clientId) !== s) return;
      const c = claimOf(s);
      if (c !== null) bus.claim(name, c);
    });
    this.on('session-end', (s: Session) => {
      bus.will(name, { clientId: s.clientId, client: null, msg: null, delay: 0 });
      if (!r.sessions.has(s.clientId)) bus.release(name, s.clientId);
    });
  }

  private on(event: string, fn: Listener): void {
    this.app.router.events.on(event, fn);
    this.listeners.push([event, fn]);
  }

  get node(): NodeId {
    return this.bus.node;
  }

  /** The bus is stopping: back to a single process. */
  detach(): void {
    for (const [e, fn] of this.listeners) this.app.router.events.off(e, fn);
    this.listeners.length = 0;
    if (this.app.router.cluster === this) this.app.router.cluster = null;
  }

  private count(sub: Subscription<Session>, d: 1 | -1): void {
    if (sub.filter.startsWith('$presence/')) return; // presence is kept by every node, not routed by interest
    const key = sub.group === null ? sub.filter : `$share/${sub.group}/${sub.filter}`;
    const n = (this.local.get(key) ?? 0) + d;
    if (n > 0) {
      this.local.set(key, n);
      if (n === 1 && d === 1) this.bus.subscribe(this.name, key);
    } else if (this.local.delete(key)) this.bus.unsubscribe(this.name, key);
  }

  // ---- the router's side -------------------------------------------------------------------

  /**
   * A publish handled here, after its local ordinary subscribers: the copies for other nodes
   * (one per node with matching interest), and one receiver per shared group cluster-wide: round
   * robin over the nodes with members (this one only while it has a member online), else held
   * here (a queue) or queued in an offline member here. Returns the deliveries (a node counts one).
   */
  route(msg: Message, groups: ReadonlyArray<SharedGroup<Session>>): number {
    let n = this.bus.publish(this.name, msg);
    const remote = this.bus.groups(this.name, msg.topic);
    if (groups.length === 0 && remote.length === 0) return n;
    const router = this.app.router;
    let out = 0;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      const rg = find(remote, g.filter, g.name);
      const here = hasOnline(g);
      const to = rg === undefined ? null : this.pick(g.name, g.filter, here, rg.nodes);
      if (to !== null && this.bus.send(to, this.name, msg, { kind: 'shared', filter: g.filter, group: g.name })) n++;
      else if (router.deliverShared(g, msg, null, true)) {
        n++;
        out++;
      }
    }
    for (let i = 0; i < remote.length; i++) {
      const rg = remote[i]!;
      if (hasGroup(groups, rg.filter, rg.group)) continue;
      const to = this.pick(rg.group, rg.filter, false, rg.nodes);
      if (to !== null && this.bus.send(to, this.name, msg, { kind: 'shared', filter: rg.filter, group: rg.group })) n++;
    }
    router.stats.messagesOut += out;
    return n;
  }

  /** The next node (null = this one) for a group, round robin over `nodes` plus this node when `here`. */
  private pick(group: string, filter: string, here: boolean, nodes: readonly NodeId[]): NodeId | null {
    const total = nodes.length + (here ? 1 : 0);
    if (total === 0) return null;
    const key = `${group}\n${filter}`;
    const c = this.cursors.get(key) ?? 0;
    this.cursors.set(key, (c + 1) % total);
    const i = c % total;
    return i < nodes.length ? nodes[i]! : null;
  }

  /** A group with no member online here (a consumer left, a NACK): hand `msg` to a node with members. */
  reroute(g: SharedGroup<Session>, msg: Message): boolean {
    const rg = find(this.bus.groups(this.name, msg.topic), g.filter, g.name);
    if (rg === undefined) return false;
    const to = this.pick(g.name, g.filter, false, rg.nodes);
    return to !== null && this.bus.send(to, this.name, msg, { kind: 'shared', filter: g.filter, group: g.name });
  }

  /** Do other nodes have members of the queue `g` (its filter is a topic)? */
  hasConsumers(g: SharedGroup<Session>): boolean {
    return find(this.bus.groups(this.name, g.filter), g.filter, g.name) !== undefined;
  }

  /**
   * A client connecting here that another node holds: that node lets go of it first (see
   * Bus.handOver), so that a shared store has its latest state when this node acquires it.
   */
  handOver(clientId: string): Promise<void> {
    return this.bus.handOver(this.name, clientId);
  }

  /** Another node takes `clientId`: close and drop it here (a shared store keeps its state), flush. */
  async take(clientId: string): Promise<void> {
    this.app.router.evict(clientId, 'takeover');
    const stores = this.app.stores;
    if (stores === null) return;
    await stores.flush().catch(() => undefined);
    stores.shared?.disown(this.name, clientId);
  }

  /** The confirmation of `msg` by the nodes it went to (see Bus.stored). */
  stored(msg: Message): Promise<boolean> | null {
    return this.bus.stored?.(msg) ?? null;
  }

  /** Another node's claim on `clientId`. */
  owner(clientId: string): Owner | undefined {
    return this.bus.owner(this.name, clientId);
  }

  owners(): Iterable<Owner> {
    return this.bus.owners(this.name);
  }

  /** Does another node subscribe to `topic`? */
  wanted(topic: string): boolean {
    return this.bus.interested(this.name, topic);
  }

  /** An `$inbox` message for a client held by `node`. */
  sendInbox(node: NodeId, msg: Message): boolean {
    return this.bus.send(node, this.name, msg, { kind: 'inbox' });
  }

  /** A `$monitor` copy about `client` for the watchers on other nodes. */
  tap(envelope: Message, client: string, profile: Profile): void {
    this.bus.publish(this.name, envelope, { kind: 'tap', client, profile });
  }

  /** A presence state of a client held here: every node keeps it. */
  presence(msg: Message): void {
    this.bus.broadcast(this.name, msg, { kind: 'presence' });
  }

  // ---- $members ------------------------------------------------------------------------------

  /**
   * A subscriber of a `presenceTopics` filter joined or left here (`count`: the subscribers of
   * `raw` here now). Every node keeps every node's count; one node, the one with the lowest id,
   * publishes the `$members` event with the cluster-wide count, so events and counts come in one
   * order everywhere.
   */
  members(raw: string, filter: string, event: 'join' | 'leave', client: string, count: number): void {
    if (count > 0) this.localMembers.set(raw, { filter, count });
    else this.localMembers.delete(raw);
    this.bus.broadcast(this.name, membersMessage(raw, filter, event, client, count), { kind: 'members' });
    if (this.announcesMembers()) this.app.presence.membersEvent(filter, event, client, count + this.remoteCount(raw));
  }

  private remoteCount(raw: string): number {
    let n = 0;
    const per = this.remoteMembers.get(raw);
    if (per !== undefined) for (const c of per.values()) n += c;
    return n;
  }

  private announcesMembers(): boolean {
    const me = this.bus.node;
    for (const p of this.bus.peers()) if (nodeBefore(p, me)) return false;
    return true;
  }

  private membersFrom(msg: Message, from: NodeId): void {
    const m = JSON.parse(msg.payload.toString()) as { raw: string; filter: string; event: 'join' | 'leave' | 'sync'; client: string; count: number };
    let per = this.remoteMembers.get(m.raw);
    if (per === undefined) this.remoteMembers.set(m.raw, (per = new Map()));
    if (m.count > 0) per.set(from, m.count);
    else {
      per.delete(from);
      if (per.size === 0) this.remoteMembers.delete(m.raw);
    }
    if (m.event !== 'sync' && this.announcesMembers()) {
      this.app.presence.membersEvent(m.filter, m.event, m.client, (this.localMembers.get(m.raw)?.count ?? 0) + this.remoteCount(m.raw));
    }
  }

  // ---- what comes from the bus --------------------------------------------------------------

  receive(msg: Message, route: Route, from: NodeId): void {
    const app = this.app;
    switch (route.kind) {
      case 'fanout':
        app.router.routeFromBus(msg);
        return;
      case 'inbox':
        app.direct.deliverHere(msg);
        return;
      case 'shared': {
        const r = app.router;
        let g = r.trie.group(route.filter, route.group);
        if (g === undefined && route.filter === `$queue/${route.group}`) g = r.declareQueue(route.group);
        if (g === undefined || !r.deliverShared(g, msg, null, true)) r.reportDrop(null, msg, 'no-subscribers');
        return;
      }
      case 'tap':
        app.monitor.fromBus(msg, route.client, route.profile);
        return;
      case 'presence':
        app.presence.fromBus(msg, from);
        return;
      case 'members':
        this.membersFrom(msg, from);
        return;
      case 'retained':
        return; // ClusterNode applies snapshots
    }
  }

  /**
   * Another node claims a client id. A local holder gives way as on one node: a parked session
   * always (the client lives there now), an online one when the duplicate-login policy says the
   * newer connection wins (`takeover`, same profile) and the remote one is newer, or when the
   * older one is kept (`reject`, or another profile) and the remote one is older. Both nodes
   * apply the same rule (ties broken by node id), so exactly one connection stays.
   */
  claimed(remote: Owner): void {
    const app = this.app;
    const local = app.router.sessions.get(remote.clientId);
    if (local === undefined) return;
    // Two profiles on one id: the higher one keeps it, online or parked, as on one node
    // (core/application.ts admit); the lower one is discarded where it is.
    const mine = local.identity?.profile;
    if (mine !== undefined && mine !== remote.profile) {
      if (PROFILE_RANK[remote.profile] > PROFILE_RANK[mine]) app.router.evict(remote.clientId, 'takeover');
      return;
    }
    if (!remote.online) {
      // A parked session there: it only replaces a parked one here that is older.
      if (local.link === null && local.disconnectedAt <= remote.since) app.router.evict(remote.clientId, 'takeover');
      return;
    }
    if (local.link === null || local.identity === null) {
      app.router.evict(remote.clientId, 'takeover');
      return;
    }
    const remoteIsNewer = remote.since > local.connectedAt || (remote.since === local.connectedAt && nodeBefore(this.bus.node, remote.node));
    const keepOlder = remote.profile !== local.profile || app.duplicatePolicy(local.profile) === 'reject';
    if (keepOlder && remoteIsNewer) return; // the other node closes its own (it sees our claim)
    if (!keepOlder && !remoteIsNewer) return; // ours is the newer: the other node gives way
    app.router.evict(remote.clientId, keepOlder ? 'refused' : 'takeover');
  }

  interest(filter: string, _node: NodeId, added: boolean): void {
    if (filter.startsWith('$monitor/')) {
      this.app.monitor.remoteInterest(filter.slice(9));
      return;
    }
    if (added && filter.startsWith('$share/')) {
      // Consumers appeared on another node: a backlog held here goes to them.
      const slash = filter.indexOf('/', 7);
      if (slash < 0) return;
      const g = this.app.router.trie.group(filter.slice(slash + 1), filter.slice(7, slash));
      if (g !== undefined && g.backlog.length > 0) this.app.router.drainBacklog(g);
    }
  }

  nodeUp(node: NodeId): void {
    this.app.presence.sendStates((msg) => this.bus.send(node, this.name, msg, { kind: 'presence' }));
    for (const [raw, m] of this.localMembers) this.bus.send(node, this.name, membersMessage(raw, m.filter, 'sync', '', m.count), { kind: 'members' });
  }

  /**
   * The will of a client whose node died: published after its delay [MQTT-3.1.3-9] unless the
   * client is back by then (held by a node, this one or another), authorised again as a publish
   * by that client, like every will that fires.
   */
  orphanWill(will: WillRecord): void {
    const { msg, client } = will;
    if (msg === null || client === null) return;
    const fire = (): void => {
      if (this.app.router.sessions.get(will.clientId)?.link != null || this.bus.owner(this.name, will.clientId)?.online === true) return;
      const ok = this.app.authorizePublish(client, msg);
      if (ok === true) this.app.router.publish(msg);
      else if (ok instanceof Promise) ok.then((yes) => (yes ? this.app.router.publish(msg) : undefined), () => undefined);
    };
    if (will.delay === 0) fire();
    else this.app.router.sweep.at(this.app.router.now() + will.delay * 1000, { due: fire }, null);
  }

  /**
   * The sessions a dead node held, in a shared store: parked here until their clients come back
   * (through any node: a hand-over then moves them on), so that what is published for them
   * meanwhile is queued. Their wills are not published again here (orphanWill does it). Then
   * the backlogs of its queues join this node's.
   */
  async adopt(clientIds: readonly string[], node: NodeId): Promise<void> {
    const stores = this.app.stores;
    const shared = stores?.shared;
    if (stores === null || shared === undefined) return;
    const router = this.app.router;
    try {
      for (const q of (await stores.queues.adopt?.(this.name, node)) ?? []) router.adoptQueue(q.filter, q.name, q.messages);
    } catch {
      // Left under its name: the node itself, back with the same id, or the next survivor takes them.
    }
    const one = async (id: string): Promise<void> => {
      if (router.sessions.has(id) || this.bus.owner(this.name, id) !== undefined) return; // back already
      let r: SessionRecord | null;
      try {
        r = await shared.acquire(this.name, id);
      } catch {
        return;
      }
      if (r === null || router.sessions.has(id) || this.bus.owner(this.name, id) !== undefined) {
        shared.disown(this.name, id);
        return;
      }
      router.adopt({ ...r, will: null });
      const s = router.sessions.get(id);
      const c = s === undefined ? null : claimOf(s);
      if (c !== null) this.bus.claim(this.name, c);
    };
    // Many at a time (a node may have held thousands): publishes for them are refused until done.
    for (let i = 0; i < clientIds.length; i += ADOPT_BATCH) await Promise.all(clientIds.slice(i, i + ADOPT_BATCH).map(one));
  }

  nodeDown(node: NodeId): void {
    for (const [raw, per] of this.remoteMembers) {
      per.delete(node);
      if (per.size === 0) this.remoteMembers.delete(raw);
    }
    this.app.presence.nodeDown(node);
    this.app.monitor.remoteInterest('+');
  }
}

function membersMessage(raw: string, filter: string, event: 'join' | 'leave' | 'sync', client: string, count: number): Message {
  return createMessage(`$members/${filter}`, jsonPayload({ raw, filter, event, client, count }), 1, false, null, 0, null);
}

/** One order of node ids for every node: numerically when both are numbers (worker indexes). */
export function nodeBefore(a: NodeId, b: NodeId): boolean {
  return /^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) < Number(b) : a < b;
}

function find(groups: readonly RemoteGroup[], filter: string, group: string): RemoteGroup | undefined {
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.filter === filter && g.group === group) return g;
  }
  return undefined;
}

function hasGroup(groups: ReadonlyArray<SharedGroup<Session>>, filter: string, name: string): boolean {
  for (let i = 0; i < groups.length; i++) if (groups[i]!.filter === filter && groups[i]!.name === name) return true;
  return false;
}

function hasOnline(g: SharedGroup<Session>): boolean {
  const m = g.members;
  for (let i = 0; i < m.length; i++) if (m[i]!.subscriber.link !== null) return true;
  return false;
}
