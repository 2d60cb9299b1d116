/**
 * The dead-letter channel: every message the broker could not deliver is published to
 * `$dlq/<reason>/<original topic>` as a JSON envelope (reason, original topic, sender,
 * intended receiver, payload, time), and the last `capacity` envelopes are kept in memory.
 *
 * Dead-lettered: direct messages to unknown / offline clients, offline queue overflow,
 * expiry while queued, QoS 0 dropped for a slow consumer, queue NACK past the retry limit.
 * Not dead-lettered: QoS 0 to an offline session (MQTT allows dropping it), publishes with no
 * subscriber on ordinary topics, and dead letters themselves (no loops).
 *
 * Cluster mode: the node that decided the drop publishes the envelope, once; it reaches the
 * `$dlq` subscribers of every node like any publish. `recent` holds this node's dead letters.
 */
import { createMessage, messageRecord, messageSize, senderIdOf } from './message.js';
import type { DeadLetterStore } from '../stores/types.js';
import type { Message } from './message.js';
import type { Router } from './router.js';
import type { DropReason, Session } from './session.js';
import { describeMessage, jsonPayload } from './envelope.js';
import { Deque } from './deque.js';

export interface DeadLetter {
  reason: string;
  msg: Message;
  from: string;
  to: string | null;
  time: string;
}

export function envelope(topic: string, reason: string, to: string | null, time: string, msg: Message): Message {
  return createMessage(
    topic,
    jsonPayload({ reason, originalTopic: msg.topic, to, time, ...describeMessage(msg) }),
    msg.qos === 0 ? 0 : 1,
    false,
    null,
    0,
    null,
  );
}

const LETTERED: ReadonlySet<DropReason> = new Set(['queue-full', 'expired', 'slow-consumer', 'nack-limit']);

/** The recent list keeps at most this many bytes of messages (a flood of large dead letters must not hold memory). */
const RECENT_MAX_BYTES = 16 * 1024 * 1024;

export class DeadLetters {
  readonly recent = new Deque<DeadLetter>();
  private recentBytes = 0;
  count = 0;
  /** Where dead letters are kept beyond the recent list (stores/), and under which application. */
  store: { app: string; deadLetters: DeadLetterStore } | null = null;

  constructor(
    private readonly router: Router,
    private readonly capacity = 1000,
  ) {}

  /** Router drop listener. Direct messages are always dead-lettered, whatever the reason. */
  onDrop(session: Session | null, msg: Message, reason: DropReason): void {
    if (msg.topic.startsWith('$dlq/') || msg.topic.startsWith('$monitor/') || msg.topic.startsWith('$presence/')) return;
    // Refused at the door for want of memory: counted, never kept (keeping it would need memory).
    if (reason === 'overload') return;
    if (!LETTERED.has(reason) && !msg.topic.startsWith('$inbox/')) return;
    const now = this.router.now();
    const time = new Date(now).toISOString();
    const to = session?.clientId ?? inboxTarget(msg.topic);
    const topic = `$dlq/${reason}/${msg.topic}`;
    this.count++;
    this.recent.push({ reason, msg, from: senderIdOf(msg), to, time });
    this.recentBytes += messageSize(msg);
    while (this.recent.length > this.capacity || this.recentBytes > RECENT_MAX_BYTES) this.recentBytes -= messageSize(this.recent.shift()!.msg);
    const st = this.store;
    if (st !== null) st.deadLetters.addDeadLetter({ app: st.app, reason, to, time: now, msg: messageRecord(msg) });
    // The envelope is only serialised when someone listens (drops peak when the broker is busiest).
    const m = this.router.trie.match(topic);
    if (m.targets.length === 0 && m.groups.length === 0 && (this.router.cluster === null || !this.router.cluster.wanted(topic))) return;
    this.router.publish(envelope(topic, reason, to, time, msg), false);
  }
}

/** The intended receiver of a direct message (`$inbox/<id>[/...]`), or null. */
function inboxTarget(topic: string): string | null {
  if (!topic.startsWith('$inbox/')) return null;
  const slash = topic.indexOf('/', 7);
  return topic.slice(7, slash < 0 ? undefined : slash);
}
