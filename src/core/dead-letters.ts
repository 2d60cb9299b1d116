/**
 * The dead-letter channel: every message the broker could not deliver is published to
 * `$dlq/<reason>/<original topic>` as a JSON envelope (reason, original topic, sender,
 * intended receiver, payload, time), and the last `capacity` envelopes are kept in memory.
 *
 * Dead-lettered: direct messages to unknown / offline clients, offline queue overflow,
 * expiry while queued, QoS 0 dropped for a slow consumer, queue NACK past the retry limit.
 * Not dead-lettered: QoS 0 to an offline session (MQTT allows dropping it), publishes with no
 * subscriber on ordinary topics, and dead letters themselves (no loops).
 */
import { createMessage, senderIdOf } from './message.js';
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

export class DeadLetters {
  readonly recent = new Deque<DeadLetter>();
  count = 0;

  constructor(
    private readonly router: Router,
    private readonly capacity = 1000,
  ) {}

  /** Router drop listener. Direct messages are always dead-lettered, whatever the reason. */
  onDrop(session: Session | null, msg: Message, reason: DropReason): void {
    if (msg.topic.startsWith('$dlq/') || msg.topic.startsWith('$monitor/') || msg.topic.startsWith('$presence/')) return;
    if (!LETTERED.has(reason) && !msg.topic.startsWith('$inbox/')) return;
    const time = new Date(this.router.now()).toISOString();
    const to = session?.clientId ?? null;
    const topic = `$dlq/${reason}/${msg.topic}`;
    this.count++;
    this.recent.push({ reason, msg, from: senderIdOf(msg), to, time });
    if (this.recent.length > this.capacity) this.recent.shift();
    // The envelope is only serialised when someone listens (drops peak when the broker is busiest).
    const m = this.router.trie.match(topic);
    if (m.targets.length === 0 && m.groups.length === 0) return;
    this.router.publish(envelope(topic, reason, to, time, msg), false);
  }
}
