/**
 * Subscription trie with a match cache.
 *
 * Filters are stored level by level. Matching "sport/tennis/player1" walks, at each level,
 * the exact child, the '+' child, and collects the '#' child's subscribers:
 *
 *   filter              matches "sport/tennis/player1"?
 *   sport/tennis/player1   yes (exact)
 *   sport/+/player1        yes ('+' = one level)
 *   sport/#                yes ('#' = this level and all below, also "sport" itself)
 *   +/tennis/#             yes
 *   sport/+                no  (one level short)
 *   #                      yes, but not for "$SYS/..." topics [MQTT-4.7.2-1]
 *
 * Several subscriptions of one session that match the same topic produce one delivery with
 * the highest granted QoS and all subscription identifiers [MQTT-3.3.4-2, MQTT-3.3.4-3].
 * Shared subscriptions ($share/GROUP/FILTER) are returned as groups; the router picks one
 * member per message.
 *
 * The result for a topic is cached until the next subscribe/unsubscribe (any change clears the
 * cache: subscription churn is rare next to publishes; the cache is bounded in entries).
 *
 * Observers (webhooks on publishes) are matched with the subscriptions and cached in the same
 * result, so a topic nobody observes costs nothing per message.
 */
import type { Message, QoS } from './message.js';
import { Deque } from './deque.js';
import { filterMatches } from './topic.js';

/** The subscriber side of a subscription: a core Session. Kept abstract to avoid a cycle. */
export interface Subscriber {
  readonly clientId: string;
}

export interface Subscription<S extends Subscriber = Subscriber> {
  readonly subscriber: S;
  /** The filter as subscribed, including any "$share/GROUP/" prefix. */
  readonly raw: string;
  /** The filter used for matching. */
  readonly filter: string;
  readonly group: string | null;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier, 0 = none. */
  subscriptionId: number;
}

/** One delivery target after merging a session's overlapping subscriptions. */
export interface Target<S extends Subscriber = Subscriber> {
  readonly subscriber: S;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  /** Subscription identifiers to send, or null when none. */
  readonly subscriptionIds: readonly number[] | null;
}

export interface SharedGroup<S extends Subscriber = Subscriber> {
  readonly name: string;
  readonly filter: string;
  readonly members: Array<Subscription<S>>;
  /** Round-robin cursor, owned by the router. */
  cursor: number;
  /**
   * A durable group is a queue: it exists without members and holds messages (bounded) in
   * `backlog` until a consumer attaches. Ordinary shared subscriptions are not durable.
   */
  durable: boolean;
  readonly backlog: Deque<Message>;
}

export interface MatchResult<S extends Subscriber = Subscriber> {
  readonly targets: ReadonlyArray<Target<S>>;
  readonly groups: ReadonlyArray<SharedGroup<S>>;
  /** Observers with a filter matching the topic, each once; null when none. */
  readonly observers: ReadonlyArray<Observer> | null;
}

/**
 * Told of the messages routed on any of its filters: not a subscriber (no deliveries, no
 * interest, not counted). A handful per trie: they are matched one by one on a cache miss.
 */
export interface Observer {
  readonly filters: readonly string[];
  seen(msg: Message, deliveries: number): void;
}

interface Node<S extends Subscriber> {
  children: Map<string, Node<S>> | null;
  plus: Node<S> | null;
  hash: Node<S> | null;
  /**
   * Ordinary subscriptions on this exact filter. Most filters of a large fleet have one
   * subscriber (devices/<id>/cmd), so a lone subscription is held inline and a Map is made
   * only for the second: a one-entry Map costs ~280 bytes per idle connection.
   */
  subs: Subscription<S> | Map<S, Subscription<S>> | null;
  groups: Map<string, SharedGroup<S>> | null;
}

function newNode<S extends Subscriber>(): Node<S> {
  return { children: null, plus: null, hash: null, subs: null, groups: null };
}

const EMPTY: MatchResult<never> = Object.freeze({ targets: [], groups: [], observers: null });
/** Topics longer than this are not cached. */
const MAX_CACHED_TOPIC = 256;
/** Cached topic characters (UTF-16 units) before the cache starts over: ~16 MiB of keys. */
const MAX_CACHE_CHARS = 8 * 1024 * 1024;

export class TopicTrie<S extends Subscriber = Subscriber> {
  private readonly root: Node<S> = newNode();
  private readonly cache = new Map<string, MatchResult<S>>();
  /** Characters of the cached topics: the cache is bounded by them too (topics are attacker-chosen). */
  private cacheChars = 0;
  private count = 0;
  private observers: Observer[] = [];

  constructor(private readonly maxCacheEntries = 100_000) {}

  private clearCache(): void {
    this.cache.clear();
    this.cacheChars = 0;
  }

  /** Number of subscriptions stored. */
  get size(): number {
    return this.count;
  }

  /** Topics whose match result is cached (tests, stats). */
  get cachedTopics(): number {
    return this.cache.size;
  }

  /** Start telling `o` of the messages on its filters. */
  observe(o: Observer): void {
    this.observers = [...this.observers, o];
    this.clearCache();
  }

  /** Observers now (tests, stats). */
  get observing(): number {
    return this.observers.length;
  }

  unobserve(o: Observer): void {
    this.observers = this.observers.filter((x) => x !== o);
    this.clearCache();
  }

  /** Add or replace a subscription. Returns the previous one for the same subscriber+raw filter. */
  add(sub: Subscription<S>): Subscription<S> | undefined {
    const node = this.nodeFor(sub.filter, true)!;
    this.clearCache();
    if (sub.group === null) {
      const cur = node.subs;
      let prev: Subscription<S> | undefined;
      if (cur === null) node.subs = sub;
      else if (cur instanceof Map) {
        prev = cur.get(sub.subscriber);
        cur.set(sub.subscriber, sub);
      } else if (cur.subscriber === sub.subscriber) {
        prev = cur;
        node.subs = sub;
      } else node.subs = new Map([[cur.subscriber, cur], [sub.subscriber, sub]]);
      if (!prev) this.count++;
      return prev;
    }
    node.groups ??= new Map();
    let g = node.groups.get(sub.group);
    if (!g) {
      g = newGroup(sub.group, sub.filter, false);
      node.groups.set(sub.group, g);
    }
    const i = g.members.findIndex((m) => m.subscriber === sub.subscriber);
    if (i >= 0) {
      const prev = g.members[i];
      g.members[i] = sub;
      return prev;
    }
    g.members.push(sub);
    this.count++;
    return undefined;
  }

  /** Remove a subscriber's subscription to `filter` (in `group`). Returns it if it existed. */
  remove(subscriber: S, filter: string, group: string | null): Subscription<S> | undefined {
    const path: Array<[Node<S>, string]> = [];
    let node: Node<S> | null | undefined = this.root;
    for (const level of filter.split('/')) {
      const next: Node<S> | null | undefined =
        level === '+' ? node.plus : level === '#' ? node.hash : node.children?.get(level);
      if (!next) return undefined;
      path.push([node, level]);
      node = next;
    }
    let removed: Subscription<S> | undefined;
    if (group === null) {
      const cur = node.subs;
      if (cur instanceof Map) {
        removed = cur.get(subscriber);
        if (removed) cur.delete(subscriber);
        if (cur.size === 1) node.subs = cur.values().next().value ?? null;
      } else if (cur !== null && cur.subscriber === subscriber) {
        removed = cur;
        node.subs = null;
      }
    } else {
      const g = node.groups?.get(group);
      if (g) {
        const i = g.members.findIndex((m) => m.subscriber === subscriber);
        if (i >= 0) {
          removed = g.members[i];
          g.members.splice(i, 1);
          if (g.cursor > i) g.cursor--;
          if (g.members.length === 0 && !g.durable) node.groups!.delete(group);
        }
      }
    }
    if (!removed) return undefined;
    this.count--;
    this.clearCache();
    // Prune empty nodes bottom-up so churn does not leak memory.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = level === '+' ? parent.plus : level === '#' ? parent.hash : parent.children?.get(level);
      if (!child || !isEmpty(child)) break;
      if (level === '+') parent.plus = null;
      else if (level === '#') parent.hash = null;
      else {
        parent.children!.delete(level);
        if (parent.children!.size === 0) parent.children = null;
      }
    }
    return removed;
  }

  /** Create (or find) the durable group `name` on `filter`: a queue. */
  declareGroup(filter: string, name: string): SharedGroup<S> {
    const node = this.nodeFor(filter, true)!;
    node.groups ??= new Map();
    let g = node.groups.get(name);
    if (!g) {
      g = newGroup(name, filter, true);
      node.groups.set(name, g);
      this.clearCache();
    }
    g.durable = true;
    return g;
  }

  /** The group `name` on exactly `filter`, if any. */
  group(filter: string, name: string): SharedGroup<S> | undefined {
    return this.nodeFor(filter, false)?.groups?.get(name);
  }

  /** Subscriptions matching `topic`, merged per subscriber. The result is shared: do not mutate. */
  match(topic: string): MatchResult<S> {
    const hit = this.cache.get(topic);
    if (hit) return hit;
    const subs: Array<Subscription<S>> = [];
    const groups: Array<SharedGroup<S>> = [];
    const levels = topic.split('/');
    const dollar = topic.charCodeAt(0) === 0x24;
    this.collect(this.root, levels, 0, dollar, subs, groups);
    const observers = this.observers.length === 0 ? null : observing(this.observers, topic);
    const result = subs.length === 0 && groups.length === 0 && observers === null ? (EMPTY as MatchResult<S>) : { targets: merge(subs), groups, observers };
    // Long topics are matched, not cached: a cache of 100k 4 KiB keys would be 800 MB.
    if (topic.length > MAX_CACHED_TOPIC) return result;
    if (this.cache.size >= this.maxCacheEntries || this.cacheChars > MAX_CACHE_CHARS) this.clearCache();
    this.cache.set(topic, result);
    this.cacheChars += topic.length;
    return result;
  }

  /** Every subscription (for listing and persistence). */
  *all(): Generator<Subscription<S>> {
    const stack: Array<Node<S>> = [this.root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.subs instanceof Map) yield* n.subs.values();
      else if (n.subs) yield n.subs;
      if (n.groups) for (const g of n.groups.values()) yield* g.members;
      pushChildren(n, stack);
    }
  }

  /** Every shared group and queue, members or not (listings). */
  *groups(): Generator<SharedGroup<S>> {
    const stack: Array<Node<S>> = [this.root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.groups) yield* n.groups.values();
      pushChildren(n, stack);
    }
  }

  private collect(
    node: Node<S>,
    levels: string[],
    i: number,
    dollar: boolean,
    subs: Array<Subscription<S>>,
    groups: Array<SharedGroup<S>>,
  ): void {
    // '#' at this depth matches the remaining levels (zero or more), except $-topics at the root.
    if (node.hash && !(dollar && i === 0)) addAll(node.hash, subs, groups);
    if (i === levels.length) {
      addAll(node, subs, groups);
      return;
    }
    const level = levels[i]!;
    const exact = node.children?.get(level);
    if (exact) this.collect(exact, levels, i + 1, dollar, subs, groups);
    if (node.plus && !(dollar && i === 0)) this.collect(node.plus, levels, i + 1, dollar, subs, groups);
  }

  private nodeFor(filter: string, create: boolean): Node<S> | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next: Node<S> | null | undefined;
      if (level === '+') {
        next = node.plus;
        if (!next && create) next = node.plus = newNode();
      } else if (level === '#') {
        next = node.hash;
        if (!next && create) next = node.hash = newNode();
      } else {
        next = node.children?.get(level);
        if (!next && create) {
          next = newNode();
          (node.children ??= new Map()).set(level, next);
        }
      }
      if (!next) return undefined;
      node = next;
    }
    return node;
  }
}

function newGroup<S extends Subscriber>(name: string, filter: string, durable: boolean): SharedGroup<S> {
  return { name, filter, members: [], cursor: 0, durable, backlog: new Deque<Message>() };
}

/** One by one: a spread of a level with 100k+ children (devices/<id>/...) would overflow the call stack. */
function pushChildren<S extends Subscriber>(n: Node<S>, stack: Array<Node<S>>): void {
  if (n.children) for (const c of n.children.values()) stack.push(c);
  if (n.plus) stack.push(n.plus);
  if (n.hash) stack.push(n.hash);
}

function isEmpty<S extends Subscriber>(n: Node<S>): boolean {
  return (
    n.subs === null &&
    (n.groups === null || n.groups.size === 0) &&
    n.children === null &&
    n.plus === null &&
    n.hash === null
  );
}

function addAll<S extends Subscriber>(n: Node<S>, subs: Array<Subscription<S>>, groups: Array<SharedGroup<S>>): void {
  if (n.subs instanceof Map) for (const s of n.subs.values()) subs.push(s);
  else if (n.subs) subs.push(n.subs);
  if (n.groups) for (const g of n.groups.values()) groups.push(g);
}

/** Merge overlapping subscriptions of one subscriber into one target [MQTT-3.3.4-2, MQTT-3.3.4-3]. */
function merge<S extends Subscriber>(subs: Array<Subscription<S>>): Array<Target<S>> {
  const out: Array<Target<S>> = [];
  let index: Map<S, number> | null = null;
  if (subs.length > 1) index = new Map();
  for (const s of subs) {
    const ids = s.subscriptionId > 0 ? [s.subscriptionId] : null;
    const at = index?.get(s.subscriber);
    if (at === undefined) {
      index?.set(s.subscriber, out.length);
      out.push({ subscriber: s.subscriber, qos: s.qos, noLocal: s.noLocal, retainAsPublished: s.retainAsPublished, subscriptionIds: ids });
      continue;
    }
    const t = out[at]!;
    const mergedIds = t.subscriptionIds && ids ? [...t.subscriptionIds, ...ids] : (t.subscriptionIds ?? ids);
    out[at] = {
      subscriber: s.subscriber,
      qos: (s.qos > t.qos ? s.qos : t.qos),
      noLocal: t.noLocal && s.noLocal,
      retainAsPublished: t.retainAsPublished || s.retainAsPublished,
      subscriptionIds: mergedIds,
    };
  }
  return out;
}

function observing(all: readonly Observer[], topic: string): Observer[] | null {
  const found = all.filter((o) => o.filters.some((f) => filterMatches(f, topic)));
  return found.length === 0 ? null : found;
}
