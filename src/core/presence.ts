/**
 * Presence: `$presence/<client-id>` carries the client's state as JSON (online/offline,
 * profile, since, protocol, transport; on disconnect, why). Subscribing to `$presence/<id>`
 * or `$presence/+` first delivers the current states (like retained messages), then follows
 * changes. A subscriber sees every client except ADMINs, which only ADMINs see.
 *
 * Per-topic presence: for filters matching the configured patterns, `$members/<filter>`
 * carries join/leave events of subscribers with the current count (ordinary topic, routed).
 *
 * Cluster mode (core/bus.ts): the node that holds a client publishes its presence changes once,
 * to every node; every node keeps every state (so current states on subscribe cover the
 * cluster) and delivers to its own subscribers. An offline state never replaces an online one
 * held by another node (a client taken over by another node shows as online there). When a node
 * goes away, every other node marks the clients it held offline (`dropped`) for its own
 * subscribers. `$members` counts are summed over the nodes and announced by one node.
 */
import { createMessage } from './message.js';
import type { Message } from './message.js';
import type { Router, SystemTopic } from './router.js';
import type { Session } from './session.js';
import type { Subscription } from './topic-trie.js';
import { topicMatches } from './topic.js';
import { jsonPayload } from './envelope.js';

export type DisconnectReason = 'clean' | 'dropped' | 'keepalive-timeout' | 'taken-over' | 'kicked' | 'shutdown' | 'protocol-error' | 'refused' | 'token-expired';

export interface PresenceState {
  client: string;
  online: boolean;
  profile: string;
  since: string;
  protocol: string;
  transport: string;
  reason?: DisconnectReason;
}

/** What is kept per client: `since` in ms (an ISO string per idle client costs 40 bytes). */
interface PresenceRecord extends Omit<PresenceState, 'since'> {
  since: number;
  /** Cluster mode: the node whose client this is (absent: this node). */
  node?: string;
}

function toState(r: PresenceRecord): PresenceState {
  const { node: _node, ...st } = r;
  return { ...st, since: new Date(r.since).toISOString() };
}

const MAX_OFFLINE = 10_000;

export class Presence implements SystemTopic {
  private readonly states = new Map<string, PresenceRecord>();
  private readonly subs = new Set<Subscription<Session>>();
  private memberPatterns: readonly string[];

  constructor(
    private readonly router: Router,
    memberPatterns: readonly string[],
  ) {
    this.memberPatterns = memberPatterns;
    router.systemTopics.set('$presence/', this);
    router.events.on('subscribe', (s: Session, sub: Subscription<Session>) => this.member(s, sub, 'join'));
    router.events.on('unsubscribe', (s: Session, sub: Subscription<Session>) => this.member(s, sub, 'leave'));
  }

  setMemberPatterns(p: readonly string[]): void {
    this.memberPatterns = p;
  }

  online(s: Session): void {
    const id = s.identity;
    this.set({
      client: s.clientId,
      online: true,
      profile: s.profile,
      since: this.router.now(),
      protocol: id?.protocol ?? 'mqtt',
      transport: id?.transport ?? 'tcp',
    }, s);
  }

  offline(s: Session, reason: DisconnectReason): void {
    const prev = this.states.get(s.clientId);
    this.set({
      client: s.clientId,
      online: false,
      profile: s.profile,
      since: this.router.now(),
      protocol: prev?.protocol ?? s.identity?.protocol ?? 'mqtt',
      transport: prev?.transport ?? s.identity?.transport ?? 'tcp',
      reason,
    }, s);
  }

  /** Every state kept (online, and recently offline), for the operator (admin.ts). */
  all(): PresenceState[] {
    return [...this.states.values()].map(toState);
  }

  /** Current states visible to `viewer`. */
  list(viewer: Session): PresenceState[] {
    return [...this.states.values()].filter((st) => visible(viewer, st)).map(toState);
  }

  subscribe(session: Session, sub: Subscription<Session>): void {
    this.subs.add(sub);
    const target = sub.filter.slice('$presence/'.length);
    for (const st of this.states.values()) {
      if ((target === '+' || target === '#' || target === st.client) && visible(session, st)) {
        session.deliver(this.message(st, true), sub.qos, true, ids(sub), null);
      }
    }
  }

  unsubscribe(_session: Session, sub: Subscription<Session>): void {
    this.subs.delete(sub);
  }

  private set(st: PresenceRecord, s: Session | null, msg: Message | null = null): void {
    const prev = this.states.get(st.client);
    // Held online by another node now: this offline state is out of date (a takeover across nodes).
    if (!st.online && prev !== undefined && prev.online && prev.node !== st.node) return;
    this.states.set(st.client, st);
    if (!st.online && this.states.size > MAX_OFFLINE) this.evictOffline();
    for (const sub of this.subs) {
      const target = sub.filter.slice('$presence/'.length);
      if (target !== '+' && target !== '#' && target !== st.client) continue;
      if (sub.subscriber === s || !visible(sub.subscriber, st)) continue;
      msg ??= this.message(st, false);
      sub.subscriber.deliver(msg, sub.qos, false, ids(sub), null);
    }
    // A state of this node's client: every other node keeps it.
    const cluster = this.router.cluster;
    if (cluster !== null && st.node === undefined) cluster.presence(msg ?? this.message(st, false));
  }

  /** Cluster mode: a state published by the node `from`, which holds that client. */
  fromBus(msg: Message, from: string): void {
    const st = JSON.parse(msg.payload.toString()) as PresenceState;
    this.set({ ...st, since: Date.parse(st.since), node: from }, null, msg);
  }

  /** Cluster mode: the states of this node's clients, for a node that joins. */
  sendStates(send: (msg: Message) => void): void {
    for (const st of this.states.values()) if (st.node === undefined) send(this.message(st, false));
  }

  /** Cluster mode: `node` is gone, and so are the connections it held. */
  nodeDown(node: string): void {
    const now = this.router.now();
    for (const st of [...this.states.values()]) {
      if (st.node === node && st.online) this.set({ ...st, online: false, since: now, reason: 'dropped' }, null);
    }
  }

  private evictOffline(): void {
    for (const [k, v] of this.states) {
      if (this.states.size <= MAX_OFFLINE) return;
      if (!v.online) this.states.delete(k);
    }
  }

  private message(st: PresenceRecord, retain: boolean): Message {
    return createMessage(`$presence/${st.client}`, jsonPayload(toState(st)), 1, retain, null, 0, null);
  }

  private member(s: Session, sub: Subscription<Session>, event: 'join' | 'leave'): void {
    if (this.memberPatterns.length === 0 || sub.filter.startsWith('$')) return;
    if (!this.memberPatterns.some((p) => topicMatches(p, sub.filter) || p === sub.filter)) return;
    let count = 0;
    for (const x of this.router.sessions.values()) if (x.subscriptions.has(sub.raw)) count++;
    const cluster = this.router.cluster;
    if (cluster === null) this.membersEvent(sub.filter, event, s.clientId, count);
    else cluster.members(sub.raw, sub.filter, event, s.clientId, count);
  }

  /** Publish a `$members/<filter>` event (in cluster mode `count` is the cluster's). */
  membersEvent(filter: string, event: 'join' | 'leave', client: string, count: number): void {
    this.router.publish(createMessage(`$members/${filter}`, jsonPayload({ event, client, count }), 1, false, null, 0, null), false);
  }
}

function visible(viewer: Session, st: PresenceRecord): boolean {
  return st.profile !== 'ADMIN' || viewer.profile === 'ADMIN';
}

function ids(sub: Subscription<Session>): readonly number[] | null {
  return sub.subscriptionId > 0 ? [sub.subscriptionId] : null;
}
