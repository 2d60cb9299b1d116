/**
 * Every decoding rule, with the reason the broker must send: 0x81 Malformed Packet, 0x82 Protocol
 * Error, 0x84 Unsupported Protocol Version, 0 (close without DISCONNECT). Packet-size (0x95) and
 * stream-level rules are in streaming.test.ts.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { UnsupportedProtocolError, decodePacket } from './decoder.js';
import type { Role } from './decoder.js';
import { DecodeError } from './packets.js';
import type { ProtocolLevel } from './packets.js';
import { TOPIC_ASCII, TOPIC_BAD_UTF8, TOPIC_UTF8, TOPIC_WILDCARD, isValidMqttString, scanTopicName } from './utf8.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const lenHex = (n: number): string => {
  let out = '';
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out += b.toString(16).padStart(2, '0');
  } while (n > 0);
  return out;
};
/** A packet from its first byte and body (hex): the remaining length is computed. */
const pkt = (first: string, body: string): string => {
  const b = body.replace(/\s+/g, '');
  return first + lenHex(b.length / 2) + b;
};
const withLen = (body: string): string => {
  const b = body.replace(/\s+/g, '');
  return lenHex(b.length / 2) + b;
};
/** A v5 CONNECT (client id "p") with the given property block content. */
const connect5 = (props: string, flags = '02', tail = '0001 70'): string => pkt('10', `0004 4D515454 05 ${flags} 000A ${withLen(props)} ${tail}`);
/** A v5 PUBLISH to topic "t" with the given property block content. */
const publish5 = (props: string, first = '30', pid = ''): string => pkt(first, `0001 74 ${pid} ${withLen(props)} 78`);

interface Case {
  name: string;
  level: ProtocolLevel;
  hex: string;
  reason: number;
  rule?: string;
  role?: Role;
}

const CASES: Case[] = [
  // ---- fixed header and packet types [MQTT-2.2.2-1, MQTT-2.2.2-2]
  { name: 'reserved type 0 to a server', level: 5, hex: '00 00', reason: 0x82 },
  { name: 'reserved type 0 to a client', level: 5, hex: '00 00', reason: 0x81, role: 'client' },
  { name: 'AUTH in 3.1.1', level: 4, hex: 'F0 00', reason: 0x81 },
  { name: 'AUTH with flags', level: 5, hex: 'F1 00', reason: 0x82, rule: 'MQTT-2.2.2-2' },
  { name: 'PUBACK with flags', level: 4, hex: '42 02 0001', reason: 0x81, rule: 'MQTT-2.2.2-2' },
  { name: 'PUBREL without its 0010 flags', level: 5, hex: '60 02 0001', reason: 0x81, rule: 'MQTT-2.2.2-2' },
  { name: 'SUBSCRIBE without its 0010 flags', level: 4, hex: '80 06 0001 0001 70 00', reason: 0x81 },
  { name: 'UNSUBSCRIBE flags 0011', level: 5, hex: 'A3 06 1234 00 0001 70', reason: 0x81 },
  { name: 'PINGREQ with flags', level: 5, hex: 'C1 00', reason: 0x81 },
  { name: 'DISCONNECT with flags', level: 5, hex: 'E2 00', reason: 0x81 },
  { name: 'CONNACK sent to a server', level: 5, hex: '20 03 00 00 00', reason: 0x82 },
  { name: 'CONNACK with flags sent to a server', level: 5, hex: '21 03 00 00 00', reason: 0x82 },
  { name: 'SUBACK sent to a server', level: 5, hex: '90 04 0001 00 00', reason: 0x82 },
  { name: 'UNSUBACK sent to a server', level: 5, hex: 'B0 04 0001 00 00', reason: 0x82 },
  { name: 'PINGRESP sent to a server', level: 5, hex: 'D0 00', reason: 0x82 },
  { name: 'PINGRESP with a body sent to a server: close', level: 5, hex: 'D0 01 00', reason: 0 },
  { name: 'PINGREQ with a body: close', level: 5, hex: 'C0 01 00', reason: 0 },
  { name: 'CONNECT sent to a client', level: 4, hex: '10 0D 0004 4D515454 04 02 000A 0001 70', reason: 0x82, role: 'client' },
  { name: 'SUBSCRIBE sent to a client', level: 4, hex: '82 06 0001 0001 70 00', reason: 0x82, role: 'client' },
  { name: 'remaining length of 5 bytes', level: 4, hex: '30 FF FF FF FF 7F', reason: 0x81, rule: 'MQTT-1.5.5-1' },
  { name: 'remaining length not minimal', level: 4, hex: 'C0 80 00', reason: 0x81, rule: 'MQTT-1.5.5-1' },
  { name: 'truncated packet', level: 4, hex: '30 05 0001 74', reason: 0x81 },
  { name: 'bytes after the packet', level: 4, hex: 'C0 00 00', reason: 0x81 },

  // ---- CONNECT
  { name: 'CONNECT protocol name MQTU', level: 4, hex: '10 0D 0004 4D515455 04 02 000A 0001 70', reason: 0x82, rule: 'MQTT-3.1.2-1' },
  { name: 'CONNECT protocol name not UTF-8', level: 4, hex: '10 0D 0004 4D51C054 04 02 000A 0001 70', reason: 0x81 },
  { name: 'CONNECT truncated protocol name', level: 4, hex: '10 05 0004 4D5154', reason: 0x81 },
  { name: 'CONNECT fixed-header flags', level: 4, hex: '11 0D 0004 4D515454 04 02 000A 0001 70', reason: 0x81, rule: 'MQTT-2.2.2-2' },
  { name: 'CONNECT reserved connect flag', level: 4, hex: '10 0D 0004 4D515454 04 03 000A 0001 70', reason: 0x81, rule: 'MQTT-3.1.2-3' },
  { name: 'CONNECT will QoS without will flag', level: 4, hex: '10 0D 0004 4D515454 04 0A 000A 0001 70', reason: 0x81, rule: 'MQTT-3.1.2-13' },
  { name: 'CONNECT will retain without will flag', level: 4, hex: '10 0D 0004 4D515454 04 22 000A 0001 70', reason: 0x81, rule: 'MQTT-3.1.2-15' },
  { name: 'CONNECT will QoS 3', level: 4, hex: '10 13 0004 4D515454 04 1E 000A 0001 70 0001 70 0001 70', reason: 0x81, rule: 'MQTT-3.1.2-14' },
  { name: 'CONNECT will flag without will topic', level: 4, hex: '10 0D 0004 4D515454 04 06 000A 0001 70', reason: 0x81 },
  { name: 'CONNECT will topic with a wildcard', level: 4, hex: '10 13 0004 4D515454 04 06 000A 0001 70 0001 23 0001 70', reason: 0x81 },
  { name: 'CONNECT password without user name (3.1.1)', level: 4, hex: '10 10 0004 4D515454 04 42 000A 0001 70 0001 70', reason: 0x81, rule: 'MQTT-3.1.2-22' },
  { name: 'CONNECT user name flag without user name', level: 4, hex: '10 0D 0004 4D515454 04 82 000A 0001 70', reason: 0x81 },
  { name: 'CONNECT user name not given but present', level: 4, hex: '10 10 0004 4D515454 04 02 000A 0001 70 0001 70', reason: 0x81 },
  { name: 'CONNECT without client identifier', level: 4, hex: '10 0A 0004 4D515454 04 02 000A', reason: 0x81 },
  { name: 'CONNECT client id with U+0000', level: 4, hex: '10 11 0004 4D515454 04 02 000A 0005 746F700000', reason: 0x81, rule: 'MQTT-1.5.4-1' },
  { name: 'CONNECT client id with a surrogate (U+D800)', level: 4, hex: '10 11 0004 4D515454 04 02 000A 0005 746FEDA080', reason: 0x81 },
  { name: 'CONNECT client id with an overlong encoding', level: 4, hex: '10 10 0004 4D515454 04 02 000A 0004 746FC080', reason: 0x81 },
  { name: 'CONNECT client id with a truncated sequence', level: 4, hex: '10 0F 0004 4D515454 04 02 000A 0003 746FE2', reason: 0x81 },
  { name: 'CONNECT client id with U+0001', level: 4, hex: '10 11 0004 4D515454 04 02 000A 0005 746F700170', reason: 0x81 },
  { name: 'CONNECT client id with U+009F', level: 4, hex: '10 11 0004 4D515454 04 02 000A 0005 746FC29F70', reason: 0x81 },
  { name: 'CONNECT user name not UTF-8', level: 4, hex: '10 11 0004 4D515454 04 82 000A 0001 70 0002 FF70', reason: 0x81 },
  { name: 'CONNECT trailing bytes', level: 4, hex: '10 0E 0004 4D515454 04 02 000A 0001 70 00', reason: 0x81 },
  { name: 'CONNECT 5.0 receive maximum 0', level: 5, hex: connect5('21 0000'), reason: 0x82 },
  { name: 'CONNECT 5.0 maximum packet size 0', level: 5, hex: connect5('27 00000000'), reason: 0x82 },
  { name: 'CONNECT 5.0 request problem information 2', level: 5, hex: connect5('17 02'), reason: 0x82 },
  { name: 'CONNECT 5.0 request response information 2', level: 5, hex: connect5('19 02'), reason: 0x82 },
  { name: 'CONNECT 5.0 session expiry twice', level: 5, hex: connect5('11 00000001 11 00000001'), reason: 0x82, rule: 'MQTT-2.2.2-2' },
  { name: 'CONNECT 5.0 topic alias (not a CONNECT property)', level: 5, hex: connect5('23 0001'), reason: 0x82 },
  { name: 'CONNECT 5.0 authentication data without method', level: 5, hex: connect5('16 0001 61'), reason: 0x82 },
  { name: 'CONNECT 5.0 unknown property 0x04', level: 5, hex: connect5('04 01'), reason: 0x81 },
  { name: 'CONNECT 5.0 property value truncated', level: 5, hex: connect5('11 0000'), reason: 0x81 },
  { name: 'CONNECT 5.0 property length past the packet', level: 5, hex: pkt('10', '0004 4D515454 05 02 000A 09 11 00000001'), reason: 0x81 },
  { name: 'CONNECT 5.0 will payload format 2', level: 5, hex: connect5('', '06', `0001 70 ${withLen('01 02')} 0001 74 0000`), reason: 0x82 },
  { name: 'CONNECT 5.0 session expiry in will properties', level: 5, hex: connect5('', '06', `0001 70 ${withLen('11 00000001')} 0001 74 0000`), reason: 0x82 },
  { name: 'CONNECT 5.0 a 0x81 anywhere outranks a 0x82', level: 5, hex: connect5('23 0001 04 01'), reason: 0x81 },
  { name: 'CONNECT 5.0 repeated property, then a bad client id: 0x81 first', level: 5, hex: connect5('11 00000001 11 00000001', '02', '0001 00'), reason: 0x81 },
  { name: 'CONNECT 5.0 receive maximum 0, then trailing bytes: 0x81 first', level: 5, hex: connect5('21 0000', '02', '0001 70 00'), reason: 0x81 },
  { name: 'SUBSCRIBE 5.0 subscription identifier twice, then QoS 3: 0x81 first', level: 5, hex: '82 0C 0001 04 0B01 0B01 0001 70 03', reason: 0x81 },

  // ---- PUBLISH
  { name: 'PUBLISH QoS 3', level: 4, hex: '36 10 0005 746F706963 1234 7061796C6F6164', reason: 0x81, rule: 'MQTT-3.3.1-4' },
  { name: 'PUBLISH DUP on QoS 0', level: 5, hex: '38 0F 0005 746F706963 00 7061796C6F6164', reason: 0x81, rule: 'MQTT-3.3.1-2' },
  { name: 'PUBLISH QoS 1 packet id 0', level: 4, hex: '32 10 0005 746F706963 0000 7061796C6F6164', reason: 0x82, rule: 'MQTT-2.2.1-3' },
  { name: 'PUBLISH QoS 2 packet id 0', level: 5, hex: '34 11 0005 746F706963 0000 00 7061796C6F6164', reason: 0x82, rule: 'MQTT-2.2.1-3' },
  { name: 'PUBLISH topic with +', level: 4, hex: '30 0E 0005 2B6F706963 7061796C6F6164', reason: 0x81, rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic with #', level: 5, hex: '30 0F 0005 746F706923 00 7061796C6F6164', reason: 0x81, rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH UTF-8 topic with #', level: 5, hex: '30 09 0004 C3A92F23 00 7061', reason: 0x81, rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic with U+0000', level: 4, hex: '30 0E 0005 746F700000 7061796C6F6164', reason: 0x81, rule: 'MQTT-1.5.4-1' },
  { name: 'PUBLISH topic with a surrogate', level: 5, hex: '30 0F 0005 746FEDBFBF 00 7061796C6F6164', reason: 0x81 },
  { name: 'PUBLISH topic with U+007F', level: 4, hex: '30 0E 0005 746F707F70 7061796C6F6164', reason: 0x81 },
  { name: 'PUBLISH empty topic (3.1.1)', level: 4, hex: '30 09 0000 7061796C6F6164', reason: 0x81, rule: 'MQTT-4.7.3-1' },
  { name: 'PUBLISH empty topic without alias (5.0)', level: 5, hex: '30 0A 0000 00 7061796C6F6164', reason: 0x81, rule: 'MQTT-4.7.3-1' },
  { name: 'PUBLISH truncated topic', level: 4, hex: '30 04 0005 7465', reason: 0x81 },
  { name: 'PUBLISH QoS 1 without packet id', level: 4, hex: '32 03 0001 74', reason: 0x81 },
  { name: 'PUBLISH 5.0 without property length', level: 5, hex: '30 03 0001 74', reason: 0x81 },
  { name: 'PUBLISH 5.0 payload format indicator 2', level: 5, hex: publish5('01 02'), reason: 0x82 },
  { name: 'PUBLISH 5.0 message expiry twice', level: 5, hex: publish5('02 00000001 02 00000001'), reason: 0x82 },
  { name: 'PUBLISH 5.0 session expiry (not a PUBLISH property)', level: 5, hex: publish5('11 00000001'), reason: 0x82 },
  { name: 'PUBLISH 5.0 reason string (not a PUBLISH property)', level: 5, hex: publish5('1F 0001 70'), reason: 0x82 },
  { name: 'PUBLISH 5.0 two subscription identifiers from a client', level: 5, hex: publish5('0B 01 0B 02'), reason: 0x82 },
  { name: 'PUBLISH 5.0 subscription identifier 0', level: 5, hex: publish5('0B 00'), reason: 0x82 },
  { name: 'PUBLISH 5.0 subscription identifier not minimal', level: 5, hex: publish5('0B 8000'), reason: 0x81, rule: 'MQTT-1.5.5-1' },
  { name: 'PUBLISH 5.0 subscription identifier of 5 bytes', level: 5, hex: publish5('0B 8080808001'), reason: 0x81 },
  { name: 'PUBLISH 5.0 response topic with a wildcard', level: 5, hex: publish5('08 0001 23'), reason: 0x82, rule: 'MQTT-3.3.2-14' },
  { name: 'PUBLISH 5.0 user property without value', level: 5, hex: publish5('26 0001 70'), reason: 0x81 },
  { name: 'PUBLISH 5.0 unknown property 0x7F', level: 5, hex: publish5('7F 01'), reason: 0x81 },
  { name: 'PUBLISH 5.0 property id 0x8000 (non-minimal)', level: 5, hex: publish5('8000 01'), reason: 0x81 },
  { name: 'PUBLISH 5.0 packet id 0 and an unknown property: 0x81 first', level: 5, hex: publish5('04 01', '32', '0000'), reason: 0x81 },
  { name: 'PUBLISH 5.0 duplicate then truncated property: 0x81 first', level: 5, hex: publish5('01 00 01 00 02 00'), reason: 0x81 },

  // ---- PUBACK, PUBREC, PUBREL, PUBCOMP
  { name: 'PUBACK truncated', level: 4, hex: '40 01 12', reason: 0x81 },
  { name: 'PUBACK empty', level: 5, hex: '40 00', reason: 0x81 },
  { name: 'PUBACK packet id 0', level: 5, hex: '40 03 0000 00', reason: 0x82, rule: 'MQTT-2.2.1-3' },
  { name: 'PUBACK 3.1.1 with a reason code', level: 4, hex: '40 03 0001 00', reason: 0x81 },
  { name: 'PUBACK 5.0 trailing bytes', level: 5, hex: '40 05 0001 00 00 00', reason: 0x81 },
  { name: 'PUBACK 5.0 reason 0xFF', level: 5, hex: '40 04 0001 FF 00', reason: 0x82 },
  { name: 'PUBACK 5.0 reason string twice', level: 5, hex: '40 0C 0001 00 08 1F000170 1F000171', reason: 0x82 },
  { name: 'PUBACK 5.0 property truncated', level: 5, hex: '40 05 0001 00 01 1F', reason: 0x81 },
  { name: 'PUBREC 5.0 reason 0x92', level: 5, hex: '50 03 0001 92', reason: 0x82 },
  { name: 'PUBREL 5.0 reason 0x10', level: 5, hex: '62 03 0001 10', reason: 0x82 },
  { name: 'PUBCOMP 5.0 topic alias property', level: 5, hex: '70 07 0001 00 03 230001', reason: 0x82 },

  // ---- SUBSCRIBE
  { name: 'SUBSCRIBE 3.1.1 without filters', level: 4, hex: '82 02 1234', reason: 0x81, rule: 'MQTT-3.8.3-3' },
  { name: 'SUBSCRIBE 5.0 without filters', level: 5, hex: '82 03 1234 00', reason: 0x81, rule: 'MQTT-3.8.3-3' },
  { name: 'SUBSCRIBE QoS 3', level: 4, hex: '82 06 1234 0001 70 03', reason: 0x81 },
  { name: 'SUBSCRIBE 3.1.1 reserved option bits', level: 4, hex: '82 06 1234 0001 70 04', reason: 0x81 },
  { name: 'SUBSCRIBE 5.0 reserved option bits', level: 5, hex: '82 07 1234 00 0001 70 40', reason: 0x81, rule: 'MQTT-3.8.3-5' },
  { name: 'SUBSCRIBE 5.0 retain handling 3', level: 5, hex: '82 07 1234 00 0001 70 30', reason: 0x81 },
  { name: 'SUBSCRIBE empty filter', level: 4, hex: '82 05 1234 0000 00', reason: 0x81, rule: 'MQTT-4.7.3-1' },
  { name: 'SUBSCRIBE filter without options', level: 5, hex: '82 06 1234 00 0001 70', reason: 0x81 },
  { name: 'SUBSCRIBE filter not UTF-8', level: 4, hex: '82 06 1234 0001 FF 00', reason: 0x81 },
  { name: 'SUBSCRIBE packet id 0', level: 4, hex: '82 06 0000 0001 70 00', reason: 0x82, rule: 'MQTT-2.2.1-3' },
  { name: 'SUBSCRIBE 5.0 payload format property', level: 5, hex: '82 09 0001 02 0100 0001 70 00', reason: 0x81 },
  { name: 'SUBSCRIBE 5.0 subscription identifier 0', level: 5, hex: '82 09 0001 02 0B00 0001 70 00', reason: 0x81 },
  { name: 'SUBSCRIBE 5.0 subscription identifier twice', level: 5, hex: '82 0B 0001 04 0B01 0B01 0001 70 00', reason: 0x82 },

  // ---- UNSUBSCRIBE
  { name: 'UNSUBSCRIBE 3.1.1 without filters', level: 4, hex: 'A2 02 1234', reason: 0x81, rule: 'MQTT-3.10.3-2' },
  { name: 'UNSUBSCRIBE 5.0 without filters', level: 5, hex: 'A2 03 1234 00', reason: 0x81, rule: 'MQTT-3.10.3-2' },
  { name: 'UNSUBSCRIBE empty filter', level: 5, hex: 'A2 08 1234 00 0000 0001 71', reason: 0x81 },
  { name: 'UNSUBSCRIBE truncated filter', level: 4, hex: 'A2 04 1234 0001', reason: 0x81 },
  { name: 'UNSUBSCRIBE packet id 0', level: 4, hex: 'A2 05 0000 0001 70', reason: 0x82 },
  { name: 'UNSUBSCRIBE 5.0 reason string property', level: 5, hex: 'A2 0A 0001 04 1F000170 0001 70', reason: 0x81 },

  // ---- DISCONNECT
  { name: 'DISCONNECT 3.1.1 with a body', level: 4, hex: 'E0 01 00', reason: 0x81 },
  { name: 'DISCONNECT 5.0 truncated session expiry', level: 5, hex: 'E0 03 00 01 11', reason: 0x81 },
  { name: 'DISCONNECT 5.0 reason string twice', level: 5, hex: 'E0 0A 00 08 1F000170 1F000171', reason: 0x82 },
  { name: 'DISCONNECT 5.0 payload format property', level: 5, hex: 'E0 04 00 02 0100', reason: 0x82 },
  { name: 'DISCONNECT 5.0 trailing bytes', level: 5, hex: 'E0 03 00 00 00', reason: 0x81 },

  // ---- AUTH
  { name: 'AUTH reason 0x05', level: 5, hex: 'F0 02 05 00', reason: 0x82 },
  { name: 'AUTH method twice', level: 5, hex: 'F0 0D 18 0B 15 0001 6D 15 0001 6D 1F 0000', reason: 0x82 },
  { name: 'AUTH data without method', level: 5, hex: 'F0 07 18 05 16 0002 6162', reason: 0x82 },
  { name: 'AUTH trailing bytes', level: 5, hex: 'F0 03 18 00 00', reason: 0x81 },

  // ---- packets a client receives
  { name: 'CONNACK reserved acknowledge flags', level: 4, hex: '20 02 02 00', reason: 0x81, rule: 'MQTT-3.2.2-1', role: 'client' },
  { name: 'CONNACK session present with a refusal', level: 4, hex: '20 02 01 05', reason: 0x82, rule: 'MQTT-3.2.2-6', role: 'client' },
  { name: 'CONNACK 3.1.1 return code 6', level: 4, hex: '20 02 00 06', reason: 0x82, role: 'client' },
  { name: 'CONNACK 5.0 without property length', level: 5, hex: '20 02 00 00', reason: 0x81, role: 'client' },
  { name: 'CONNACK 5.0 maximum QoS 2', level: 5, hex: '20 05 00 00 02 2402', reason: 0x82, role: 'client' },
  { name: 'CONNACK 5.0 reason 0x01', level: 5, hex: '20 03 00 01 00', reason: 0x82, role: 'client' },
  { name: 'SUBACK without codes', level: 4, hex: '90 02 1234', reason: 0x81, role: 'client' },
  { name: 'SUBACK 3.1.1 code 0x87', level: 4, hex: '90 03 1234 87', reason: 0x82, role: 'client' },
  { name: 'UNSUBACK 3.1.1 with a payload', level: 4, hex: 'B0 03 1234 00', reason: 0x81, role: 'client' },
  { name: 'UNSUBACK 5.0 without codes', level: 5, hex: 'B0 03 1234 00', reason: 0x81, role: 'client' },
  { name: 'PINGRESP with a body to a client', level: 4, hex: 'D0 01 00', reason: 0x81, role: 'client' },
];

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DecodeError) return err;
    throw err;
  }
  assert.fail('no DecodeError');
}

for (const c of CASES) {
  test(`0x${c.reason.toString(16).padStart(2, '0')} ${c.name}`, () => {
    const err = decodeError(() => decodePacket(hex(c.hex), c.level, c.role ?? 'server'));
    assert.equal(err.reason, c.reason, err.message);
    if (c.rule !== undefined) assert.equal(err.rule, c.rule);
  });
}

test('unsupported protocol levels: UnsupportedProtocolError with the CONNACK code to answer', () => {
  const cases: Array<[string, number]> = [
    ['10 0D 0004 4D515454 02 02 000A 0001 70', 1], // MQTT level 2: 3.1.1 return code 1
    ['10 0D 0004 4D515454 06 02 000A 0001 70', 1],
    ['10 0D 0004 4D515454 03 02 000A 0001 70', 1], // level 3 is only valid as MQIsdp
    ['10 0F 0006 4D5149736470 04 02 000A 0001 70', 1], // MQIsdp level 4
    ['10 0F 0006 4D5149736470 05 02 000A 0001 70', 0x84], // a v5 client gets the v5 CONNACK
  ];
  for (const [h, code] of cases) {
    const err = decodeError(() => decodePacket(hex(h), 4));
    assert.ok(err instanceof UnsupportedProtocolError, h);
    assert.equal(err.reason, 0x84);
    assert.equal(err.rule, 'MQTT-3.1.2-2');
    assert.equal((err as UnsupportedProtocolError).connackCode, code, h);
  }
});

test('MQTT 3.1 leniency: MQIsdp CONNECT with fixed-header flags is accepted', () => {
  const p = decodePacket(hex('14 0F 0006 4D5149736470 03 01 000A 0001 70'), 3);
  assert.equal(p.type, 1);
});

test('accepted edge cases', () => {
  // 4-byte characters, empty strings where allowed, v5 empty properties everywhere, max ids.
  assert.equal(decodePacket(hex('30 0E 0005 41F0AA9B94 7061796C6F6164'), 4).type, 3);
  assert.equal(decodePacket(hex('10 0F 0004 4D515454 04 82 000A 0001 70 0000'), 4).type, 1); // empty user name
  assert.equal(decodePacket(hex('10 17 0004 4D515454 04 C2 000A 0001 70 0001 70 0005 746F700000'), 4).type, 1); // password is binary
  assert.equal(decodePacket(hex('40 02 FFFF'), 4).type, 4);
  assert.equal(decodePacket(hex('E0 01 01'), 5).type, 14); // any DISCONNECT reason byte is handed to the handler
  assert.equal(decodePacket(hex('32 13 0005 746F706963 1234 02 0B01 7061796C6F6164'), 5).type, 3); // conformance data accepts it
});

test('UTF-8 validation helpers', () => {
  const v = (h: string): boolean => {
    const x = hex(h);
    return isValidMqttString(x, 0, x.length);
  };
  assert.ok(v('616263'));
  assert.ok(v('C3A9')); // é
  assert.ok(v('E282AC')); // €
  assert.ok(v('F09F9880')); // U+1F600
  assert.ok(v('EFBFBF')); // U+FFFF: a non-character, allowed (section 1.5.4 says MAY reject)
  assert.ok(!v('00'));
  assert.ok(!v('C080')); // overlong U+0000
  assert.ok(!v('E08080')); // overlong
  assert.ok(!v('F08080 80'.replace(' ', ''))); // overlong 4-byte
  assert.ok(!v('EDA080')); // U+D800
  assert.ok(!v('EDBFBF')); // U+DFFF
  assert.ok(!v('F4908080')); // > U+10FFFF
  assert.ok(!v('F5808080'));
  assert.ok(!v('80')); // lone continuation
  assert.ok(!v('C3')); // truncated
  assert.ok(!v('E282')); // truncated
  assert.ok(!v('C328')); // bad continuation
  assert.ok(!v('1F') && !v('7F') && !v('C280') && !v('C29F')); // controls
  const s = (t: string): number => {
    const x = Buffer.from(t);
    return scanTopicName(x, 0, x.length);
  };
  assert.equal(s('a/b/c'), TOPIC_ASCII);
  assert.equal(s('a/é/c'), TOPIC_UTF8);
  assert.equal(s('a/+/c'), TOPIC_WILDCARD);
  assert.equal(s('é/#'), TOPIC_WILDCARD);
  assert.equal(s('a\u0000'), TOPIC_BAD_UTF8);
  const bad = hex('61 ED A0 80');
  assert.equal(scanTopicName(bad, 0, bad.length), TOPIC_BAD_UTF8);
});
