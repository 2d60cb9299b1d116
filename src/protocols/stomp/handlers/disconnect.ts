/** DISCONNECT (STOMP 1.2 "DISCONNECT"): RECEIPT if asked, then close. */
import type { StompConnection } from '../connection.js';
import type { StompFrame } from '../frame.js';

export function handleDisconnect(c: StompConnection, f: StompFrame): void {
  const waiting = c.receiptsSent();
  if (waiting === null) return disconnect(c, f);
  // Receipts of stored SENDs still wait for the store: the DISCONNECT's comes after them.
  c.holdFrames();
  void waiting.then(() => disconnect(c, f));
}

function disconnect(c: StompConnection, f: StompFrame): void {
  c.receipt(f);
  c.endReason = 'clean';
  if (c.info) c.app?.hooks.onDisconnect?.(c.info);
  c.end();
}
