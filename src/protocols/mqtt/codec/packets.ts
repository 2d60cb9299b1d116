/**
 * Typed MQTT control packets, shared by the decoder, the encoder and the handlers.
 * Protocol level: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.
 * Handlers never touch bytes: the decoder produces these, the encoder consumes them.
 */

export type ProtocolLevel = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

export const enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  PUBREC = 5,
  PUBREL = 6,
  PUBCOMP = 7,
  SUBSCRIBE = 8,
  SUBACK = 9,
  UNSUBSCRIBE = 10,
  UNSUBACK = 11,
  PINGREQ = 12,
  PINGRESP = 13,
  DISCONNECT = 14,
  AUTH = 15,
}

/** MQTT 5 properties (section 2.2.2.2). Absent = not present on the wire. */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01
  messageExpiryInterval?: number; // 0x02
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Buffer; // 0x09
  subscriptionIdentifiers?: number[]; // 0x0B (PUBLISH may carry several; SUBSCRIBE one)
  sessionExpiryInterval?: number; // 0x11
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13
  authenticationMethod?: string; // 0x15
  authenticationData?: Buffer; // 0x16
  requestProblemInformation?: number; // 0x17
  willDelayInterval?: number; // 0x18
  requestResponseInformation?: number; // 0x19
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21
  topicAliasMaximum?: number; // 0x22
  topicAlias?: number; // 0x23
  maximumQoS?: number; // 0x24
  retainAvailable?: number; // 0x25
  userProperties?: Array<[string, string]>; // 0x26, order preserved, repeats allowed
  maximumPacketSize?: number; // 0x27
  wildcardSubscriptionAvailable?: number; // 0x28
  subscriptionIdentifierAvailable?: number; // 0x29
  sharedSubscriptionAvailable?: number; // 0x2A
}

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties: Properties;
}

export interface ConnectPacket {
  type: PacketType.CONNECT;
  protocolName: string; // "MQTT" or "MQIsdp"
  protocolLevel: ProtocolLevel;
  cleanStart: boolean;
  keepAlive: number; // seconds
  clientId: string;
  will: Will | null;
  username: string | null;
  password: Buffer | null;
  properties: Properties;
}

export interface ConnackPacket {
  type: PacketType.CONNACK;
  sessionPresent: boolean;
  /** v5 reason code, or the 3.1.1 return code (0..5) when encoding for level 3/4. */
  reasonCode: number;
  properties: Properties;
}

export interface PublishPacket {
  type: PacketType.PUBLISH;
  dup: boolean;
  qos: QoS;
  retain: boolean;
  /** May be "" in v5 when a topic alias is used. */
  topic: string;
  /** Present iff qos > 0. */
  packetId: number;
  properties: Properties;
  /** A slice of the receive buffer: copy before keeping it past the current read. */
  payload: Buffer;
  /**
   * The whole packet as received (set by the decoder, zero copy). A QoS 0 3.1.1 PUBLISH, or a
   * v5 one without properties, is byte for byte what a subscriber at the same level receives,
   * so the broker can forward these bytes instead of encoding again.
   */
  raw?: Buffer;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP share one shape. */
export interface AckPacket {
  type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP;
  packetId: number;
  reasonCode: number; // 0 when absent
  properties: Properties;
}

export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties: Properties;
}

export interface SubackPacket {
  type: PacketType.SUBACK;
  packetId: number;
  reasonCodes: number[];
  properties: Properties;
}

export interface UnsubscribePacket {
  type: PacketType.UNSUBSCRIBE;
  packetId: number;
  filters: string[];
  properties: Properties;
}

export interface UnsubackPacket {
  type: PacketType.UNSUBACK;
  packetId: number;
  reasonCodes: number[]; // v5 only; ignored for 3.1.1
  properties: Properties;
}

export interface PingreqPacket {
  type: PacketType.PINGREQ;
}
export interface PingrespPacket {
  type: PacketType.PINGRESP;
}

export interface DisconnectPacket {
  type: PacketType.DISCONNECT;
  reasonCode: number; // 0 when absent
  properties: Properties;
}

export interface AuthPacket {
  type: PacketType.AUTH;
  reasonCode: number;
  properties: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** MQTT 5 reason codes used by the broker (section 2.4). */
export const enum Reason {
  Success = 0x00,
  GrantedQoS1 = 0x01,
  GrantedQoS2 = 0x02,
  DisconnectWithWill = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8a,
  ServerShuttingDown = 0x8b,
  BadAuthenticationMethod = 0x8c,
  KeepAliveTimeout = 0x8d,
  SessionTakenOver = 0x8e,
  TopicFilterInvalid = 0x8f,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9a,
  QoSNotSupported = 0x9b,
  UseAnotherServer = 0x9c,
  ServerMoved = 0x9d,
  SharedSubscriptionsNotSupported = 0x9e,
  ConnectionRateExceeded = 0x9f,
  MaximumConnectTime = 0xa0,
  SubscriptionIdentifiersNotSupported = 0xa1,
  WildcardSubscriptionsNotSupported = 0xa2,
}

/**
 * Thrown by the decoder. `reason` is the v5 reason code the broker must send in DISCONNECT
 * (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet Too Large, 0x84 for CONNACK on
 * an unsupported protocol level; 0 = close without a DISCONNECT). `rule` is the spec
 * statement id where one applies.
 */
export class DecodeError extends Error {
  constructor(
    readonly reason: number,
    message: string,
    readonly rule?: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}
