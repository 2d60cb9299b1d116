/**
 * What every bus implementation of core/bus.ts shares, whatever carries its frames (wire.ts):
 * the replicas of the other nodes' interest, claims and wills, the frames they exchange, and the
 * retained sync of a starting node. A transport (the Unix-socket mesh of `--workers`, the Redis
 * bus of `cluster.redis`) extends PeerBus with `write` (frames to one peer, in order, coalesced
 * per turn) and tells it when a peer comes (`peerUp`) and goes (`peerDown`).
 *
 * A peer that comes is sent, in order: RESET (forget what I told you before), every announced
 * filter, every claim, every will; then the core adds what it keeps (presence states, member
 * counts). A peer may be sent this again at any time (after a Redis outage): RESET makes it
 * idempotent. A peer that goes takes its interest, claims and wills with it; when it died (no
 * BYE), one survivor, the first by node id, publishes the wills of its online clients and takes
 * its sessions in (a shared store). Until that survivor says ADOPTED, the dead peer's interest
 * stays, so that a QoS 1/2 message for those sessions is refused as not stored rather than
 * acknowledged and held nowhere.
 */
import type { Logger } from 'pino';
import type { Message } from '../core/message.js';
import type { Bus, BusHandler, Claim, NodeId, Owner, RemoteGroup, Route, WillRecord } from '../core/bus.js';
import { nodeBefore } from '../core/bus.js';
import { TopicTrie } from '../core/topic-trie.js';
import type { MatchResult, Subscriber } from '../core/topic-trie.js';
import { encodeAdopted, encodeClaim, encodeInterest, encodeMessage, encodeRelease, encodeSignal, encodeStored, encodeWill, FANOUT, Kind, MessageFrame, senderAliasBound, topicAliasBound, writeSenderAlias, writeTopicAlias } from './wire.js';
import { Aliases, LinkAliases } from './aliases.js';
import type { Link } from './link.js';
import type { Connection } from '../transports/connection.js';
import type { PeerFrame } from './wire.js';

/** A peer as the subscriber of its wildcard filters and group memberships; `bit` = 1 << its slot. */
interface PeerSubscriber extends Subscriber {
  readonly bit: number;
  readonly node: NodeId;
}

/** At most this many peers (interest is a 32-bit mask per exact filter). */
export const MAX_PEERS = 32;

const NO_GROUPS: readonly RemoteGroup[] = Object.freeze([]);
const RETAINED: Route = Object.freeze({ kind: 'retained' });
const frames = new MessageFrame();

/**
 * Which peers subscribe to what, for one application. Exact filters, the bulk of a device
 * fleet's (devices/<id>/cmd), are one Map entry (a bitmask of peer slots) each however many peers
 * hold them; only wildcard filters go into a trie (whose match cache makes the per-publish lookup
 * one Map.get).
 */
class RemoteInterest {
  private readonly exact = new Map<string, number>();
  private readonly wild = new TopicTrie<PeerSubscriber>(10_000);
  private readonly shared = new TopicTrie<PeerSubscriber>(10_000);
  private sharedCount = 0;
  /** Shared-trie match results (cached by the trie until it changes) as RemoteGroups. */
  private readonly groupViews = new WeakMap<MatchResult<PeerSubscriber>, readonly RemoteGroup[]>();

  set(p: PeerSubscriber, filter: string, add: boolean): void {
    if (filter.startsWith('$share/')) {
      const slash = filter.indexOf('/', 7);
      if (slash < 0) return;
      const group = filter.slice(7, slash);
      const f = filter.slice(slash + 1);
      if (add) {
        if (this.shared.add(sub(p, f, group)) === undefined) this.sharedCount++;
      } else if (this.shared.remove(p, f, group) !== undefined) this.sharedCount--;
      return;
    }
    if (filter.includes('+') || filter.includes('#')) {
      if (add) this.wild.add(sub(p, filter, null));
      else this.wild.remove(p, filter, null);
      return;
    }
    const mask = add ? (this.exact.get(filter) ?? 0) | p.bit : (this.exact.get(filter) ?? 0) & ~p.bit;
    if (mask === 0) this.exact.delete(filter);
    else this.exact.set(filter, mask);
  }

  /** Forget everything a peer announced (`shared`: only its group memberships). */
  drop(p: PeerSubscriber, sharedOnly = false): void {
    for (const s of [...this.shared.all()]) if (s.subscriber === p && this.shared.remove(p, s.filter, s.group) !== undefined) this.sharedCount--;
    if (sharedOnly) return;
    for (const [f, mask] of this.exact) {
      if ((mask & p.bit) === 0) continue;
      if (mask === p.bit) this.exact.delete(f);
      else this.exact.set(f, mask & ~p.bit);
    }
    for (const s of [...this.wild.all()]) if (s.subscriber === p) this.wild.remove(p, s.filter, null);
  }

  /** Bitmask of the peers with an ordinary filter matching `topic`. */
  peersFor(topic: string): number {
    let mask = this.exact.get(topic) ?? 0;
    const t = this.wild.match(topic).targets;
    for (let i = 0; i < t.length; i++) mask |= t[i]!.subscriber.bit;
    return mask;
  }

  groups(topic: string): readonly RemoteGroup[] {
    if (this.sharedCount === 0) return NO_GROUPS;
    const m = this.shared.match(topic);
    if (m.groups.length === 0) return NO_GROUPS;
    let view = this.groupViews.get(m);
    if (view === undefined) {
      view = m.groups.filter((g) => g.members.length > 0).map((g) => ({ filter: g.filter, group: g.name, nodes: g.members.map((s) => s.subscriber.node) }));
      this.groupViews.set(m, view);
    }
    return view;
  }
}

function sub(p: PeerSubscriber, filter: string, group: string | null) {
  return { subscriber: p, raw: filter, filter, group, qos: 0 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };
}

/** The best claim: an online one first, else the most recent. */
function best(list: readonly Owner[]): Owner | undefined {
  let b: Owner | undefined;
  for (const o of list) if (b === undefined || (o.online && !b.online) || (o.online === b.online && o.since > b.since)) b = o;
  return b;
}

/** A peer that is up. */
interface Peer {
  readonly sub: PeerSubscriber;
  /** Its wills: `app\nclientId` -> will. */
  readonly wills: Map<string, { app: string; will: WillRecord }>;
}

export abstract class PeerBus implements Bus {
  protected handler: BusHandler | null = null;
  /** This node's aliases for its messages on direct links. */
  private readonly aliases = new Aliases();
  protected stopped = false;
  private readonly up = new Map<NodeId, Peer>();
  private readonly slots: Array<Peer | undefined> = [];
  /** Filters announced by this node, per application (told to every peer that comes). */
  private readonly local = new Map<string, Set<string>>();
  /** Wills of this node's online clients (told to every peer that comes). */
  private readonly localWills = new Map<string, { app: string; will: WillRecord }>();
  /** What the peers subscribe to, per application. */
  private readonly remote = new Map<string, RemoteInterest>();
  /** Claims of other nodes: application -> client id -> one claim per node. */
  private readonly claims = new Map<string, Map<string, Owner[]>>();
  /** Hand-overs this node waits for: `app\nclientId` -> the node asked and what to call. */
  private readonly takes = new Map<string, { node: NodeId; done: () => void }>();
  /** How long a hand-over waits for the holding node's answer (ms). */
  protected takeTimeoutMs = 3000;
  /** QoS 1/2 messages are confirmed by the nodes they reach (Bus.confirmStored). */
  private confirming = false;
  private confirmSeq = 0;
  /** The message being sent now with a confirm id, and the nodes it went to. */
  private current: { msg: Message; id: number; nodes: NodeId[]; orphaned: boolean } | null = null;
  /** Confirmations awaited: id -> the nodes yet to answer, and what to call. */
  private readonly awaiting = new Map<number, { nodes: Set<NodeId>; done: (ok: boolean) => void; at: number }>();
  /** One timer for every confirmation awaited (not one per message): it ends those past takeTimeoutMs. */
  private expiring: NodeJS.Timeout | null = null;
  /**
   * Dead peers whose sessions are being adopted (a shared store, with confirmations): their
   * interest stays until the survivor that takes them in says ADOPTED (or `orphanTimeoutMs`),
   * and a QoS 1/2 message it matches meanwhile is refused as not stored, not acknowledged for
   * sessions that hold it nowhere.
   */
  private readonly orphaned = new Map<NodeId, { peer: Peer; timer: NodeJS.Timeout }>();
  private orphanBits = 0;
  /** Dead peers adopted by a survivor before this node saw them die (no orphan interest then). */
  private readonly adoptedEarly = new Map<NodeId, number>();
  protected orphanTimeoutMs = 15_000;
  /** The retained snapshot being received: from which peer, and what to call when it is done. */
  private sync: { peer: NodeId; done: () => void; retry: () => void } | null = null;

  constructor(
    readonly node: NodeId,
    protected readonly logger: Logger,
  ) {}

  abstract start(handler: BusHandler): Promise<void>;
  abstract stop(): Promise<void>;
  /** Frames to one peer, in order; false when it cannot be reached now. */
  protected abstract write(node: NodeId, buf: Buffer): boolean;
  /**
   * The direct link a frame to `node` goes on now (the frame is counted as sent), else null
   * (then `write`). Messages are encoded in place there, in aliases.
   */
  protected abstract linkTo(node: NodeId): Link | null;

  quiesce(): void {
    this.stopped = true;
  }

  peers(): readonly NodeId[] {
    return [...this.up.keys()];
  }

  protected isUp(node: NodeId): boolean {
    return this.up.has(node);
  }

  // ---- peers coming and going -----------------------------------------------------------------

  /** A peer is reachable (new, or back): send it everything it must know of this node. */
  protected peerUp(node: NodeId): void {
    this.unorphan(node); // back (a new incarnation): what it holds now, it says again
    let p = this.up.get(node);
    if (p === undefined) {
      const slot = this.slots.indexOf(undefined) >= 0 ? this.slots.indexOf(undefined) : this.slots.length;
      if (slot >= MAX_PEERS) {
        this.logger.error({ node }, `cluster: more than ${MAX_PEERS} peers; ignoring this one`);
        return;
      }
      p = { sub: { clientId: `(node ${node})`, bit: 1 << slot, node }, wills: new Map() };
      this.up.set(node, p);
      this.slots[slot] = p;
      this.logger.info({ node }, 'cluster: node up');
    }
    this.sendState(node);
    this.handler?.nodeUp(node);
  }

  /** Everything this node told peers so far, again (RESET first). */
  protected sendState(node: NodeId): void {
    this.write(node, encodeSignal(Kind.Reset));
    for (const [app, filters] of this.local) for (const f of filters) this.write(node, encodeInterest(true, app, f));
    const h = this.handler;
    if (h !== null) for (const { app, claim } of h.claims()) this.write(node, encodeClaim(app, claim));
    for (const { app, will } of this.localWills.values()) this.write(node, encodeWill(app, will));
  }

  /** A peer is gone: `died` (no goodbye) makes the first survivor publish its clients' wills. */
  protected peerDown(node: NodeId, died: boolean): void {
    const p = this.up.get(node);
    if (p === undefined) return;
    const wills = [...p.wills.values()];
    // The clients it held (online or parked), per application: their sessions need a holder.
    const held = new Map<string, string[]>();
    if (died) {
      for (const [app, m] of this.claims) {
        const ids: string[] = [];
        for (const [id, list] of m) if (list.some((o) => o.node === node)) ids.push(id);
        if (ids.length > 0) held.set(app, ids);
      }
    }
    const early = this.adoptedEarly.get(node);
    this.adoptedEarly.delete(node);
    const adopted = early !== undefined && early > Date.now() - this.orphanTimeoutMs;
    const orphan = !adopted && died && held.size > 0 && this.confirming && !this.stopped;
    this.forgetState(p, orphan);
    this.up.delete(node);
    if (orphan) {
      // Its slot stays taken by its interest until the sessions are adopted.
      this.orphanBits |= p.sub.bit;
      this.orphaned.set(node, { peer: p, timer: setTimeout(() => this.unorphan(node), this.orphanTimeoutMs).unref() });
    } else this.slots[this.slots.indexOf(p)] = undefined;
    this.peerGone(node);
    if (this.sync?.peer === node) this.sync.retry();
    for (const t of [...this.takes.values()]) if (t.node === node) t.done();
    for (const a of [...this.awaiting.values()]) if (a.nodes.has(node)) a.done(false);
    const h = this.handler;
    if (h === null) return;
    h.nodeDown(node);
    if (died && !this.stopped) {
      this.electSurvivor(node, () => {
        if (this.handler !== h) return;
        for (const { app, will } of wills) h.orphanWill(app, will);
        const since = Date.now();
        const adopted = (): void => {
          this.logger.info({ node, ms: Date.now() - since, sessions: [...held.values()].reduce((n, ids) => n + ids.length, 0) }, 'cluster: took in the sessions of a dead node');
          this.unorphan(node);
          if (this.up.size > 0) this.writeAll(encodeAdopted(node));
        };
        h.orphans(node, held).then(adopted, adopted);
      });
    }
  }

  /**
   * Call `act` on the one survivor that takes a dead node's clients in (its wills, sessions and
   * queues): here the first by node id among those this node sees. A transport with a shared
   * arbiter (Redis) makes it exactly one even when the survivors' views differ.
   */
  protected electSurvivor(_dead: NodeId, act: () => void): void {
    if (this.firstSurvivor()) act();
  }

  /** Transport side: `node` is down (a direct link to it goes). */
  protected peerGone(_node: NodeId): void {}

  private firstSurvivor(): boolean {
    for (const n of this.up.keys()) if (nodeBefore(n, this.node)) return false;
    return true;
  }

  /** The sessions of a dead `node` are adopted (or given up on): its interest goes. */
  private unorphan(node: NodeId): void {
    const o = this.orphaned.get(node);
    if (o === undefined) return;
    clearTimeout(o.timer);
    this.orphaned.delete(node);
    for (const r of this.remote.values()) r.drop(o.peer.sub);
    this.orphanBits &= ~o.peer.sub.bit;
    this.slots[this.slots.indexOf(o.peer)] = undefined;
  }

  /** Drop a peer's interest, claims and wills (it is gone, or about to tell them again); `orphan`: its ordinary interest stays. */
  private forgetState(p: Peer, orphan = false): void {
    for (const r of this.remote.values()) r.drop(p.sub, orphan);
    const node = p.sub.node;
    for (const m of this.claims.values()) {
      for (const [id, list] of m) {
        const rest = list.filter((x) => x.node !== node);
        if (rest.length === 0) m.delete(id);
        else if (rest.length !== list.length) m.set(id, rest);
      }
    }
    p.wills.clear();
  }

  // ---- retained sync --------------------------------------------------------------------------

  /** Ask the first peer for its retained messages (another one if it goes); resolves when done or after `timeoutMs`. */
  protected takeSnapshot(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn('cluster: no retained snapshot from a peer in time; starting without it');
        finish();
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.sync = null;
        resolve();
      };
      const ask = (): void => {
        let peer: NodeId | undefined;
        for (const n of this.up.keys()) if (peer === undefined || nodeBefore(n, peer)) peer = n;
        if (peer === undefined) return finish(); // alone
        this.sync = { peer, done: finish, retry: ask };
        this.write(peer, encodeSignal(Kind.Sync));
      };
      ask();
    });
  }

  // ---- Bus ----------------------------------------------------------------------------------

  private remoteOf(app: string): RemoteInterest {
    let r = this.remote.get(app);
    if (r === undefined) this.remote.set(app, (r = new RemoteInterest()));
    return r;
  }

  private writeAll(buf: Buffer): void {
    for (const n of this.up.keys()) this.write(n, buf);
  }

  subscribe(app: string, filter: string): void {
    let set = this.local.get(app);
    if (set === undefined) this.local.set(app, (set = new Set()));
    set.add(filter);
    if (this.up.size > 0) this.writeAll(encodeInterest(true, app, filter));
  }

  unsubscribe(app: string, filter: string): void {
    if (this.local.get(app)?.delete(filter) !== true) return;
    if (this.up.size > 0) this.writeAll(encodeInterest(false, app, filter));
  }

  interested(app: string, topic: string): boolean {
    const r = this.remote.get(app);
    return r !== undefined && (r.peersFor(topic) !== 0 || r.groups(topic).length > 0);
  }

  groups(app: string, topic: string): readonly RemoteGroup[] {
    return this.remote.get(app)?.groups(topic) ?? NO_GROUPS;
  }

  publish(app: string, msg: Message, route?: Route): number {
    if (this.up.size === 0) return 0;
    const r = this.remote.get(app);
    const interest = r === undefined ? 0 : r.peersFor(msg.topic);
    // Retained messages are kept by every node: they go everywhere (fan-out copies only).
    const mask = msg.retain && (route === undefined || route.kind === 'fanout') ? -1 : interest;
    if (mask === 0) return 0;
    let buf: Buffer | null = null;
    // The frame written in place on the first link, copied from there to the others.
    let first: Connection | null = null;
    let start = 0;
    let end = 0;
    // On links a fan-out message with a sender goes in aliases (-1: not decided yet; -2: it does not).
    let sid = -1;
    let tid = 0;
    let n = 0;
    if ((interest & this.orphanBits) !== 0 && this.confirming && msg.qos > 0) {
      // Sessions of a dead node match, not adopted yet: not stored for them (stored() fails).
      this.confirmId(msg, null);
      this.current!.orphaned = true;
      n++;
    }
    for (const p of this.up.values()) {
      const bit = p.sub.bit;
      if ((mask & bit) === 0) continue;
      const node = p.sub.node;
      const link = this.linkTo(node);
      if (link === null) this.write(node, (buf ??= encodeMessage(app, msg, route, this.confirmId(msg, null))));
      else {
        const c = link.conn;
        if (sid === -1) {
          const sender = msg.sender;
          if (sender === null || (route !== undefined && route.kind !== 'fanout')) sid = -2;
          else {
            this.aliases.begin();
            tid = this.aliases.topic(msg.topic);
            sid = this.aliases.sender(app, sender);
          }
        }
        if (sid >= 0) this.tell(link, app, msg, sid, tid);
        if (first === null) {
          const confirm = this.confirmId(msg, null);
          if (sid >= 0) {
            start = c.reserve(frames.aliasedBound(msg, confirm));
            end = frames.writeAliased(c.room, start, msg, confirm, sid, tid);
          } else {
            start = c.reserve(frames.bound(app, msg, route ?? FANOUT, confirm));
            end = frames.write(c.room, start, app, msg, route ?? FANOUT, confirm);
          }
          c.commit(end);
          first = c;
        } else {
          const at = c.reserve(end - start);
          first.room.copy(c.room, at, start, end);
          c.commit(at + end - start);
        }
      }
      if (this.current?.msg === msg) this.current.nodes.push(node);
      if ((interest & bit) !== 0) n++;
    }
    return n;
  }

  /** Define on `link` the aliases of a message it was not told yet (in this epoch). */
  private tell(link: Link, app: string, msg: Message, sid: number, tid: number): void {
    const told = (link.told ??= new LinkAliases());
    const epoch = this.aliases.epoch;
    const c = link.conn;
    if (told.senders[sid] !== epoch) {
      const at = c.reserve(senderAliasBound(app, msg.sender!));
      c.commit(writeSenderAlias(c.room, at, sid, app, msg.sender!));
      told.senders[sid] = epoch;
    }
    if (told.topics[tid] !== epoch) {
      const at = c.reserve(topicAliasBound(msg.topic));
      c.commit(writeTopicAlias(c.room, at, tid, msg.topic));
      told.topics[tid] = epoch;
    }
  }

  send(node: NodeId, app: string, msg: Message, route: Route): boolean {
    if (!this.up.has(node)) return false;
    return this.write(node, encodeMessage(app, msg, route, this.confirmId(msg, node)));
  }

  /** The confirm id of `msg` (0: none), the same for every frame of it; `node`: it goes there too. */
  private confirmId(msg: Message, node: NodeId | null): number {
    if (!this.confirming || msg.qos === 0) return 0;
    let c = this.current;
    if (c === null || c.msg !== msg) {
      this.confirmSeq = this.confirmSeq >= 0xffffffff ? 1 : this.confirmSeq + 1;
      this.current = c = { msg, id: this.confirmSeq, nodes: [], orphaned: false };
    }
    if (node !== null) c.nodes.push(node);
    return c.id;
  }

  confirmStored(): void {
    this.confirming = true;
  }

  stored(msg: Message): Promise<boolean> | null {
    const c = this.current;
    if (c === null || c.msg !== msg) return null;
    this.current = null;
    if (c.orphaned) return Promise.resolve(false);
    if (c.nodes.length === 0) return null;
    const id = c.id;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        if (this.awaiting.delete(id)) resolve(ok);
      };
      this.awaiting.set(id, { nodes: new Set(c.nodes), done, at: Date.now() });
      this.expiring ??= setInterval(() => this.expire(), Math.max(100, this.takeTimeoutMs / 4)).unref();
    });
  }

  /** Stopping: every confirmation still awaited fails. */
  protected endConfirmations(): void {
    for (const node of [...this.orphaned.keys()]) this.unorphan(node);
    this.expire(Infinity);
  }

  /** Confirmations not given in time fail (oldest first: the map keeps insertion order). */
  private expire(now = Date.now()): void {
    const before = now - this.takeTimeoutMs;
    for (const a of this.awaiting.values()) {
      if (a.at > before) break;
      a.done(false);
    }
    if (this.awaiting.size === 0 && this.expiring !== null) {
      clearInterval(this.expiring);
      this.expiring = null;
    }
  }

  broadcast(app: string, msg: Message, route: Route): void {
    if (this.up.size > 0) this.writeAll(encodeMessage(app, msg, route));
  }

  claim(app: string, claim: Claim): void {
    if (this.up.size > 0) this.writeAll(encodeClaim(app, claim));
  }

  release(app: string, clientId: string): void {
    if (this.up.size > 0) this.writeAll(encodeRelease(app, clientId));
  }

  will(app: string, will: WillRecord): void {
    const key = `${app}\n${will.clientId}`;
    if (will.msg === null) {
      if (!this.localWills.delete(key)) return;
    } else this.localWills.set(key, { app, will });
    if (this.up.size > 0) this.writeAll(encodeWill(app, will));
  }

  handOver(app: string, clientId: string): Promise<void> {
    const holder = this.owner(app, clientId);
    if (holder === undefined) return Promise.resolve();
    const key = `${app}\n${clientId}`;
    return new Promise<void>((resolve) => {
      const prev = this.takes.get(key);
      const timer = setTimeout(() => done(), this.takeTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        if (this.takes.get(key)?.done === done) this.takes.delete(key);
        prev?.done();
        resolve();
      };
      this.takes.set(key, { node: holder.node, done });
      if (!this.write(holder.node, encodeRelease(app, clientId, Kind.Take))) done();
    });
  }

  owner(app: string, clientId: string): Owner | undefined {
    const list = this.claims.get(app)?.get(clientId);
    return list === undefined ? undefined : best(list);
  }

  *owners(app: string): Iterable<Owner> {
    const m = this.claims.get(app);
    if (m === undefined) return;
    for (const list of m.values()) {
      const b = best(list);
      if (b !== undefined) yield b;
    }
  }

  // ---- frames in ----------------------------------------------------------------------------

  /** A frame from a peer that is up. */
  protected frame(f: PeerFrame, node: NodeId): void {
    const h = this.handler;
    const p = this.up.get(node);
    if (h === null || p === undefined) return;
    switch (f.kind) {
      case Kind.Message: {
        // A snapshot entry counts only while this node waits for that peer's snapshot.
        if (f.route.kind === 'retained' && this.sync?.peer !== node) return;
        h.message(f.app, f.msg, f.route, node);
        const id = f.confirm;
        // Not stored here (a write failed or was fenced): no STORED, the sender's wait fails.
        if (id > 0) h.flushed().then((ok) => (ok ? this.write(node, encodeStored(id)) : undefined), () => undefined);
        return;
      }
      case Kind.Stored: {
        const a = this.awaiting.get(f.id);
        if (a === undefined || !a.nodes.delete(node)) return;
        if (a.nodes.size === 0) a.done(true);
        return;
      }
      case Kind.Interest:
        this.remoteOf(f.app).set(p.sub, f.filter, f.add);
        h.interest(f.app, f.filter, node, f.add);
        return;
      case Kind.Claim: {
        const owner: Owner = { ...f.claim, node };
        let m = this.claims.get(f.app);
        if (m === undefined) this.claims.set(f.app, (m = new Map()));
        const list = m.get(owner.clientId);
        if (list === undefined) m.set(owner.clientId, [owner]);
        else {
          const i = list.findIndex((x) => x.node === node);
          if (i >= 0) list[i] = owner;
          else list.push(owner);
        }
        h.claimed(f.app, owner);
        return;
      }
      case Kind.Release: {
        const m = this.claims.get(f.app);
        const list = m?.get(f.clientId);
        if (m === undefined || list === undefined) return;
        const rest = list.filter((x) => x.node !== node);
        if (rest.length === 0) m.delete(f.clientId);
        else m.set(f.clientId, rest);
        return;
      }
      case Kind.Will: {
        const key = `${f.app}\n${f.will.clientId}`;
        if (f.will.msg === null) p.wills.delete(key);
        else p.wills.set(key, { app: f.app, will: f.will });
        return;
      }
      case Kind.Reset:
        this.forgetState(p);
        return;
      case Kind.Take:
        h.take(f.app, f.clientId).then(
          () => this.write(node, encodeRelease(f.app, f.clientId, Kind.Released)),
          () => this.write(node, encodeRelease(f.app, f.clientId, Kind.Released)),
        );
        return;
      case Kind.Released: {
        const t = this.takes.get(`${f.app}\n${f.clientId}`);
        if (t !== undefined && t.node === node) t.done();
        return;
      }
      case Kind.Sync:
        for (const { app, msg } of h.retained()) this.write(node, encodeMessage(app, msg, RETAINED));
        this.write(node, encodeSignal(Kind.Synced));
        return;
      case Kind.Synced:
        if (this.sync?.peer === node) this.sync.done();
        return;
      case Kind.Bye:
        this.peerDown(node, false);
        return;
      case Kind.Switch:
        return; // the transport's (cluster/redis.ts)
      case Kind.Adopted:
        // The survivor may see the death before this node does.
        if (this.orphaned.has(f.node)) this.unorphan(f.node);
        else if (this.up.has(f.node)) this.adoptedEarly.set(f.node, Date.now());
        return;
    }
  }

  /** Tell every peer this node leaves (they forget it now, and do not publish its wills). */
  protected sayBye(): void {
    this.writeAll(encodeSignal(Kind.Bye));
  }
}
