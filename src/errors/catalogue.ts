/**
 * One catalogue of broker errors. Each code is stable (never reused) and maps once per
 * protocol: MQTT 5 reason code, MQTT 3.1.1 CONNACK return code (where it applies), STOMP
 * ERROR `message` text, HTTP status. docs/errors.md is generated from / checked against this.
 */

export interface ErrorSpec {
  /** MQTT 5 reason code (section 2.4). */
  mqtt5: number;
  /** MQTT 3.1.1 CONNACK return code, or null when 3.1.1 can only close the connection. */
  mqtt311: number | null;
  /** STOMP ERROR frame `message` header. */
  stomp: string;
  http: number;
  text: string;
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
  SB_ERR_TOPIC_ALIAS: { mqtt5: 0x94, mqtt311: null, stomp: 'protocol error', http: 400, text: 'topic alias invalid' },
  SB_ERR_TOO_LARGE: { mqtt5: 0x95, mqtt311: null, stomp: 'frame too large', http: 413, text: 'packet too large' },
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
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A typed broker error; protocols translate it once (mqtt/reason.ts, stomp/errors.ts). */
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
