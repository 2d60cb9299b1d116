/**
 * The 1,483 byte-level MQTT conformance cases against a Switchboard started as a child process.
 * Every failure must be listed, with its reason, in expected-failures.json, and every listed case
 * must still fail (so the list stays honest).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runVectors } from './vectors.js';
import { spawnSwitchboard } from './report.js';

const expected = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/conformance/expected-failures.json', import.meta.url)), 'utf8'),
) as Record<string, string>;

test('MQTT conformance vectors: only the reasoned exceptions fail', { timeout: 300_000 }, async () => {
  const { port, proc } = await spawnSwitchboard();
  try {
    const results = await runVectors({ host: '127.0.0.1', port });
    const ran = results.filter((r) => !r.skipped);
    assert.equal(ran.length, 1483, 'all cases ran');
    const failed = ran.filter((r) => !r.pass);
    const unexpected = failed.filter((r) => !(r.key in expected)).map((r) => `${r.key}: [${r.outcome}] ${r.reason}`);
    const fixed = Object.keys(expected).filter((k) => !failed.some((r) => r.key === k));
    assert.deepEqual(unexpected, [], 'failures not in expected-failures.json');
    assert.deepEqual(fixed, [], 'listed as expected failures but now pass: remove them');
    const passed = ran.length - failed.length;
    process.stdout.write(`# conformance: ${passed}/${ran.length} pass\n`);
  } finally {
    proc.kill('SIGKILL');
  }
});
