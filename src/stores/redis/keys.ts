/**
 * The key layout (`<prefix>` is cluster.redis.prefix; `<app>` is escaped: `%`, `:`, `{`, `}`
 * as %XX, so that it never ends a key part or a hash tag early):
 *
 *   <prefix>:{s:<app>:<clientId>}:meta    HASH  m = session meta, x = expiry time (ms, 0 = none), w = will
 *   <prefix>:{s:<app>:<clientId>}:subs    HASH  raw filter -> subscription
 *   <prefix>:{s:<app>:<clientId>}:q       LIST  queued deliveries, oldest first
 *   <prefix>:{s:<app>:<clientId>}:inf     HASH  delivery id -> phase + delivery
 *   <prefix>:{s:<app>:<clientId>}:in      SET   inbound QoS 2 packet ids
 *   <prefix>:{s:<app>:<clientId>}:fence   STRING the fencing token of the session's holder
 *   <prefix>:sessions:<app>               ZSET  client id, scored by its expiry time (ms; +inf: none)
 *   <prefix>:retained:<app>               HASH  topic -> retained message
 *   <prefix>:{q:<app>:<node>}:m           HASH  queue entry id -> queue + message (one node's)
 *   <prefix>:{q:<app>:<node>}:a           HASH  queue entry id -> delivery attempts (when not 0)
 *   <prefix>:deadletters:<app>            ZSET  dead letter (id included), scored by id
 *
 * Every key of one session shares one hash tag, so that a session's scripts run in one slot on a
 * Redis Cluster; so do a node's two queue keys. Everything else is one key per application. (A
 * client id with `}` ends the tag early, but inside the part every key of its session shares:
 * they still land in one slot.)
 */

export function escapePart(s: string): string {
  return s.replace(/[%:{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export const SESSION_PARTS = ['fence', 'meta', 'subs', 'q', 'inf', 'in'] as const;

/** The keys of one session, in the order the scripts take them (KEYS[1..6]). */
export type SessionKeys = [fence: string, meta: string, subs: string, q: string, inf: string, inbound: string];

export class Keys {
  constructor(private readonly prefix: string) {}

  session(app: string, clientId: string): SessionKeys {
    const base = `${this.prefix}:{s:${escapePart(app)}:${clientId}}:`;
    return [`${base}fence`, `${base}meta`, `${base}subs`, `${base}q`, `${base}inf`, `${base}in`];
  }

  sessionIndex(app: string): string {
    return `${this.prefix}:sessions:${escapePart(app)}`;
  }

  /** Set while Redis keeps what the stores wrote: gone after a restart that lost the data. */
  marker(): string {
    return `${this.prefix}:stores`;
  }

  retained(app: string): string {
    return `${this.prefix}:retained:${escapePart(app)}`;
  }

  queue(app: string, node: string): { entries: string; attempts: string } {
    const base = `${this.prefix}:{q:${escapePart(app)}:${node}}:`;
    return { entries: `${base}m`, attempts: `${base}a` };
  }

  deadLetters(app: string): string {
    return `${this.prefix}:deadletters:${escapePart(app)}`;
  }
}
