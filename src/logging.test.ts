import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { loggerOptions, withoutLevelField } from './logging.js';

test('a field named level is kept as _level: one level key per line, the severity', () => {
  const lines: string[] = [];
  const log = pino(loggerOptions('info'), { write: (s: string) => void lines.push(s) });
  log.info({ clientId: 'c', level: 4 }, 'with a level field');
  log.info({ clientId: 'c', protocolVersion: 4 }, 'without');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.equal(l.match(/"level":/g)?.length, 1, l);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual([first.level, first._level, first.clientId], [30, 4, 'c']);
  assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>).protocolVersion, 4);
});

test('withoutLevelField copies only when it must', () => {
  const plain = { a: 1 };
  assert.equal(withoutLevelField(plain), plain);
  const clash = { a: 1, level: 'x' };
  assert.deepEqual(withoutLevelField(clash), { a: 1, _level: 'x' });
  assert.deepEqual(clash, { a: 1, level: 'x' }); // the caller's object is left alone
});
