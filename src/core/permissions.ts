/**
 * Topic permissions: ordered allow/deny rules per application, then the profile defaults.
 *
 * A rule's topic is a filter pattern with placeholders: %c = client id, %u = login id.
 *   publish to T      allowed by a rule whose pattern matches T
 *   subscribe to F    allowed by an allow rule whose pattern covers every topic F can match;
 *                     denied by a deny rule whose pattern overlaps F (could match a common topic)
 * The first rule that applies decides; no rule -> profile defaults (below); nothing -> deny.
 *
 * Identities are literals, never patterns. A pattern is split into levels once, when the rule
 * is loaded; a placeholder is then replaced inside its level by the identity's exact text, and
 * that level only ever equals a topic level with the same text. So an identity "#" or "+" is
 * not a wildcard, and an identity "a/b" adds no level (it equals no single level, so the rule
 * simply never applies: it fails closed). Logins with such characters are also refused at
 * CONNECT (core/identity.ts); this matcher does not rely on it.
 *
 * Profile defaults (ranks AGENT < SUPER_AGENT < SERVICE < ADMIN):
 *   everyone     publish $inbox/+/# (direct messages); subscribe $inbox/%c/# (own inbox only);
 *                publish and subscribe users/%u/# (own topics) and the configured grants
 *   SERVICE      also publish anything outside the system namespaces (broadcast), subscribe
 *                to shared subscriptions and queues on ordinary topics and $queue/, and to $dlq/#
 *   ADMIN        everything
 * A shared subscription ($share/G/F) or queue is for SERVICE and ADMIN only (its members share
 * the messages), and is decided on its inner filter F, by the same rules.
 * Monitoring ($monitor/...) and presence ($presence/...) are decided by rank, not by rules.
 */

export type Profile = 'AGENT' | 'SUPER_AGENT' | 'SERVICE' | 'ADMIN';
export const PROFILES: readonly Profile[] = ['AGENT', 'SUPER_AGENT', 'SERVICE', 'ADMIN'];
export const PROFILE_RANK: Record<Profile, number> = { AGENT: 1, SUPER_AGENT: 2, SERVICE: 3, ADMIN: 4 };

export type Action = 'publish' | 'subscribe';

export interface AclRule {
  permission: 'allow' | 'deny';
  action: Action | 'all';
  /** Topic filter pattern with %c / %u placeholders. */
  topic: string;
  /** Profiles the rule applies to; absent = all. */
  profiles?: readonly Profile[];
}

export interface Grants {
  publish?: readonly string[];
  subscribe?: readonly string[];
}

export interface Principal {
  clientId: string;
  login: string;
  profile: Profile;
  /** Extra grants from a JWT. */
  grants?: Grants;
}

/** `a` may monitor `b` when it outranks it; ADMIN outranks everyone else. */
export function outranks(a: Profile, b: Profile): boolean {
  return PROFILE_RANK[a] > PROFILE_RANK[b];
}

// ---- compiled patterns ------------------------------------------------------------------------

/** A placeholder inside a level. */
const CLIENT_ID = 0;
const LOGIN = 1;
/** One level of a pattern: a wildcard, or literal text made of constant parts and placeholders. */
type Level = '+' | '#' | { readonly parts: ReadonlyArray<string | typeof CLIENT_ID | typeof LOGIN> };

export interface Pattern {
  readonly source: string;
  readonly levels: readonly Level[];
  /** The first level is a wildcard: the pattern does not reach `$` topics [MQTT-4.7.2-1]. */
  readonly wildFirst: boolean;
}

/** Split a rule pattern into levels once. '+' and '#' are wildcards only as a whole level. */
export function compilePattern(source: string): Pattern {
  const levels: Level[] = source.split('/').map((l): Level => {
    if (l === '+' || l === '#') return l;
    const parts: Array<string | typeof CLIENT_ID | typeof LOGIN> = [];
    const re = /%[cu]/g;
    let last = 0;
    for (let m = re.exec(l); m !== null; m = re.exec(l)) {
      if (m.index > last) parts.push(l.slice(last, m.index));
      parts.push(m[0] === '%c' ? CLIENT_ID : LOGIN);
      last = m.index + 2;
    }
    if (last < l.length || parts.length === 0) parts.push(l.slice(last));
    return { parts };
  });
  return { source, levels, wildFirst: levels[0] === '+' || levels[0] === '#' };
}

/** The literal text of a level for `p` (identity text substituted verbatim). */
function text(level: Exclude<Level, '+' | '#'>, p: Principal): string {
  const parts = level.parts;
  if (parts.length === 1 && typeof parts[0] === 'string') return parts[0];
  let s = '';
  for (const x of parts) s += x === CLIENT_ID ? p.clientId : x === LOGIN ? p.login : x;
  return s;
}

/** Does `pat` (for principal `p`) match the topic name `topic`? */
export function patternMatches(pat: Pattern, p: Principal, topic: string): boolean {
  if (pat.wildFirst && topic.charCodeAt(0) === 0x24) return false; // [MQTT-4.7.2-1]
  const t = topic.split('/');
  const lv = pat.levels;
  for (let i = 0; i < lv.length; i++) {
    const l = lv[i]!;
    if (l === '#') return true; // also the parent level: "a/#" matches "a"
    if (i >= t.length) return false;
    if (l !== '+' && text(l, p) !== t[i]) return false;
  }
  return lv.length === t.length;
}

/** Does `pat` match every topic the subscription filter `filter` can match? */
export function patternCovers(pat: Pattern, p: Principal, filter: string): boolean {
  if (pat.wildFirst && filter.charCodeAt(0) === 0x24) return false; // pattern can't reach $ topics the filter names
  const f = filter.split('/');
  const lv = pat.levels;
  for (let i = 0; i < lv.length; i++) {
    const l = lv[i]!;
    if (l === '#') return true;
    const fl = f[i];
    if (fl === undefined || fl === '#') return false;
    if (l === '+') continue;
    // A literal level covers only the same literal: a filter wildcard is always broader.
    if (fl === '+' || fl !== text(l, p)) return false;
  }
  return lv.length === f.length;
}

/** Could `pat` and the filter `filter` match a common topic? (Deny rules: conservative.) */
export function patternOverlaps(pat: Pattern, p: Principal, filter: string): boolean {
  const f = filter.split('/');
  const lv = pat.levels;
  for (let i = 0; ; i++) {
    const l = lv[i];
    const fl = f[i];
    if (l === '#' || fl === '#') return true;
    if (l === undefined || fl === undefined) return l === fl;
    if (l === '+' || fl === '+') continue;
    if (text(l, p) !== fl) return false;
  }
}

const NOBODY: Principal = { clientId: '', login: '', profile: 'AGENT' };

/** Does pattern `pattern` (no placeholders) match every topic that `filter` can match? */
export function covers(pattern: string, filter: string): boolean {
  return patternCovers(compilePattern(pattern), NOBODY, filter);
}

/** Could filters `a` (no placeholders) and `b` match a common topic? */
export function overlaps(a: string, b: string): boolean {
  return patternOverlaps(compilePattern(a), NOBODY, b);
}

// ---- rules ------------------------------------------------------------------------------------

/** Broker-owned namespaces that the SERVICE profile's broadcast and uplink defaults never reach. */
const SYSTEM = /^\$(inbox|monitor|presence|members|dlq|request|SYS|queue|share)(\/|$)/;

interface CompiledRule {
  permission: 'allow' | 'deny';
  action: Action | 'all';
  pattern: Pattern;
  profiles: readonly Profile[] | undefined;
}

type CompiledGrants = Partial<Record<Profile, { publish: Pattern[]; subscribe: Pattern[] }>>;

const OWN_INBOX = compilePattern('$inbox/%c/#');
const OWN_TOPICS = compilePattern('users/%u/#');
const DLQ = compilePattern('$dlq/#');

export class Permissions {
  private rules: CompiledRule[] = [];
  private grants: CompiledGrants = {};
  /** JWT grants are per token: compiled once per distinct list (bounded). */
  private readonly tokenGrants = new Map<readonly string[], Pattern[]>();

  constructor(rules: readonly AclRule[], grants: Partial<Record<Profile, Grants>>) {
    this.update(rules, grants);
  }

  /** Replace rules and grants (config reload). */
  update(rules: readonly AclRule[], grants: Partial<Record<Profile, Grants>>): void {
    this.rules = rules.map((r) => ({ permission: r.permission, action: r.action, pattern: compilePattern(r.topic), profiles: r.profiles }));
    const g: CompiledGrants = {};
    for (const [profile, list] of Object.entries(grants) as Array<[Profile, Grants | undefined]>) {
      if (list) g[profile] = { publish: (list.publish ?? []).map(compilePattern), subscribe: (list.subscribe ?? []).map(compilePattern) };
    }
    this.grants = g;
  }

  canPublish(p: Principal, topic: string): boolean {
    for (const r of this.rules) {
      if (!applies(r, p, 'publish')) continue;
      if (patternMatches(r.pattern, p, topic)) return r.permission === 'allow';
    }
    return this.defaultPublish(p, topic);
  }

  /** `filter` without any $share prefix; `shared` tells whether it was a shared subscription or queue. */
  canSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    // Shared subscriptions and queues take messages away from their other members: backends only.
    if (shared && PROFILE_RANK[p.profile] < PROFILE_RANK.SERVICE) return false;
    for (const r of this.rules) {
      if (!applies(r, p, 'subscribe')) continue;
      if (r.permission === 'deny' ? patternOverlaps(r.pattern, p, filter) : patternCovers(r.pattern, p, filter)) return r.permission === 'allow';
    }
    return this.defaultSubscribe(p, filter, shared);
  }

  private granted(p: Principal, action: Action, test: (pattern: Pattern) => boolean): boolean {
    const profileGrants = this.grants[p.profile]?.[action];
    if (profileGrants) for (const g of profileGrants) if (test(g)) return true;
    const own = p.grants?.[action];
    if (own && own.length > 0) {
      let compiled = this.tokenGrants.get(own);
      if (compiled === undefined) {
        compiled = own.map(compilePattern);
        if (this.tokenGrants.size >= 10_000) this.tokenGrants.clear();
        this.tokenGrants.set(own, compiled);
      }
      for (const g of compiled) if (test(g)) return true;
    }
    return false;
  }

  private defaultPublish(p: Principal, topic: string): boolean {
    if (p.profile === 'ADMIN') return true;
    if (topic.startsWith('$inbox/')) return true;
    if (patternMatches(OWN_TOPICS, p, topic)) return true;
    if (this.granted(p, 'publish', (g) => patternMatches(g, p, topic))) return true;
    if (p.profile === 'SERVICE') return !SYSTEM.test(topic) || topic.startsWith('$queue/');
    return false;
  }

  private defaultSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    if (p.profile === 'ADMIN') return true;
    if (patternCovers(OWN_INBOX, p, filter)) return true;
    if (patternCovers(OWN_TOPICS, p, filter)) return true;
    if (this.granted(p, 'subscribe', (g) => patternCovers(g, p, filter))) return true;
    if (p.profile === 'SERVICE') {
      // Service uplinks: shared subscriptions and queues, never on the system namespaces.
      // A filter starting with a wildcard cannot reach `$` topics [MQTT-4.7.2-1].
      if (shared) return filter.charCodeAt(0) !== 0x24 || filter.startsWith('$queue/');
      if (patternCovers(DLQ, p, filter)) return true;
    }
    return false;
  }
}

function applies(r: CompiledRule, p: Principal, action: Action): boolean {
  return (r.action === 'all' || r.action === action) && (r.profiles === undefined || r.profiles.includes(p.profile));
}
