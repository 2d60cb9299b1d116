/**
 * Direct messages and requests to the broker:
 * - `$inbox/<client-id>[/...]` reaches that client (who subscribes to `$inbox/<own id>/#`).
 *   Offline with a persistent session: queued. Unknown, or offline without a session: dead
 *   letter, and the publisher learns that nobody received it (MQTT 5 reason 0x10).
 * - `$request/clients` with a response topic answers with the clients the caller may see. The
 *   answer is a publish by the caller to its Response Topic, authorised like any other: a reply
 *   never lands where the caller could not publish itself.
 */
import { createMessage } from './message.js';
import type { Message } from './message.js';
import type { Router } from './router.js';
import type { Session } from './session.js';
import { jsonPayload } from './envelope.js';
import type { MaybePromise } from './hooks.js';

/** May `caller` publish `reply` (its own Response Topic)? */
export type ReplyAuthorizer = (caller: Session, reply: Message) => MaybePromise<boolean>;

export class Direct {
  constructor(
    private readonly router: Router,
    private readonly authorizeReply: ReplyAuthorizer,
  ) {
    router.systemPublish = (msg) => this.publish(msg);
  }

  private publish(msg: Message): number | null {
    if (msg.topic.startsWith('$inbox/')) return this.inbox(msg);
    if (msg.topic === '$request/clients') return this.clients(msg);
    return null;
  }

  private inbox(msg: Message): number {
    const n = this.router.route(msg);
    if (n > 0) return n;
    const slash = msg.topic.indexOf('/', 7);
    const target = msg.topic.slice(7, slash < 0 ? undefined : slash);
    const s = this.router.sessions.get(target);
    if (s !== undefined && s.link === null && s.expiryInterval > 0) {
      // Not subscribed to its inbox yet, but its session waits: keep it there.
      return s.enqueue({ msg, qos: msg.qos === 0 ? 1 : msg.qos, retain: false, subscriptionIds: null, group: null }) ? 1 : 0;
    }
    // Through the router: counted, offered to hooks, and dead-lettered.
    this.router.reportDrop(s ?? null, msg, s === undefined ? 'no-subscribers' : 'offline');
    return 0;
  }

  private clients(msg: Message): number {
    const caller = msg.sender === null ? undefined : this.router.sessions.get(msg.sender.clientId);
    const replyTo = msg.meta?.responseTopic;
    if (caller === undefined || replyTo === undefined) return 0;
    const visible: Array<Record<string, unknown>> = [];
    for (const s of this.router.sessions.values()) {
      if (s.profile === 'ADMIN' && caller.profile !== 'ADMIN') continue;
      visible.push({
        client: s.clientId,
        online: s.link !== null,
        profile: s.profile,
        protocol: s.protocol,
        transport: s.identity?.transport ?? null,
        since: new Date(s.link !== null ? s.connectedAt : s.disconnectedAt).toISOString(),
        subscriptions: s.subscriptions.size,
      });
    }
    const meta = msg.meta!.correlationData !== undefined ? { correlationData: msg.meta!.correlationData, contentType: 'application/json' } : { contentType: 'application/json' };
    const reply = createMessage(replyTo, jsonPayload({ clients: visible }), 1, false, meta, 0, null);
    const ok = this.authorizeReply(caller, reply);
    if (ok === false) return 0;
    if (ok === true) this.router.publish(reply);
    else ok.then((yes) => (yes ? this.router.publish(reply) : 0), () => 0);
    return 1;
  }
}
