/**
 * An application: one namespace with its own router (topics, sessions, retained), permissions,
 * monitoring, presence, dead letters and direct messages. Clients of one application never
 * see another's. With no application configured the broker runs one development application
 * that accepts any login.
 */
import type { ApplicationConfig, LimitsConfig } from '../config/types.js';
import type { Message } from './message.js';
import { Router } from './router.js';
import type { DropListener } from './session.js';
import { Permissions } from './permissions.js';
import { PROFILE_RANK } from './permissions.js';
import type { Principal, Profile } from './permissions.js';
import { Monitor } from './monitor.js';
import { Presence } from './presence.js';
import { DeadLetters } from './dead-letters.js';
import { Direct } from './direct.js';
import type { BrokerHooks, ClientInfo, MaybePromise } from './hooks.js';

export const DEV_APP_ID = 'default';

export interface ApplicationOptions {
  limits: LimitsConfig;
  maxRedeliveries: number;
  /** Extra drop observer (hooks, metrics). */
  onDrop?: DropListener;
  hooks?: BrokerHooks;
}

export class Application {
  readonly router: Router;
  readonly permissions: Permissions;
  readonly monitor: Monitor;
  readonly presence: Presence;
  readonly deadLetters: DeadLetters;
  readonly direct: Direct;
  readonly hooks: BrokerHooks;

  constructor(
    public config: ApplicationConfig | null,
    opts: ApplicationOptions,
  ) {
    let dl: DeadLetters | null = null;
    this.router = new Router({
      limits: opts.limits,
      maxRedeliveries: opts.maxRedeliveries,
      onDrop: (s, m, r) => {
        dl?.onDrop(s, m, r);
        opts.onDrop?.(s, m, r);
      },
    });
    this.deadLetters = dl = new DeadLetters(this.router);
    this.permissions = new Permissions(config?.acl ?? [], config?.grants ?? {});
    this.monitor = new Monitor(this.router);
    this.presence = new Presence(this.router, config?.presenceTopics ?? []);
    this.direct = new Direct(this.router);
    this.hooks = opts.hooks ?? {};
  }

  /** The publish decision: the embedding hook if any, else the configured rules. */
  authorizePublish(client: ClientInfo, msg: Message): MaybePromise<boolean> {
    if (!this.canPublish(client, msg.topic)) return false;
    const hook = this.hooks.authorizePublish;
    return hook === undefined ? true : hook(client, msg);
  }

  authorizeSubscribe(client: ClientInfo, filter: string, shared: boolean): MaybePromise<boolean> {
    if (!this.canSubscribe(client, filter, shared)) return false;
    const hook = this.hooks.authorizeSubscribe;
    return hook === undefined ? true : hook(client, filter);
  }

  get id(): string {
    return this.config?.id ?? DEV_APP_ID;
  }

  /** Development mode: no keys, every login accepted, every action allowed. */
  get open(): boolean {
    return this.config === null;
  }

  /**
   * May `p` publish to `topic`? Broker-owned namespaces ($SYS, $monitor, $presence, $members,
   * $dlq) are never written by clients; $inbox and $request are open; the rest per rules.
   */
  canPublish(p: Principal, topic: string): boolean {
    if (topic.charCodeAt(0) === 0x24) {
      if (/^\$(SYS|monitor|presence|members|dlq)(\/|$)/.test(topic)) return false;
      if (topic === '$request/clients') return true;
    }
    return this.open || this.permissions.canPublish(p, topic);
  }

  /**
   * May `p` subscribe to `filter` (without $share/)? Monitoring needs SUPER_AGENT or more (who
   * may be watched is decided per copy, by rank); presence is open; `$members/<t>` follows `t`.
   */
  canSubscribe(p: Principal, filter: string, shared: boolean): boolean {
    if (filter.charCodeAt(0) === 0x24) {
      if (filter.startsWith('$monitor/')) return !shared && (this.open || PROFILE_RANK[p.profile] >= PROFILE_RANK.SUPER_AGENT);
      if (filter.startsWith('$presence/')) return !shared;
      if (filter.startsWith('$members/')) return this.open || this.permissions.canSubscribe(p, filter.slice(9), false);
    }
    return this.open || this.permissions.canSubscribe(p, filter, shared);
  }

  duplicatePolicy(profile: Profile): 'takeover' | 'reject' {
    return this.config?.duplicateLogin[profile] ?? 'takeover';
  }

  /** Apply a reloaded configuration (SIGHUP): permissions and presence patterns change in place. */
  reconfigure(config: ApplicationConfig): void {
    this.config = config;
    this.permissions.update(config.acl, config.grants);
    this.presence.setMemberPatterns(config.presenceTopics);
  }

  /** Publish on behalf of the broker or a backend (server-side action). */
  publish(msg: Message): number {
    return this.router.publish(msg);
  }
}
