/** BEGIN / COMMIT / ABORT (STOMP 1.2 "BEGIN", "COMMIT", "ABORT"): SEND and ACK/NACK wait for COMMIT. */
import type { StompConnection } from '../connection.js';
import type { StompFrame } from '../frame.js';
import { header } from '../frame.js';

/** Open transactions per connection (their held frames share one bound: see StompConnection.dispatch). */
const MAX_TRANSACTIONS = 16;

export function handleBegin(c: StompConnection, f: StompFrame): void {
  const tx = header(f, 'transaction');
  if (tx === undefined) return c.fail('SB_ERR_MISSING_TRANSACTION', 'BEGIN requires a transaction header', header(f, 'receipt'));
  if (c.transactions.has(tx)) return c.fail('SB_ERR_DUPLICATE_TRANSACTION', `transaction "${tx}" is already open`, header(f, 'receipt'));
  if (c.transactions.size >= MAX_TRANSACTIONS) return c.fail('SB_ERR_QUOTA', `at most ${MAX_TRANSACTIONS} open transactions per connection`, header(f, 'receipt'));
  c.transactions.set(tx, { frames: [], bytes: 0 });
}

export function handleCommit(c: StompConnection, f: StompFrame): void | Promise<void> {
  const tx = header(f, 'transaction');
  const frames = tx === undefined ? undefined : c.closeTransaction(tx);
  if (!frames) return c.fail('SB_ERR_UNKNOWN_TRANSACTION', `transaction "${tx ?? ''}" was not begun`, header(f, 'receipt'));
  // In order; a frame waiting for an asynchronous hook holds the rest of the transaction.
  const run = (from: number): void | Promise<void> => {
    for (let i = from; i < frames.length; i++) {
      if (!c.connected) return;
      const r = c.dispatch(frames[i]!, true);
      if (r instanceof Promise) return r.then(() => run(i + 1));
    }
  };
  return run(0);
}

export function handleAbort(c: StompConnection, f: StompFrame): void {
  const tx = header(f, 'transaction');
  if (tx === undefined || c.closeTransaction(tx) === undefined) {
    c.fail('SB_ERR_UNKNOWN_TRANSACTION', `transaction "${tx ?? ''}" was not begun`, header(f, 'receipt'));
  }
}
