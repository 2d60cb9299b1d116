/** The MQTT mapper (errors.ts): catalogue codes -> reason codes, 3.1.1 behaviour, decoder verdicts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS } from '../../errors/catalogue.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { CLOSE_REASONS } from '../../core/session.js';
import { DecodeError } from './codec/packets.js';
import { connackCode, decodeErrorCode, disconnectReason, publishRefusal, subackCode, unsubackCode, v5Reason } from './errors.js';
import type { ReasonPacket } from './errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];
const PACKETS: ReasonPacket[] = ['CONNACK', 'PUBACK', 'PUBREC', 'SUBACK', 'UNSUBACK', 'DISCONNECT'];

test('a packet only ever carries a reason code it may carry: the catalogue\'s, else 0x80', () => {
  for (const code of codes) {
    for (const packet of PACKETS) {
      const r = v5Reason(code, packet);
      assert.ok(r === ERRORS[code].mqtt5 || r === 0x80, `${code} in ${packet}: 0x${r.toString(16)}`);
    }
  }
});

test('what the broker sends today keeps its catalogue reason code (no 0x80 fallback)', () => {
  const sent: Record<ReasonPacket, ErrorCode[]> = {
    // login outcomes, core admission, CONNECT checks
    CONNACK: ['SB_ERR_BAD_CREDENTIALS', 'SB_ERR_NOT_AUTHORIZED', 'SB_ERR_SERVER_UNAVAILABLE', 'SB_ERR_SERVER_BUSY', 'SB_ERR_CLIENT_ID', 'SB_ERR_WRONG_PROFILE', 'SB_ERR_DUPLICATE_LOGIN', 'SB_ERR_QUOTA', 'SB_ERR_TOPIC_NAME', 'SB_ERR_QOS_UNSUPPORTED', 'SB_ERR_RETAIN_UNSUPPORTED', 'SB_ERR_PAYLOAD_FORMAT', 'SB_ERR_BAD_AUTH_METHOD', 'SB_ERR_UNSUPPORTED_VERSION'],
    PUBACK: ['SB_ERR_NOT_AUTHORIZED', 'SB_ERR_QUOTA', 'SB_ERR_PAYLOAD_FORMAT'],
    PUBREC: ['SB_ERR_NOT_AUTHORIZED', 'SB_ERR_QUOTA', 'SB_ERR_PAYLOAD_FORMAT'],
    SUBACK: ['SB_ERR_NOT_AUTHORIZED', 'SB_ERR_TOPIC_FILTER', 'SB_ERR_WILDCARD_UNSUPPORTED', 'SB_ERR_QUOTA', 'SB_ERR_SHARED_UNSUPPORTED'],
    UNSUBACK: ['SB_ERR_NOT_AUTHORIZED'],
    DISCONNECT: [
      ...Object.values(CLOSE_REASONS).map((r) => r.code),
      'SB_ERR_KEEPALIVE', 'SB_ERR_MALFORMED', 'SB_ERR_PROTOCOL', 'SB_ERR_TOO_LARGE', 'SB_ERR_INTERNAL', 'SB_ERR_SECOND_CONNECT',
      'SB_ERR_QOS_UNSUPPORTED', 'SB_ERR_RETAIN_UNSUPPORTED', 'SB_ERR_TOPIC_ALIAS', 'SB_ERR_RECEIVE_MAXIMUM', 'SB_ERR_PAYLOAD_FORMAT', 'SB_ERR_TOPIC_NAME', 'SB_ERR_SUBID_UNSUPPORTED',
    ],
  };
  for (const packet of PACKETS) for (const code of sent[packet]) assert.equal(v5Reason(code, packet), ERRORS[code].mqtt5, `${code} in ${packet}`);
  assert.equal(v5Reason('SB_ERR_SHUTTING_DOWN', 'DISCONNECT'), 0x8b);
  assert.equal(v5Reason('SB_ERR_TAKEN_OVER', 'DISCONNECT'), 0x8e);
  assert.equal(v5Reason('SB_ERR_TOKEN_EXPIRED', 'DISCONNECT'), 0xa0);
});

test('3.1.1: CONNACK return code (3 where the catalogue has none), SUBACK 0x80, publish acknowledged or closed, no DISCONNECT', () => {
  assert.equal(connackCode('SB_ERR_BAD_CREDENTIALS', 4), 4);
  assert.equal(connackCode('SB_ERR_NOT_AUTHORIZED', 4), 5);
  assert.equal(connackCode('SB_ERR_CLIENT_ID', 3), 2);
  assert.equal(connackCode('SB_ERR_UNSUPPORTED_VERSION', 4), 1);
  assert.equal(connackCode('SB_ERR_QUOTA', 4), 3); // README: a new persistent session over the quota gets 0x97 / 3
  assert.equal(connackCode('SB_ERR_TOPIC_NAME', 4), 3);
  assert.equal(connackCode('SB_ERR_QUOTA', 5), 0x97);
  assert.equal(subackCode('SB_ERR_QUOTA', 4), 0x80);
  assert.equal(subackCode('SB_ERR_QUOTA', 5), 0x97);
  assert.equal(unsubackCode('SB_ERR_NOT_AUTHORIZED'), 0x87);
  assert.equal(publishRefusal('SB_ERR_QUOTA', 5, 0), 'drop');
  assert.equal(publishRefusal('SB_ERR_QUOTA', 4, 0), 'drop');
  assert.equal(publishRefusal('SB_ERR_QUOTA', 5, 1), 0x97);
  assert.equal(publishRefusal('SB_ERR_NOT_AUTHORIZED', 5, 2), 0x87);
  assert.equal(publishRefusal('SB_ERR_NOT_AUTHORIZED', 4, 1), 'acknowledge');
  assert.equal(publishRefusal('SB_ERR_QUOTA', 4, 2), 'close');
  assert.equal(disconnectReason('SB_ERR_KEEPALIVE', 4), null);
  assert.equal(disconnectReason('SB_ERR_KEEPALIVE', 5), 0x8d);
});

test('a decoder verdict maps to a code that says the same reason on the wire', () => {
  for (const reason of [0x81, 0x82, 0x95]) {
    const v = decodeErrorCode(new DecodeError(reason, 'x'));
    assert.equal(v.silent, false);
    assert.equal(v5Reason(v.code, 'DISCONNECT'), reason, `0x${reason.toString(16)} -> ${v.code}`);
  }
  const unsupported = decodeErrorCode(new DecodeError(0x84, 'x'));
  assert.equal(unsupported.code, 'SB_ERR_UNSUPPORTED_VERSION');
  assert.equal(connackCode(unsupported.code, 5), 0x84);
  assert.equal(connackCode(unsupported.code, 4), 1);
  assert.deepEqual(decodeErrorCode(new DecodeError(0, 'x')), { code: 'SB_ERR_MALFORMED', silent: true });
  // A reason the decoder does not raise today still keeps its value.
  assert.equal(v5Reason(decodeErrorCode(new DecodeError(0x94, 'x')).code, 'DISCONNECT'), 0x94);
});
