/**
 * The one place MQTT-SN turns a catalogue code (errors/catalogue.ts) into what goes on the wire.
 * MQTT-SN 1.2 has four return codes (5.3.10): 0x00 accepted, 0x01 rejected: congestion,
 * 0x02 rejected: invalid topic ID, 0x03 rejected: not supported. Handlers report catalogue codes;
 * they never pick a return code themselves.
 *
 *   congestion        the refusal may pass if the client tries later: quotas, the memory budget,
 *                     a busy or stopping broker, a store that could not commit
 *   invalid topic ID  the topic (name, filter, id) is not valid: REGACK, PUBACK and SUBACK only
 *   not supported     everything else: not authorised, a refused client id or login, an
 *                     unsupported QoS, retain or protocol id
 *
 * No return code says "not authorized": MQTT-SN clients see 0x03, the log says why.
 */
import type { ErrorCode } from '../../errors/catalogue.js';
import { ReturnCode } from './packets.js';

/** Messages that carry a ReturnCode the gateway chooses. */
export type ReturnCodeMessage = 'CONNACK' | 'REGACK' | 'PUBACK' | 'SUBACK' | 'WILLTOPICRESP' | 'WILLMSGRESP';

const CONGESTION: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'SB_ERR_QUOTA',
  'SB_ERR_SERVER_BUSY',
  'SB_ERR_SERVER_UNAVAILABLE',
  'SB_ERR_SHUTTING_DOWN',
  'SB_ERR_NOT_STORED',
  'SB_ERR_RECEIVE_MAXIMUM',
]);

const INVALID_TOPIC: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SB_ERR_TOPIC_NAME', 'SB_ERR_TOPIC_FILTER', 'SB_ERR_UNKNOWN_DESTINATION']);

/** Where 0x02 (invalid topic ID) may be answered. */
const TOPIC_MESSAGES: ReadonlySet<ReturnCodeMessage> = new Set<ReturnCodeMessage>(['REGACK', 'PUBACK', 'SUBACK']);

/** The ReturnCode refusing something for `code` in `message`. */
export function returnCode(code: ErrorCode, message: ReturnCodeMessage): ReturnCode {
  if (CONGESTION.has(code)) return ReturnCode.CONGESTION;
  if (INVALID_TOPIC.has(code) && TOPIC_MESSAGES.has(message)) return ReturnCode.INVALID_TOPIC_ID;
  return ReturnCode.NOT_SUPPORTED;
}
