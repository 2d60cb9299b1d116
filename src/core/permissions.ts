/**
 * Topic permissions: ordered allow/deny rules per application, then the profile defaults.
 *
 * A rule's topic is a filter pattern with placeholders: %c = client id, %u = login id.
 *   publish to T      allowed by a rule whose pattern matches T
 *   subscribe to F    allowed by an allow rule whose pattern covers every topic F can match;
 *                     denied by a deny rule whose pattern overlaps F (could match a common topic)
 * The first rule that applies decides; no rule -> profile defaults (below); nothing -> deny.
 *
 * Profile defaults (ranks AGENT < SUPER_AGENT < SERVICE < ADMIN):
 *   everyone     publish $inbox/+/# (direct messages); subscribe $inbox/%c/# (own inbox only);
 *                publish and subscribe users/%u/# (own topics) and the configured grants
 *   SERVICE      also publish anything outside the system namespaces (broadcast), subscribe
 *                to shared subscriptions and queues, and to $dlq/#
 *   ADMIN        everything
 * Monitoring ($monitor/...) and presence ($presence/...) are decided by rank, not by rules.
 */
import { topicMatches } from './topic.js';

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

function expand(pattern: string, p: Principal): string {
  return pattern.includes('%') ? pattern.replaceAll('%c', p.clientId).replaceAll('%u', p.login) : pattern;
}

/** Does `pattern` match every topic that `filter` can match? */
export function covers(pattern: string, filter: string): boolean {
  const pl = pattern.split('/');
  const fl = filter.split('/');
  if (filter.startsWith('$') !== pattern.startsWith('$') && (pl[0] === '#' || pl[0] === '+')) return false;
  for (let i = 0; i < pl.length; i++) {
    const p = pl[i]!;
    if (p === '#') return true;
    const f = fl[i];
    if (f === undefined) return false;
    if (f === '#') return false;
    if (p === '+') continue;
    if (f === '+' || f !== p) return false;
  }
  return pl.length === fl.length;
}

/** Could `a` and `b` match a common topic? */
export function overlaps(a: string, b: string): boolean {
  const al = a.split('/');
  const bl = b.split('/');
  for (let i = 0; ; i++) {
    const x = al[i];
    const y = bl[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x === '+' || y === '+') continue;
    if (x !== y) return false;
  }
}

const SYSTEM = /^\$(inbox|monitor|presence|members|dlq|request|SYS|queue)\//;

export class Permissions {
  constructor(
    private rules: readonly AclRule[],
    private grants: Partial<Record<Profile, Grants>>,
  ) {}

  /** Replace rules and grants (config reload). */
  update(rules: readonly AclRule[], grants: Partial<Record<Profile, Grants>>): void {
    this.rules = rules;
    this.grants = grants;
  }

  canPublish(p: Principal, topic: string): boolean {
    for (const r of this.rules) {
      if (!applies(r, p, 'publish')) continue;
      if (topicMatches(expand(r.topic, p), topic)) return r.permission === 'allow';
    }
    return this.defaultPublish(p, topic);
  }

  /** `filter` without any $share prefix; `shared` tells whether it was a shared subscription or queue. */
  canSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    for (const r of this.rules) {
      if (!applies(r, p, 'subscribe')) continue;
      const pat = expand(r.topic, p);
      if (r.permission === 'deny' ? overlaps(pat, filter) : covers(pat, filter)) return r.permission === 'allow';
    }
    return this.defaultSubscribe(p, filter, shared);
  }

  private granted(p: Principal, action: Action, test: (pattern: string) => boolean): boolean {
    const lists = [this.grants[p.profile]?.[action], p.grants?.[action]];
    for (const list of lists) if (list) for (const g of list) if (test(expand(g, p))) return true;
    return false;
  }

  private defaultPublish(p: Principal, topic: string): boolean {
    if (p.profile === 'ADMIN') return true;
    if (topic.startsWith('$inbox/')) return true;
    if (topicMatches(`users/${p.login}/#`, topic)) return true;
    if (this.granted(p, 'publish', (g) => topicMatches(g, topic))) return true;
    if (p.profile === 'SERVICE') return !SYSTEM.test(topic) || topic.startsWith('$queue/');
    return false;
  }

  private defaultSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    if (p.profile === 'ADMIN') return true;
    if (covers(`$inbox/${p.clientId}/#`, filter)) return true;
    if (covers(`users/${p.login}/#`, filter)) return true;
    if (this.granted(p, 'subscribe', (g) => covers(g, filter))) return true;
    if (p.profile === 'SERVICE') {
      if (shared) return true; // service uplinks: shared subscriptions and queues
      if (covers('$dlq/#', filter)) return true;
    }
    return false;
  }
}

function applies(r: AclRule, p: Principal, action: Action): boolean {
  return (r.action === 'all' || r.action === action) && (r.profiles === undefined || r.profiles.includes(p.profile));
}
