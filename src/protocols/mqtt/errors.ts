/**
 * The one place MQTT turns a catalogue code (errors/catalogue.ts) into what goes on the wire.
 * Handlers and the connection report codes; they never pick a reason code themselves.
 *
 *   MQTT 5    the catalogue's reason code where the packet may carry it (MQTT 5.0 sections
 *             3.2.2.2, 3.4.2.1, 3.5.2.1, 3.9.3, 3.11.3, 3.14.2.1), else 0x80 Unspecified error
 *   MQTT 3.1.1  CONNACK: the catalogue's return code, else 3 (server unavailable); SUBACK:
 *             0x80; a refused PUBLISH: acknowledged and dropped when not authorised, else the
 *             connection is closed unacknowledged; anything that ends the connection: a close
 *
 * The codec's DecodeError keeps its own reason (decided on the wire, codec/decoder.ts); it
 * meets the catalogue here, in decodeErrorCode.
 */
import { ERRORS } from '../../errors/catalogue.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import type { DecodeError } from './codec/packets.js';

/** Packets that carry a reason code the broker chooses. */
export type ReasonPacket = 'CONNACK' | 'PUBACK' | 'PUBREC' | 'SUBACK' | 'UNSUBACK' | 'DISCONNECT';

/** Error reason codes (>= 0x80) each packet may carry when the server sends it. */
const ALLOWED: Record<ReasonPacket, ReadonlySet<number>> = {
  CONNACK: new Set([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]),
  PUBACK: new Set([0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  PUBREC: new Set([0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  SUBACK: new Set([0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  UNSUBACK: new Set([0x80, 0x83, 0x87, 0x8f, 0x91]),
  DISCONNECT: new Set([0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2]),
};

const UNSPECIFIED_ERROR = 0x80;
/** 3.1.1 CONNACK return code 3 "Server unavailable": what 3.1.1 has for every other refusal. */
const RC_SERVER_UNAVAILABLE = 3;

/** The MQTT 5 reason code for `code` in `packet`. */
export function v5Reason(code: ErrorCode, packet: ReasonPacket): number {
  const reason = ERRORS[code].mqtt5;
  return ALLOWED[packet].has(reason) ? reason : UNSPECIFIED_ERROR;
}

/** CONNACK refusing a CONNECT at protocol `level` (3 and 4 use the 3.1.1 return codes). */
export function connackCode(code: ErrorCode, level: number): number {
  if (level === 5) return v5Reason(code, 'CONNACK');
  return ERRORS[code].mqtt311 ?? RC_SERVER_UNAVAILABLE;
}

/** The SUBACK entry for a refused subscription [MQTT-3.9.3-1]. */
export function subackCode(code: ErrorCode, level: number): number {
  return level === 5 ? v5Reason(code, 'SUBACK') : 0x80;
}

/** The UNSUBACK entry for a refused unsubscription (3.1.1 UNSUBACK carries none: the encoder leaves it out). */
export function unsubackCode(code: ErrorCode): number {
  return v5Reason(code, 'UNSUBACK');
}

/**
 * A refused PUBLISH: the PUBACK / PUBREC reason code (v5, QoS 1 / 2), 'drop' (QoS 0: nothing
 * is answered), 'acknowledge' (3.1.1, not authorised: acknowledged as accepted and dropped, as
 * 3.1.1 allows) or 'close' (3.1.1, anything else: closed unacknowledged, so the client sends it
 * again later).
 */
export function publishRefusal(code: ErrorCode, level: number, qos: 0 | 1 | 2): number | 'drop' | 'acknowledge' | 'close' {
  if (qos === 0) return 'drop';
  if (level === 5) return v5Reason(code, qos === 1 ? 'PUBACK' : 'PUBREC');
  return code === 'SB_ERR_NOT_AUTHORIZED' ? 'acknowledge' : 'close';
}

/** The reason of the DISCONNECT that ends a connected session for `code`, or null: close without one (3.1.1). */
export function disconnectReason(code: ErrorCode, level: number): number | null {
  return level === 5 ? v5Reason(code, 'DISCONNECT') : null;
}

/** The catalogue code of a decoder verdict; `silent`: close without a DISCONNECT (the decoder's reason 0). */
export interface DecodeVerdict {
  code: ErrorCode;
  silent: boolean;
}

/**
 * Where the codec's DecodeError meets the connection. Its reason is the wire's (0x81 Malformed
 * Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version, 0x95 Packet Too Large, 0 =
 * close without a DISCONNECT, see codec/decoder.ts); the code chosen here maps back to that
 * same reason (errors.test.ts checks the round trip).
 */
export function decodeErrorCode(err: DecodeError): DecodeVerdict {
  switch (err.reason) {
    case 0x81:
      return { code: 'SB_ERR_MALFORMED', silent: false };
    case 0x84:
      return { code: 'SB_ERR_UNSUPPORTED_VERSION', silent: false };
    case 0x95:
      return { code: 'SB_ERR_TOO_LARGE', silent: false };
    case 0x82:
      return { code: 'SB_ERR_PROTOCOL', silent: false };
    case 0:
      return { code: 'SB_ERR_MALFORMED', silent: true };
    default: {
      // A reason the decoder may add later: the first code that says the same on the wire.
      const same = (Object.keys(ERRORS) as ErrorCode[]).find((c) => ERRORS[c].mqtt5 === err.reason);
      return { code: same ?? 'SB_ERR_PROTOCOL', silent: false };
    }
  }
}
