/** core/headers.ts: the character rule and the broker-owned names, shared by every protocol. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BROKER_STAMPED_NAMES,
  STOMP_MESSAGE_HEADER_NAMES,
  describeCharCode,
  findForbiddenChar,
  isBrokerStamped,
  isForbiddenCharCode,
  isPortableString,
  isStompMessageHeader,
  isUnsafeUserProperty,
  normaliseHeaderName,
  withoutNames,
} from './headers.js';

test('forbidden characters: exactly C0 controls, DEL and C1 controls', () => {
  const forbidden: number[] = [];
  for (let c = 0; c <= 0xffff; c++) if (isForbiddenCharCode(c)) forbidden.push(c);
  const expected: number[] = [];
  for (let c = 0x00; c <= 0x1f; c++) expected.push(c);
  for (let c = 0x7f; c <= 0x9f; c++) expected.push(c);
  assert.deepEqual(forbidden, expected);
});

test('findForbiddenChar / isPortableString', () => {
  assert.equal(findForbiddenChar(''), -1);
  assert.equal(findForbiddenChar('/topic/a b/ü/€/😀:\\'), -1);
  assert.equal(findForbiddenChar('a\nfrom:ceo'), 1);
  assert.equal(findForbiddenChar('abc\r'), 3);
  assert.equal(findForbiddenChar('\0'), 0);
  assert.equal(findForbiddenChar('x\u007f'), 1);
  assert.equal(findForbiddenChar('x\u0085y'), 1); // NEL, a C1 control some parsers treat as a line break
  assert.equal(findForbiddenChar('tab\there'), 3);
  assert.equal(isPortableString('team/room 1'), true);
  assert.equal(isPortableString('team/room\n1'), false);
  assert.equal(isPortableString('\u00a0\u2028'), true); // not controls: allowed by MQTT as well
});

test('describeCharCode', () => {
  assert.equal(describeCharCode(0x0a), 'U+000A');
  assert.equal(describeCharCode(0x85), 'U+0085');
});

test('normaliseHeaderName: cut at the first colon, trim, lowercase', () => {
  assert.equal(normaliseHeaderName('from'), 'from');
  assert.equal(normaliseHeaderName('From'), 'from');
  assert.equal(normaliseHeaderName('FROM'), 'from');
  assert.equal(normaliseHeaderName(' from'), 'from');
  assert.equal(normaliseHeaderName('from '), 'from');
  assert.equal(normaliseHeaderName('\tfrom\r\n'), 'from');
  assert.equal(normaliseHeaderName('from:'), 'from');
  assert.equal(normaliseHeaderName('from:x'), 'from');
  assert.equal(normaliseHeaderName(' From :ceo:z'), 'from');
  assert.equal(normaliseHeaderName('x-from'), 'x-from');
  assert.equal(normaliseHeaderName(':from'), '');
  assert.equal(normaliseHeaderName(''), '');
});

test('broker-stamped names: every variant of from, nothing else', () => {
  assert.deepEqual([...BROKER_STAMPED_NAMES], ['from']);
  for (const n of ['from', 'From', 'FROM', 'fRoM', ' from', 'from ', ' from ', 'from:', 'from:x', 'FROM :', '\u00a0from']) {
    assert.equal(isBrokerStamped(n), true, JSON.stringify(n));
  }
  for (const n of ['x-from', 'from-x', 'fro', 'froms', ':from', 'f rom', 'subscription', 'destination', '']) {
    assert.equal(isBrokerStamped(n), false, JSON.stringify(n));
  }
});

test('STOMP MESSAGE headers: the names a MESSAGE sets itself, with every variant, from included', () => {
  assert.deepEqual(
    [...STOMP_MESSAGE_HEADER_NAMES].sort(),
    ['ack', 'content-length', 'content-type', 'correlation-id', 'destination', 'from', 'message-id', 'receipt', 'reply-to', 'subscription', 'transaction'],
  );
  for (const name of STOMP_MESSAGE_HEADER_NAMES) {
    for (const n of [name, name.toUpperCase(), ` ${name}`, `${name} `, `${name}:`, `${name}:x`, name[0]!.toUpperCase() + name.slice(1)]) {
      assert.equal(isStompMessageHeader(n), true, JSON.stringify(n));
    }
  }
  for (const n of ['x-destination', 'content-length2', 'message', 'receipt-id', 'expires', 'priority', 'x', '']) {
    assert.equal(isStompMessageHeader(n), false, JSON.stringify(n));
  }
});

test('withoutNames: drops matching entries, keeps order and repeats, same array when nothing matches', () => {
  const clean: Array<[string, string]> = [['a', '1'], ['b', '2'], ['a', '3']];
  assert.equal(withoutNames(clean, isBrokerStamped), clean);
  const mixed: Array<[string, string]> = [['From', 'ceo'], ['a', '1'], ['from:', 'x'], ['b', '2'], [' FROM ', 'y'], ['a', '3']];
  const out = withoutNames(mixed, isBrokerStamped);
  assert.deepEqual(out, [['a', '1'], ['b', '2'], ['a', '3']]);
  assert.equal(mixed.length, 6, 'the input is not modified');
  assert.deepEqual(withoutNames([['from', 'x']], isBrokerStamped), []);
  assert.deepEqual(withoutNames([], isBrokerStamped), []);
});

test('withoutNames passes name and value: isUnsafeUserProperty drops from look-alikes and control characters', () => {
  const props: Array<[string, string]> = [['ok', 'v'], ['From', 'ceo'], ['x', 'a\nb'], ['y\u0000', 'v'], ['z', 'caf\u00e9 \u20ac'], ['x-from', '1']];
  assert.deepEqual(withoutNames(props, isUnsafeUserProperty), [['ok', 'v'], ['z', 'caf\u00e9 \u20ac'], ['x-from', '1']]);
  assert.equal(isUnsafeUserProperty('from:', 'x'), true);
  assert.equal(isUnsafeUserProperty('a', '\u009b'), true);
  assert.equal(isUnsafeUserProperty('a', 'b:c'), false);
});
