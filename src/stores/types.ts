/**
 * Store interfaces. Core owns the live state; stores hold what must outlive a process
 * (SQLite) or be shared between nodes (Redis). Every implementation passes the contract
 * suite in contract.ts.
 */
import type { Message } from '../core/message.js';

export interface RetainedStore {
  /**
   * Set the retained message for `msg.topic`, or clear it when `msg.payload` is empty
   * [MQTT-3.3.1-6, MQTT-3.3.1-7]. Idempotent.
   */
  set(msg: Message): void;
  /** Retained messages whose topic matches `filter` (wildcards; $-topics excluded from leading wildcards). */
  match(filter: string): Message[];
  /** The retained message on exactly `topic`. */
  get(topic: string): Message | undefined;
  readonly size: number;
}
