/** The STOMP mapper (errors.ts): catalogue code -> ERROR frame. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS } from '../../errors/catalogue.js';
import { encodeFrame } from './encoder.js';
import { errorFrame } from './errors.js';

test('ERROR frame: message from the catalogue, detail as body, receipt-id when asked', () => {
  const f = errorFrame('SB_ERR_UNKNOWN_DESTINATION', '"/exchange/x" is not a valid destination', 'r1');
  assert.deepEqual(f.headers, [['message', 'unknown destination'], ['content-type', 'text/plain'], ['receipt-id', 'r1']]);
  assert.equal(f.body.toString(), '"/exchange/x" is not a valid destination\n');
  // No detail: the catalogue's text.
  const taken = errorFrame('SB_ERR_TAKEN_OVER');
  assert.deepEqual(taken.headers, [['message', ERRORS.SB_ERR_TAKEN_OVER.stomp], ['content-type', 'text/plain']]);
  assert.equal(taken.body.toString(), `${ERRORS.SB_ERR_TAKEN_OVER.text}\n`);
});

test('extra headers come first (version negotiation), bytes as before the catalogue', () => {
  const f = errorFrame('SB_ERR_UNSUPPORTED_VERSION', 'Supported protocol versions are 1.0 1.1 1.2', undefined, [['version', '1.0,1.1,1.2']]);
  assert.equal(
    encodeFrame('ERROR', f.headers, f.body, { version: '1.2' }).toString(),
    'ERROR\nversion:1.0,1.1,1.2\nmessage:unsupported protocol version\ncontent-type:text/plain\ncontent-length:44\n\nSupported protocol versions are 1.0 1.1 1.2\n\0',
  );
});
