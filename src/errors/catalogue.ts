/**
 * One catalogue of broker errors. Every error a protocol reports, to a client or in its log,
 * carries one of these codes. A code is stable: never reused for another meaning, never
 * renamed, never removed (an obsolete one is kept with `reserved`). Each code maps once per
 * protocol, in one place:
 *
 *   MQTT   protocols/mqtt/errors.ts: the v5 reason code of CONNACK, PUBACK, PUBREC, SUBACK,
 *          UNSUBACK or DISCONNECT, and the 3.1.1 behaviour (CONNACK return code, SUBACK 0x80,
 *          or a close); the codec's DecodeError is turned into a code there too
 *   STOMP  protocols/stomp/errors.ts: the ERROR frame (`message` from here, the detail as body,
 *          receipt-id)
 *   HTTP   the status, for the HTTP API
 *
 * docs/errors.md is generated from this table (npm run docs, src/errors/write-docs.ts)
 * and src/errors/catalogue.test.ts fails when it is out of step, when a code is neither used
 * nor reserved, or when two codes could be mistaken for each other.
 */

export interface ErrorSpec {
  /** MQTT 5 reason code (section 2.4), 0x80 or above; sent where the packet may carry it, else 0x80. */
  mqtt5: number;
  /**
   * MQTT 3.1.1 CONNACK return code (1-5), or null when 3.1.1 has none for it: a CONNECT
   * refused for such a code gets 3 (server unavailable); anywhere else 3.1.1 closes the
   * connection (SUBACK answers 0x80).
   */
  mqtt311: number | null;
  /** STOMP ERROR frame `message` header. */
  stomp: string;
  /** HTTP status for the HTTP API. */
  http: number;
  /** What it means, in a few words (logs, docs). */
  text: string;
  /** Set when no part of the broker raises the code any more (or yet): why it is kept. */
  reserved?: string;
}

export const ERRORS = {
  SB_ERR_MALFORMED: { mqtt5: 0x81, mqtt311: null, stomp: 'malformed frame', http: 400, text: 'malformed packet' },
  SB_ERR_PROTOCOL: { mqtt5: 0x82, mqtt311: null, stomp: 'protocol error', http: 400, text: 'protocol error' },
  SB_ERR_UNSUPPORTED_VERSION: { mqtt5: 0x84, mqtt311: 1, stomp: 'unsupported protocol version', http: 400, text: 'unsupported protocol version' },
  SB_ERR_CLIENT_ID: { mqtt5: 0x85, mqtt311: 2, stomp: 'invalid client identifier', http: 400, text: 'client identifier not valid' },
  SB_ERR_BAD_CREDENTIALS: { mqtt5: 0x86, mqtt311: 4, stomp: 'bad login or passcode', http: 401, text: 'bad user name or password' },
  SB_ERR_NOT_AUTHORIZED: { mqtt5: 0x87, mqtt311: 5, stomp: 'not authorized', http: 403, text: 'not authorized' },
  SB_ERR_SERVER_UNAVAILABLE: { mqtt5: 0x88, mqtt311: 3, stomp: 'server unavailable', http: 503, text: 'server unavailable' },
  SB_ERR_SERVER_BUSY: { mqtt5: 0x89, mqtt311: 3, stomp: 'server busy', http: 503, text: 'server busy' },
  SB_ERR_SHUTTING_DOWN: { mqtt5: 0x8b, mqtt311: null, stomp: 'server shutting down', http: 503, text: 'server shutting down' },
  SB_ERR_BAD_AUTH_METHOD: { mqtt5: 0x8c, mqtt311: null, stomp: 'bad authentication method', http: 400, text: 'bad authentication method' },
  SB_ERR_KEEPALIVE: { mqtt5: 0x8d, mqtt311: null, stomp: 'heart-beat timeout', http: 408, text: 'keep alive timeout' },
  SB_ERR_TAKEN_OVER: { mqtt5: 0x8e, mqtt311: null, stomp: 'session taken over', http: 409, text: 'session taken over' },
  SB_ERR_TOPIC_FILTER: { mqtt5: 0x8f, mqtt311: null, stomp: 'invalid destination', http: 400, text: 'topic filter invalid' },
  SB_ERR_TOPIC_NAME: { mqtt5: 0x90, mqtt311: null, stomp: 'invalid destination', http: 400, text: 'topic name invalid' },
  SB_ERR_PACKET_ID_NOT_FOUND: { mqtt5: 0x92, mqtt311: null, stomp: 'unknown message id', http: 404, text: 'packet identifier not found' },
  SB_ERR_RECEIVE_MAXIMUM: { mqtt5: 0x93, mqtt311: null, stomp: 'too many unacknowledged frames', http: 429, text: 'receive maximum exceeded' },
  SB_ERR_TOPIC_ALIAS: { mqtt5: 0x94, mqtt311: null, stomp: 'invalid topic alias', http: 400, text: 'topic alias invalid' },
  SB_ERR_TOO_LARGE: { mqtt5: 0x95, mqtt311: null, stomp: 'frame too large', http: 413, text: 'packet too large' },
  SB_ERR_NOT_STORED: { mqtt5: 0x80, mqtt311: null, stomp: 'not stored', http: 503, text: 'not stored: send it again' },
  SB_ERR_QUOTA: { mqtt5: 0x97, mqtt311: null, stomp: 'quota exceeded', http: 429, text: 'quota exceeded' },
  SB_ERR_ADMIN_ACTION: { mqtt5: 0x98, mqtt311: null, stomp: 'disconnected by administrator', http: 200, text: 'administrative action' },
  SB_ERR_PAYLOAD_FORMAT: { mqtt5: 0x99, mqtt311: null, stomp: 'payload is not valid UTF-8', http: 400, text: 'payload format invalid' },
  SB_ERR_RETAIN_UNSUPPORTED: { mqtt5: 0x9a, mqtt311: null, stomp: 'retain not supported', http: 400, text: 'retain not supported' },
  SB_ERR_QOS_UNSUPPORTED: { mqtt5: 0x9b, mqtt311: null, stomp: 'qos not supported', http: 400, text: 'QoS not supported' },
  SB_ERR_SHARED_UNSUPPORTED: { mqtt5: 0x9e, mqtt311: null, stomp: 'shared subscriptions not supported', http: 400, text: 'shared subscriptions not supported' },
  SB_ERR_SUBID_UNSUPPORTED: { mqtt5: 0xa1, mqtt311: null, stomp: 'subscription identifiers not supported', http: 400, text: 'subscription identifiers not supported' },
  SB_ERR_WILDCARD_UNSUPPORTED: { mqtt5: 0xa2, mqtt311: null, stomp: 'wildcard subscriptions not supported', http: 400, text: 'wildcard subscriptions not supported' },
  SB_ERR_UNKNOWN_DESTINATION: { mqtt5: 0x90, mqtt311: null, stomp: 'unknown destination', http: 404, text: 'unknown destination prefix' },
  SB_ERR_CONNECT_TIMEOUT: { mqtt5: 0x8d, mqtt311: null, stomp: 'no CONNECT frame in time', http: 408, text: 'connect timeout' },
  SB_ERR_WRONG_PROFILE: { mqtt5: 0x85, mqtt311: 2, stomp: 'wrong profile registered', http: 409, text: 'client identifier held by another profile' },
  SB_ERR_DUPLICATE_LOGIN: { mqtt5: 0x87, mqtt311: 5, stomp: 'already connected', http: 409, text: 'client identifier already connected' },
  SB_ERR_TOKEN_EXPIRED: { mqtt5: 0xa0, mqtt311: null, stomp: 'token expired', http: 401, text: 'credentials expired' },
  // Added with the HTTP API (src/http/): what only a request to it can meet.
  SB_ERR_INVALID_REQUEST: { mqtt5: 0x83, mqtt311: null, stomp: 'invalid request', http: 400, text: 'request not valid' },
  SB_ERR_NOT_FOUND: { mqtt5: 0x83, mqtt311: null, stomp: 'not found', http: 404, text: 'no such item' },
  SB_ERR_UNKNOWN_CLIENT: { mqtt5: 0x83, mqtt311: null, stomp: 'unknown client', http: 404, text: 'no session has that client identifier' },
  SB_ERR_NOT_CONNECTED: { mqtt5: 0x83, mqtt311: null, stomp: 'client not connected', http: 409, text: 'the client has a session but no connection' },
  SB_ERR_UNSUPPORTED: { mqtt5: 0x83, mqtt311: null, stomp: 'not supported', http: 422, text: 'not possible for this client or configuration' },
  // Added with the protocols' move to coded errors (one catalogue for every protocol).
  SB_ERR_INTERNAL: { mqtt5: 0x83, mqtt311: null, stomp: 'internal error', http: 500, text: 'internal error' },
  SB_ERR_EXPECTED_CONNECT: { mqtt5: 0x82, mqtt311: null, stomp: 'expected CONNECT', http: 400, text: 'first packet or frame was not CONNECT' },
  SB_ERR_SECOND_CONNECT: { mqtt5: 0x82, mqtt311: null, stomp: 'second CONNECT', http: 400, text: 'CONNECT on a connection already connected' },
  SB_ERR_UNKNOWN_COMMAND: { mqtt5: 0x81, mqtt311: null, stomp: 'unknown command', http: 400, text: 'not a client command' },
  SB_ERR_MALFORMED_HEADER: { mqtt5: 0x81, mqtt311: null, stomp: 'malformed header', http: 400, text: 'header line not in name:value form' },
  SB_ERR_HEADER_ESCAPE: { mqtt5: 0x81, mqtt311: null, stomp: 'invalid header escape', http: 400, text: 'undefined escape sequence in a header' },
  SB_ERR_CONTENT_LENGTH: { mqtt5: 0x81, mqtt311: null, stomp: 'invalid content-length', http: 400, text: 'content-length is not a number' },
  SB_ERR_HEADER_TOO_LONG: { mqtt5: 0x95, mqtt311: null, stomp: 'header too long', http: 431, text: 'header line too long' },
  SB_ERR_TOO_MANY_HEADERS: { mqtt5: 0x95, mqtt311: null, stomp: 'too many headers', http: 431, text: 'too many headers in one frame' },
  SB_ERR_HEADER_NAME: { mqtt5: 0x81, mqtt311: null, stomp: 'invalid header name', http: 400, text: 'control character in a header name' },
  SB_ERR_HEADER_VALUE: { mqtt5: 0x81, mqtt311: null, stomp: 'invalid header value', http: 400, text: 'control character in a header value' },
  SB_ERR_MISSING_DESTINATION: { mqtt5: 0x82, mqtt311: null, stomp: 'missing destination', http: 400, text: 'destination header missing' },
  SB_ERR_MISSING_ID: { mqtt5: 0x82, mqtt311: null, stomp: 'missing id', http: 400, text: 'subscription id header missing' },
  SB_ERR_MISSING_TRANSACTION: { mqtt5: 0x82, mqtt311: null, stomp: 'missing transaction', http: 400, text: 'transaction header missing' },
  SB_ERR_ACK_MODE: { mqtt5: 0x82, mqtt311: null, stomp: 'invalid ack mode', http: 400, text: 'ack mode not valid' },
  SB_ERR_HEART_BEAT: { mqtt5: 0x82, mqtt311: null, stomp: 'invalid heart-beat header', http: 400, text: 'heart-beat header not valid' },
  SB_ERR_DUPLICATE_SUBSCRIPTION_ID: { mqtt5: 0x91, mqtt311: null, stomp: 'duplicate subscription id', http: 409, text: 'subscription id already in use' },
  SB_ERR_DUPLICATE_SUBSCRIPTION: { mqtt5: 0x82, mqtt311: null, stomp: 'duplicate subscription', http: 409, text: 'destination already subscribed on this connection' },
  SB_ERR_UNKNOWN_SUBSCRIPTION: { mqtt5: 0x82, mqtt311: null, stomp: 'unknown subscription', http: 404, text: 'subscription not found' },
  SB_ERR_UNKNOWN_TRANSACTION: { mqtt5: 0x82, mqtt311: null, stomp: 'unknown transaction', http: 404, text: 'transaction not found' },
  SB_ERR_DUPLICATE_TRANSACTION: { mqtt5: 0x82, mqtt311: null, stomp: 'duplicate transaction', http: 409, text: 'transaction already open' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A typed broker error; protocols translate its code once (protocols/mqtt/errors.ts, protocols/stomp/errors.ts). */
export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    detail?: string,
  ) {
    super(detail ?? ERRORS[code].text);
    this.name = 'BrokerError';
  }
  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}
