/** STOMP frames as the parser produces and the encoder consumes them (STOMP 1.2 "STOMP Frames"). */

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

/** Thrown by the parser; the connection answers with ERROR (message, detail, receipt-id) and closes. */
export class StompFrameError extends Error {
  constructor(
    message: string,
    readonly detail: string,
    readonly receipt?: string,
  ) {
    super(message);
    this.name = 'StompFrameError';
  }
}
