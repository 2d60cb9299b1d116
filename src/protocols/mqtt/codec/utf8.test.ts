/** The MQTT string check and the core's one definition of characters no message may carry agree. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isPortableString } from '../../../core/headers.js';
import { isValidMqttString } from './utf8.js';

test('the same set MQTT refuses in strings (utf8.ts), for every BMP character that is not a surrogate', () => {
  for (let c = 0; c <= 0xffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue; // not encodable on its own; both refuse lone surrogates otherwise
    const s = String.fromCharCode(c);
    const b = Buffer.from(s, 'utf8');
    assert.equal(isPortableString(s), isValidMqttString(b, 0, b.length), `U+${c.toString(16)}`);
  }
});
