/**
 * Direct messages and requests to the broker:
 * - `$inbox/<client-id>[/...]` reaches that client (who subscribes to `$inbox/<own id>/#`).
 *   Offline with a persistent session: queued. Unknown, or offline without a session: dead
 *   letter, and the publisher learns that nobody received it (MQTT 5 reason 0x10).
 * - `$request/clients` with a response topic answers with the clients the caller may see. The
 *   answer is a publish by the caller to its Response Topic, authorised like any other: a reply
 *   never lands where the caller could not publish itself.
 *
 * Cluster mode (core/bus.ts): the publishing node routes a direct message like any publish (to
 * the nodes subscribed to it, so the recipient gets it once, on its node); when nobody is
 * subscribed it goes to the node that holds the recipient's parked session, which queues it; when
 * no node holds the recipient, the publishing node dead-letters it, once. `$request/clients` is
 * answered by the node that received it, with the clients of every node (the ownership registry).
 */
import { createMessage } from './message.js';
import type { Message } from './message.js';
import type { Router } from './router.js';
import type { Session } from './session.js';
import { jsonPayload } from './envelope.js';
import { clientSummary } from './admin.js';
import type { ClientSummary } from './admin.js';
import type { MaybePromise } from './hooks.js';

/** May `caller` publish `reply` (its own Response Topic)? */
export type ReplyAuthorizer = (caller: Session, reply: Message) => MaybePromise<boolean>;

/** A client may ask for the client list once per this many ms. */
const REQUEST_INTERVAL_MS = 1000;
/** At most this many clients in one answer (the admin API pages through all of them). */
const MAX_LISTED = 1000;
const EMPTY = Buffer.alloc(0);

export class Direct {
  private readonly lastRequest = new WeakMap<Session, number>();

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
    const target = targetOf(msg);
    const s = this.router.sessions.get(target);
    if (s !== undefined) return this.hold(s, msg);
    const cluster = this.router.cluster;
    const owner = cluster?.owner(target);
    // Parked on another node: queued there (online there, it has no inbox subscription: a dead letter, as here).
    if (owner !== undefined && !owner.online && cluster!.sendInbox(owner.node, msg)) return 1;
    // Through the router: counted, offered to hooks, and dead-lettered.
    this.router.reportDrop(null, msg, owner === undefined ? 'no-subscribers' : 'offline');
    return 0;
  }

  /** Not subscribed to its inbox (yet): a parked session keeps it, anything else is a dead letter. */
  private hold(s: Session, msg: Message): number {
    if (s.link === null && s.expiryInterval > 0) {
      return s.enqueue({ msg, qos: msg.qos === 0 ? 1 : msg.qos, retain: false, subscriptionIds: null, group: null }) ? 1 : 0;
    }
    this.router.reportDrop(s, msg, 'offline');
    return 0;
  }

  /** Cluster mode: a direct message handed to this node, which holds (or held) its recipient. */
  deliverHere(msg: Message): void {
    if (this.router.routeFromBus(msg) > 0) return;
    const s = this.router.sessions.get(targetOf(msg));
    if (s !== undefined) this.hold(s, msg);
    else this.router.reportDrop(null, msg, 'no-subscribers');
  }

  private clients(msg: Message): number {
    const caller = msg.sender === null ? undefined : this.router.sessions.get(msg.sender.clientId);
    const replyTo = msg.meta?.responseTopic;
    if (caller === undefined || replyTo === undefined) return 0;
    const meta = msg.meta!.correlationData !== undefined ? { correlationData: msg.meta!.correlationData, contentType: 'application/json' } : { contentType: 'application/json' };
    // The reply is a publish by the caller: authorised first (on an empty copy, before any work),
    // and sent as from the caller, so it is never taken for a broker announcement.
    const probe = createMessage(replyTo, EMPTY, 1, false, meta, 0, msg.sender);
    const ok = this.authorizeReply(caller, probe);
    if (ok === false) return 0;
    // The listing walks every session: at most one request per client per interval.
    const now = this.router.now();
    if (now - (this.lastRequest.get(caller) ?? -Infinity) < REQUEST_INTERVAL_MS) return 0;
    this.lastRequest.set(caller, now);
    const answer = (): number => this.router.publish({ ...probe, payload: jsonPayload(this.listFor(caller)) });
    if (ok === true) answer();
    else ok.then((yes) => (yes ? answer() : 0), () => 0);
    return 1;
  }

  /**
   * The clients `caller` may see, in the admin API's shape (core/admin.ts `clientSummary`), at
   * most MAX_LISTED (`truncated` says so; the admin API pages through all). Remote addresses are
   * for ADMINs only; a client held by another cluster node carries that `node`, with the counts
   * (subscriptions, queued, ...) that only its node knows left at 0.
   */
  private listFor(caller: Session): { clients: Array<ClientSummary & { node?: string }>; truncated?: boolean } {
    const cluster = this.router.cluster;
    const node = cluster === null ? undefined : cluster.node;
    const admin = caller.profile === 'ADMIN';
    const app = caller.identity?.app ?? '';
    const visible: Array<ClientSummary & { node?: string }> = [];
    let truncated = false;
    for (const s of this.router.sessions.values()) {
      if (visible.length >= MAX_LISTED) {
        truncated = true;
        break;
      }
      if (s.profile === 'ADMIN' && !admin) continue;
      const c: ClientSummary & { node?: string } = clientSummary(app, s);
      if (!admin) c.remoteAddress = null;
      if (node !== undefined) c.node = node;
      visible.push(c);
    }
    if (cluster !== null) {
      for (const o of cluster.owners()) {
        if (visible.length >= MAX_LISTED) {
          truncated = true;
          break;
        }
        if ((o.profile === 'ADMIN' && !admin) || this.router.sessions.has(o.clientId)) continue;
        visible.push({
          clientId: o.clientId,
          app,
          online: o.online,
          profile: o.profile,
          login: null,
          protocol: o.protocol === 'stomp' ? 'stomp' : 'mqtt',
          transport: o.transport,
          remoteAddress: null,
          connectedAt: o.online ? o.since : null,
          disconnectedAt: o.online ? null : o.since,
          since: o.since,
          persistent: !o.online,
          subscriptions: 0,
          queued: 0,
          inflight: 0,
          dropped: 0,
          node: o.node,
        });
      }
    }
    return truncated ? { clients: visible, truncated } : { clients: visible };
  }


}

/** `<id>` of `$inbox/<id>[/...]`. */
function targetOf(msg: Message): string {
  const slash = msg.topic.indexOf('/', 7);
  return msg.topic.slice(7, slash < 0 ? undefined : slash);
}
