import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS } from '../../errors/catalogue.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { returnCode } from './errors.js';

test('every catalogue code maps to a rejecting return code in every message', () => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    for (const m of ['CONNACK', 'REGACK', 'PUBACK', 'SUBACK', 'WILLTOPICRESP', 'WILLMSGRESP'] as const) {
      const rc = returnCode(code, m);
      assert.ok(rc >= 1 && rc <= 3, `${code} in ${m}: ${rc}`);
    }
  }
});

test('refusals: not authorised is not supported, quotas are congestion, topics are invalid topic ids where allowed', () => {
  assert.equal(returnCode('SB_ERR_NOT_AUTHORIZED', 'PUBACK'), 3);
  assert.equal(returnCode('SB_ERR_QUOTA', 'SUBACK'), 1);
  assert.equal(returnCode('SB_ERR_TOPIC_NAME', 'PUBACK'), 2);
  assert.equal(returnCode('SB_ERR_TOPIC_NAME', 'CONNACK'), 3);
  assert.equal(returnCode('SB_ERR_SERVER_BUSY', 'CONNACK'), 1);
});
