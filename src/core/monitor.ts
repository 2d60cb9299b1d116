/**
 * Monitoring: `$monitor/<client-id>` delivers a copy of every message that client publishes
 * and every message delivered to it, as a JSON envelope; `$monitor/+` follows every client
 * the subscriber outranks, including clients that connect later. The monitored client cannot
 * tell: copies are made broker-side from the same message objects, in order.
 *
 * Subscriptions here are not trie entries: rank is checked per copy (a client's profile is
 * only known once it connects), so a subscription to a higher-ranked client receives nothing.
 *
 * Cluster mode: the node that handles a message (where its publisher, or its receiver, is
 * connected) makes the copy, once; it goes to the nodes with a matching `$monitor/...`
 * subscription (core/bus.ts, route `tap`), which apply the rank rule for their own watchers. A
 * session counts as monitored while any node watches it.
 */
import { createMessage } from './message.js';
import type { Message, QoS } from './message.js';
import { outranks } from './permissions.js';
import type { Profile } from './permissions.js';
import type { Router, SystemTopic } from './router.js';
import type { Session } from './session.js';
import type { Subscription } from './topic-trie.js';
import { describeMessage, jsonPayload } from './envelope.js';

export class Monitor implements SystemTopic {
  private readonly byTarget = new Map<string, Set<Subscription<Session>>>();
  private readonly wildcard = new Set<Subscription<Session>>();

  constructor(private readonly router: Router) {
    router.systemTopics.set('$monitor/', this);
    router.tap = (s, m, q) => this.copy(s, m, q, 'delivered');
  }

  /** A monitored session published `msg` (called once per publish by the client port). */
  published(session: Session, msg: Message): void {
    this.copy(session, msg, msg.qos, 'published');
  }

  subscribe(_session: Session, sub: Subscription<Session>): void {
    const target = sub.filter.slice('$monitor/'.length);
    if (target === '+' || target === '#') this.wildcard.add(sub);
    else {
      let set = this.byTarget.get(target);
      if (!set) this.byTarget.set(target, (set = new Set()));
      set.add(sub);
    }
    this.refreshAll();
  }

  unsubscribe(_session: Session, sub: Subscription<Session>): void {
    const target = sub.filter.slice('$monitor/'.length);
    if (target === '+' || target === '#') this.wildcard.delete(sub);
    else {
      const set = this.byTarget.get(target);
      set?.delete(sub);
      if (set && set.size === 0) this.byTarget.delete(target);
    }
    this.refreshAll();
  }

  /** Recompute `monitored` for one session (call when it connects or its identity changes). */
  refresh(s: Session): void {
    let on = false;
    const exact = this.byTarget.get(s.clientId);
    if (exact) for (const sub of exact) if (outranks(sub.subscriber.profile, s.profile)) on = true;
    if (!on) for (const sub of this.wildcard) if (sub.subscriber !== s && outranks(sub.subscriber.profile, s.profile)) on = true;
    // Watchers on other nodes: their rank is checked there, per copy.
    if (!on && this.router.cluster !== null) on = this.router.cluster.wanted(`$monitor/${s.clientId}`);
    s.monitored = on;
  }

  /** Cluster mode: another node started or stopped watching `target` ('+' / '#': everyone). */
  remoteInterest(target: string): void {
    if (target === '+' || target === '#') this.refreshAll();
    else {
      const s = this.router.sessions.get(target);
      if (s !== undefined) this.refresh(s);
    }
  }

  /** Cluster mode: a copy made on another node about `client` (of `profile`): for the local watchers that outrank it. */
  fromBus(envelope: Message, client: string, profile: Profile): void {
    const served = new Set<Session>();
    const send = (sub: Subscription<Session>): void => {
      const watcher = sub.subscriber;
      if (watcher.clientId === client || served.has(watcher) || !outranks(watcher.profile, profile)) return;
      served.add(watcher);
      watcher.deliver(envelope, sub.qos, false, sub.subscriptionId > 0 ? [sub.subscriptionId] : null, null);
    };
    const exact = this.byTarget.get(client);
    if (exact) for (const sub of exact) send(sub);
    for (const sub of this.wildcard) send(sub);
  }

  private refreshAll(): void {
    for (const s of this.router.sessions.values()) this.refresh(s);
  }

  private copy(target: Session, msg: Message, qos: QoS, direction: 'published' | 'delivered'): void {
    // Never monitor monitor copies themselves (a monitor may in turn be monitored).
    if (msg.topic.startsWith('$monitor/')) return;
    let envelope: Message | null = null;
    const served = new Set<Session>(); // one copy per watcher even with exact + wildcard subscriptions
    const send = (sub: Subscription<Session>): void => {
      const watcher = sub.subscriber;
      if (watcher === target || served.has(watcher) || !outranks(watcher.profile, target.profile)) return;
      served.add(watcher);
      envelope ??= this.envelope(target, msg, qos, direction);
      watcher.deliver(envelope, sub.qos, false, sub.subscriptionId > 0 ? [sub.subscriptionId] : null, null);
    };
    const exact = this.byTarget.get(target.clientId);
    if (exact) for (const sub of exact) send(sub);
    for (const sub of this.wildcard) send(sub);
    const cluster = this.router.cluster;
    if (cluster !== null) {
      const topic = `$monitor/${target.clientId}`;
      if (cluster.wanted(topic)) {
        envelope ??= this.envelope(target, msg, qos, direction);
        cluster.tap(envelope, target.clientId, target.profile);
      }
    }
  }

  private envelope(target: Session, msg: Message, qos: QoS, direction: 'published' | 'delivered'): Message {
    return createMessage(
      `$monitor/${target.clientId}`,
      jsonPayload({ client: target.clientId, direction, time: new Date(this.router.now()).toISOString(), ...describeMessage(msg), qos }),
      1,
      false,
      null,
      0,
      null,
    );
  }
}
