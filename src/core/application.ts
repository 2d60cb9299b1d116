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
import type { Profile } from './permissions.js';
import { Monitor } from './monitor.js';
import { Presence } from './presence.js';
import { DeadLetters } from './dead-letters.js';
import { Direct } from './direct.js';

export const DEV_APP_ID = 'default';

export interface ApplicationOptions {
  limits: LimitsConfig;
  maxRedeliveries: number;
  /** Extra drop observer (hooks, metrics). */
  onDrop?: DropListener;
}

export class Application {
  readonly router: Router;
  readonly permissions: Permissions;
  readonly monitor: Monitor;
  readonly presence: Presence;
  readonly deadLetters: DeadLetters;
  readonly direct: Direct;

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
    this.direct = new Direct(this.router, this.deadLetters);
  }

  get id(): string {
    return this.config?.id ?? DEV_APP_ID;
  }

  /** Development mode: no keys, every login accepted, every action allowed. */
  get open(): boolean {
    return this.config === null;
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
