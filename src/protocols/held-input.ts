/**
 * Input that waits, in order, while an asynchronous decision is pending (a login, or a hook
 * that answered with a Promise). While holding, the transport is paused so a fast client cannot
 * make the queue grow without bound.
 */
import type { Connection } from '../transports/connection.js';

export class HeldInput<T> {
  private held: T[] | null = null;

  constructor(
    private readonly conn: Connection,
    private readonly handle: (item: T) => void,
  ) {}

  get holding(): boolean {
    return this.held !== null;
  }

  /** Start holding (idempotent). */
  hold(): void {
    if (this.held === null) {
      this.held = [];
      this.conn.pause();
    }
  }

  /** Queue `item` if holding; returns whether it was queued. */
  offer(item: T): boolean {
    if (this.held === null) return false;
    this.held.push(item);
    return true;
  }

  /** Handle what waited; an item that asks to hold again keeps the rest behind it. */
  release(): void {
    const items = this.held;
    if (items === null) return;
    this.held = null;
    this.conn.resume();
    for (let i = 0; i < items.length; i++) {
      const again = this.held as T[] | null; // set again by an item handled in this loop
      if (again !== null) {
        again.push(...items.slice(i));
        return;
      }
      this.handle(items[i]!);
    }
  }
}
