/** STOMP frames as the parser produces and the encoder consumes them (STOMP 1.2 "STOMP Frames"). */
import { ERRORS } from '../../errors/catalogue.js';
import type { ErrorCode } from '../../errors/catalogue.js';

export interface StompFrame {
  command: string;
  /** In wire order; repeated names kept (the first one wins when read, STOMP 1.2 "Repeated Header Entries"). */
  headers: Array<[string, string]>;
  body: Buffer;
}

/** First value of header `name`, or undefined. */
export function header(frame: StompFrame, name: string): string | undefined {
  for (const [k, v] of frame.headers) if (k === name) return v;
  return undefined;
}

export type StompVersion = '1.0' | '1.1' | '1.2';

/**
 * Thrown by the parser with a catalogue code; the connection answers with the code's ERROR
 * frame (errors.ts: `message` = the catalogue's STOMP text, also this error's message; the
 * detail as body; receipt-id) and closes.
 */
export class StompFrameError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly receipt?: string,
  ) {
    super(ERRORS[code].stomp);
    this.name = 'StompFrameError';
  }
}
