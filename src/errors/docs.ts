/**
 * docs/errors.md, rendered from the catalogue (catalogue.ts). write-docs.ts writes it
 * (`npm run docs`); catalogue.test.ts fails when the file differs from this rendering.
 */
import { ERRORS } from './catalogue.js';
import type { ErrorCode, ErrorSpec } from './catalogue.js';

export const ERRORS_DOCS_PATH = 'docs/errors.md';

/** MQTT 5.0 reason code names (section 2.4), for the codes the catalogue uses. */
export const MQTT5_REASON_NAMES: Readonly<Record<number, string>> = {
  0x80: 'Unspecified error',
  0x81: 'Malformed Packet',
  0x82: 'Protocol Error',
  0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version',
  0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password',
  0x87: 'Not authorized',
  0x88: 'Server unavailable',
  0x89: 'Server busy',
  0x8a: 'Banned',
  0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method',
  0x8d: 'Keep Alive timeout',
  0x8e: 'Session taken over',
  0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid',
  0x91: 'Packet Identifier in use',
  0x92: 'Packet Identifier not found',
  0x93: 'Receive Maximum exceeded',
  0x94: 'Topic Alias invalid',
  0x95: 'Packet too large',
  0x96: 'Message rate too high',
  0x97: 'Quota exceeded',
  0x98: 'Administrative action',
  0x99: 'Payload format invalid',
  0x9a: 'Retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'Use another server',
  0x9d: 'Server moved',
  0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded',
  0xa0: 'Maximum connect time',
  0xa1: 'Subscription Identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported',
};

/** MQTT 3.1.1 CONNACK return codes (section 3.2.2.3). */
export const MQTT311_RETURN_NAMES: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const hex = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
/** Markdown table cells: no pipes or line breaks from the data. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

function row(code: ErrorCode, spec: ErrorSpec): string {
  const v5 = `${hex(spec.mqtt5)} ${MQTT5_REASON_NAMES[spec.mqtt5] ?? '?'}`;
  const v311 = spec.mqtt311 === null ? '–' : `${spec.mqtt311} ${MQTT311_RETURN_NAMES[spec.mqtt311] ?? '?'}`;
  const meaning = spec.reserved === undefined ? spec.text : `${spec.text} (reserved: ${spec.reserved})`;
  return `| \`${code}\` | ${cell(v5)} | ${cell(v311)} | \`${cell(spec.stomp)}\` | ${spec.http} | ${cell(meaning)} |`;
}

export function renderErrorsMarkdown(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/catalogue.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every error Switchboard reports carries one of these codes: in its logs (`code`), and on the',
    'wire as each protocol can say it. A code is never reused for another meaning, renamed or',
    'removed; one no part of the broker raises is marked reserved.',
    '',
    '- **MQTT 5**: the reason code of the CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK or DISCONNECT',
    '  that answers it. A packet that may not carry that reason code gets 0x80 (Unspecified error).',
    '  Codes that end a connection are sent in a DISCONNECT once the client is connected; before its',
    '  CONNACK a connection is only closed. The reason is not sent as a Reason String.',
    '- **MQTT 3.1.1** (and 3.1): a refused CONNECT gets the CONNACK return code shown, or 3 (server',
    '  unavailable) where none is shown; a refused subscription gets SUBACK 0x80; a refused QoS 1/2',
    '  PUBLISH is acknowledged and dropped when not authorised, otherwise the connection is closed',
    '  unacknowledged (the client sends it again later); anything that ends a connection closes it.',
    '  A refused QoS 0 PUBLISH is dropped (and counted) in both versions.',
    '- **STOMP**: an ERROR frame with the `message` shown, a body that explains this occurrence, and',
    '  `receipt-id` when the frame asked for a receipt; then the connection is closed.',
    '- **HTTP**: the status of the HTTP API.',
    '',
    'Malformed MQTT packets are classified by the decoder on the wire (0x81, 0x82, 0x84, 0x95, or',
    'a close without a DISCONNECT) and reported as `SB_ERR_MALFORMED`, `SB_ERR_PROTOCOL`,',
    '`SB_ERR_UNSUPPORTED_VERSION` and `SB_ERR_TOO_LARGE`.',
    '',
    `${codes.length} codes:`,
    '',
    '| code | MQTT 5 | MQTT 3.1.1 CONNACK | STOMP `message` | HTTP | meaning |',
    '|---|---|---|---|---:|---|',
    ...codes.map((c) => row(c, ERRORS[c])),
    '',
  ];
  return lines.join('\n');
}
