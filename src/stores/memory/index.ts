/**
 * The memory backend: every store in this process's memory. Nothing survives the process, but a
 * broker stopped and created again with the same `MemoryStores` resumes its sessions, retained
 * messages, queues and dead letters (embedders, engine tests). Writes are applied at once, so an
 * acknowledgement never waits.
 */
import type { Stores } from '../types.js';
import { MemoryDeadLetterStore } from './dead-letters.js';
import type { DeadLetterBounds } from './dead-letters.js';
import { MemoryQueueStore } from './queues.js';
import { MemoryRetainedStore } from './retained.js';
import { MemorySessionStore } from './sessions.js';

export class MemoryStores implements Stores {
  readonly sessions = new MemorySessionStore();
  readonly retained = new MemoryRetainedStore();
  readonly queues = new MemoryQueueStore();
  readonly deadLetters: MemoryDeadLetterStore;
  /** Writes are applied at once: nothing ever waits for a flush. */
  get dirty(): boolean {
    return false;
  }

  constructor(bounds: DeadLetterBounds = { maxCount: 10_000, maxAgeMs: 7 * 24 * 3600 * 1000 }) {
    this.deadLetters = new MemoryDeadLetterStore(bounds);
  }

  /** Memory never fails to write. */
  get writeError(): Error | null {
    return null;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
