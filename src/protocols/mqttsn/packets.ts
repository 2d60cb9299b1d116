/**
 * MQTT-SN 1.2 messages as typed values (MQTT-SN Protocol Specification Version 1.2,
 * Stanford-Clark & Truong, IBM, 2013; section numbers below refer to it).
 * The codec (codec.ts) produces and consumes these; nothing here touches bytes.
 * Binary fields are Buffers sliced from the datagram (no copy); strings are UTF-8.
 */

/** MsgType values (5.2.2, table 3). 0x03, 0x11, 0x19 and 0x1E..0xFD are reserved. */
export const MsgType = {
  ADVERTISE: 0x00,
  SEARCHGW: 0x01,
  GWINFO: 0x02,
  CONNECT: 0x04,
  CONNACK: 0x05,
  WILLTOPICREQ: 0x06,
  WILLTOPIC: 0x07,
  WILLMSGREQ: 0x08,
  WILLMSG: 0x09,
  REGISTER: 0x0a,
  REGACK: 0x0b,
  PUBLISH: 0x0c,
  PUBACK: 0x0d,
  PUBCOMP: 0x0e,
  PUBREC: 0x0f,
  PUBREL: 0x10,
  SUBSCRIBE: 0x12,
  SUBACK: 0x13,
  UNSUBSCRIBE: 0x14,
  UNSUBACK: 0x15,
  PINGREQ: 0x16,
  PINGRESP: 0x17,
  DISCONNECT: 0x18,
  WILLTOPICUPD: 0x1a,
  WILLTOPICRESP: 0x1b,
  WILLMSGUPD: 0x1c,
  WILLMSGRESP: 0x1d,
  ENCAPSULATED: 0xfe,
} as const;
export type PacketType = keyof typeof MsgType;

/** QoS (5.3.4, bits 6-5): 0b11 is QoS -1, publishing without a connection (6.8). */
export type QoS = -1 | 0 | 1 | 2;

/** ReturnCode (5.3.10). 0x04..0xFF are reserved: the decoder refuses them. */
export const ReturnCode = { ACCEPTED: 0, CONGESTION: 1, INVALID_TOPIC_ID: 2, NOT_SUPPORTED: 3 } as const;
export type ReturnCode = (typeof ReturnCode)[keyof typeof ReturnCode];

/** The topic of a PUBLISH (5.3.11, TopicIdType 0b00 / 0b01 / 0b10). */
export type PublishTopic =
  | { kind: 'normal'; id: number } // registered with REGISTER/REGACK (6.5)
  | { kind: 'predefined'; id: number } // known to both sides beforehand (6.7)
  | { kind: 'short'; name: string }; // two octets, carried in the TopicId field (6.7)

/** The topic of a SUBSCRIBE / UNSUBSCRIBE (5.4.15, 5.4.17): for them TopicIdType 0b00 means a topic name. */
export type FilterTopic =
  | { kind: 'name'; name: string } // a topic name or filter, wildcards allowed
  | { kind: 'predefined'; id: number }
  | { kind: 'short'; name: string };

/** Will topic and its flags (WILLTOPIC 5.4.7, WILLTOPICUPD 5.4.22). */
export interface WillTopic {
  qos: QoS;
  retain: boolean;
  topic: string;
}

export interface Advertise { type: 'ADVERTISE'; gwId: number; duration: number } // 5.4.1
export interface SearchGw { type: 'SEARCHGW'; radius: number } // 5.4.2
/** 5.4.3: gwAdd is present only when a client answers for a gateway; empty when a gateway sends it. */
export interface GwInfo { type: 'GWINFO'; gwId: number; gwAdd: Buffer }
/** 5.4.4: flags Will and CleanSession; protocolId is 0x01 for 1.2 (left to the gateway to check). */
export interface Connect { type: 'CONNECT'; will: boolean; cleanSession: boolean; protocolId: number; duration: number; clientId: string }
export interface Connack { type: 'CONNACK'; returnCode: ReturnCode } // 5.4.5
export interface WillTopicReq { type: 'WILLTOPICREQ' } // 5.4.6
/** 5.4.7: will null = the empty 2-octet WILLTOPIC, which deletes the will. */
export interface WillTopicMsg { type: 'WILLTOPIC'; will: WillTopic | null }
export interface WillMsgReq { type: 'WILLMSGREQ' } // 5.4.8
export interface WillMsg { type: 'WILLMSG'; willMsg: Buffer } // 5.4.9
/** 5.4.10: topicId 0x0000 when a client sends it; the assigned id when the gateway does. */
export interface Register { type: 'REGISTER'; topicId: number; msgId: number; topicName: string }
export interface Regack { type: 'REGACK'; topicId: number; msgId: number; returnCode: ReturnCode } // 5.4.11
/** 5.4.12: msgId is 0x0000 for QoS 0 and -1 (not enforced here). */
export interface Publish { type: 'PUBLISH'; dup: boolean; qos: QoS; retain: boolean; topic: PublishTopic; msgId: number; data: Buffer }
export interface Puback { type: 'PUBACK'; topicId: number; msgId: number; returnCode: ReturnCode } // 5.4.13
export interface Pubrec { type: 'PUBREC'; msgId: number } // 5.4.14
export interface Pubrel { type: 'PUBREL'; msgId: number } // 5.4.14
export interface Pubcomp { type: 'PUBCOMP'; msgId: number } // 5.4.14
export interface Subscribe { type: 'SUBSCRIBE'; dup: boolean; qos: QoS; msgId: number; topic: FilterTopic } // 5.4.15
/** 5.4.16: qos is the granted QoS. */
export interface Suback { type: 'SUBACK'; qos: QoS; topicId: number; msgId: number; returnCode: ReturnCode }
export interface Unsubscribe { type: 'UNSUBSCRIBE'; msgId: number; topic: FilterTopic } // 5.4.17
export interface Unsuback { type: 'UNSUBACK'; msgId: number } // 5.4.18
/** 5.4.19: clientId is set by a sleeping client waking up (6.14); null = absent (never ''). */
export interface Pingreq { type: 'PINGREQ'; clientId: string | null }
export interface Pingresp { type: 'PINGRESP' } // 5.4.20
/** 5.4.21: duration (seconds) is set by a client going to sleep (6.14); null = absent. */
export interface Disconnect { type: 'DISCONNECT'; duration: number | null }
/** 5.4.22: will null = the empty 2-octet WILLTOPICUPD, which deletes the will. */
export interface WillTopicUpd { type: 'WILLTOPICUPD'; will: WillTopic | null }
export interface WillTopicResp { type: 'WILLTOPICRESP'; returnCode: ReturnCode } // 5.4.24
export interface WillMsgUpd { type: 'WILLMSGUPD'; willMsg: Buffer } // 5.4.23
export interface WillMsgResp { type: 'WILLMSGRESP'; returnCode: ReturnCode } // 5.4.25

/** Every MQTT-SN message except the forwarder encapsulation. */
export type Message =
  | Advertise | SearchGw | GwInfo | Connect | Connack | WillTopicReq | WillTopicMsg | WillMsgReq | WillMsg
  | Register | Regack | Publish | Puback | Pubrec | Pubrel | Pubcomp | Subscribe | Suback | Unsubscribe | Unsuback
  | Pingreq | Pingresp | Disconnect | WillTopicUpd | WillTopicResp | WillMsgUpd | WillMsgResp;

/**
 * 5.5: a message relayed by a forwarder. radius is Ctrl bits 1-0 (broadcast radius, meaningful
 * from gateway to forwarder); wirelessNodeId identifies the client behind the forwarder.
 */
export interface Encapsulated { type: 'ENCAPSULATED'; radius: number; wirelessNodeId: Buffer; message: Message }

export type Packet = Message | Encapsulated;

/** Why a datagram is not a valid MQTT-SN 1.2 message. msgType: the MsgType octet, when it was read. */
export class DecodeError {
  constructor(
    readonly reason: string,
    readonly msgType: number | null = null,
  ) {}
}
