/**
 * The one place STOMP turns a catalogue code (errors/catalogue.ts) into what goes on the wire:
 * an ERROR frame (STOMP 1.2 "ERROR") whose `message` header is the catalogue's STOMP text, whose
 * body explains this occurrence (the detail, else the catalogue's text) and which carries the
 * `receipt-id` when the offending frame asked for a receipt. The connection sends it and closes.
 */
import { ERRORS } from '../../errors/catalogue.js';
import type { ErrorCode } from '../../errors/catalogue.js';

export interface StompErrorFrame {
  headers: Array<[string, string]>;
  body: Buffer;
}

/**
 * The ERROR frame for `code`. `extra` headers go first (the `version` list of a failed
 * negotiation, STOMP 1.2 "Protocol Negotiation"), then `message`, `content-type`, `receipt-id`.
 */
export function errorFrame(code: ErrorCode, detail?: string, receipt?: string, extra: ReadonlyArray<[string, string]> = []): StompErrorFrame {
  const headers: Array<[string, string]> = [...extra, ['message', ERRORS[code].stomp], ['content-type', 'text/plain']];
  if (receipt !== undefined) headers.push(['receipt-id', receipt]);
  return { headers, body: Buffer.from((detail ?? ERRORS[code].text) + '\n') };
}
