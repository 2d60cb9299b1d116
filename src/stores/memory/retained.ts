/** Retained messages in memory, per application and topic. */
import type { MessageRecord, RetainedStore } from '../types.js';

export class MemoryRetainedStore implements RetainedStore {
  private readonly apps = new Map<string, Map<string, MessageRecord>>();

  async *retained(app: string): AsyncIterable<MessageRecord> {
    yield* this.apps.get(app)?.values() ?? [];
  }

  putRetained(app: string, msg: MessageRecord): void {
    let topics = this.apps.get(app);
    if (topics === undefined) this.apps.set(app, (topics = new Map()));
    if (msg.payload.length === 0) topics.delete(msg.topic);
    else topics.set(msg.topic, msg);
  }
}
