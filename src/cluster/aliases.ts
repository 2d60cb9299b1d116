/**
 * Aliases on direct links (wire.ts ALIASED, TOPIC, SENDER): a fan-out message to another node
 * names its topic and its sender (application, client id, profile) by two 16-bit numbers
 * instead of their strings. Like MQTT 5's topic aliases, but per node and for both: the strings
 * are written and read once per link, not per message (a cross-node message cost about twice a
 * local one, mostly in its strings).
 *
 * The numbers are this node's, the same for every link (a message is still serialised once);
 * each link remembers which it was told, under the table's epoch. A full table starts over with
 * a new epoch: every link is told again, a receiver takes a definition over an old one.
 */
import type { Sender } from '../core/message.js';

/** Aliases of each kind per table: ids 0 .. MAX_ALIASES - 1. */
export const MAX_ALIASES = 16_384;

export class Aliases {
  private readonly topics = new Map<string, number>();
  private readonly senders = new Map<Sender, { id: number; app: string }>();
  epoch = 1;

  /** Before a message is aliased: room for one more of each (else the table starts over). */
  begin(): void {
    if (this.topics.size < MAX_ALIASES && this.senders.size < MAX_ALIASES) return;
    this.topics.clear();
    this.senders.clear();
    this.epoch++;
  }

  topic(topic: string): number {
    let id = this.topics.get(topic);
    if (id === undefined) this.topics.set(topic, (id = this.topics.size));
    return id;
  }

  /** The sender's alias in `app`; -2: it has one in another application (the message goes unaliased). */
  sender(app: string, sender: Sender): number {
    const a = this.senders.get(sender);
    if (a === undefined) {
      const id = this.senders.size;
      this.senders.set(sender, { id, app });
      return id;
    }
    return a.app === app ? a.id : -2;
  }
}

/** What one link was told: the epoch each alias was defined in on it (0: never). */
export class LinkAliases {
  readonly topics = new Uint32Array(MAX_ALIASES);
  readonly senders = new Uint32Array(MAX_ALIASES);
}
