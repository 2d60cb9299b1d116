/**
 * The byte-level MQTT vectors (../shared/conformance/mqtt-vectors) against Switchboard started
 * from its CLI. Every case that does not pass, including those whose v5 CONNACK differs only in
 * properties, must be listed with a short reason in expected-failures.json ("FILE/GROUP/NAME" ->
 * reason); a listed case that passes, or a listed key that names no case, fails the test too, so
 * the list stays honest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { loadCases, loadExpectedFailures, runVectors, startSwitchboard, summarize, vectorsDir } from './vectors.js';
import type { CaseResult } from './vectors.js';

/**
 * The vectors are data kept beside the repository (../shared/conformance/mqtt-vectors, or
 * MQTT_VECTORS_DIR), not in it. A plain clone has none: the run says so and is skipped. CI sets
 * MQTT_VECTORS_REQUIRED=1 (.ci/run), so there their absence fails instead of skipping.
 */
const dir = vectorsDir();
const present = existsSync(dir);
if (!present && process.env.MQTT_VECTORS_REQUIRED === '1') throw new Error(`MQTT vectors not found at ${dir} and MQTT_VECTORS_REQUIRED=1 (set MQTT_VECTORS_DIR)`);
const absent = present ? false : `MQTT conformance vectors not found at ${dir}: set MQTT_VECTORS_DIR to run the 1,483 cases (see the README, Conformance)`;

const line = (r: CaseResult): string => `  ${JSON.stringify(r.key)}: [${r.outcome}] ${r.reason ?? ''}`;

test('MQTT conformance vectors: only the listed cases fail', { timeout: 180_000, skip: absent }, async (t) => {
  const expected = loadExpectedFailures();
  const known = new Set(loadCases().map((c) => c.key));
  const broker = await startSwitchboard();
  let results: CaseResult[];
  try {
    results = await runVectors({ host: broker.host, port: broker.port });
  } finally {
    const exited = broker.exitCode();
    await broker.stop();
    assert.equal(exited, null, `Switchboard exited during the run:\n${broker.stderrTail()}`);
  }

  const s = summarize(results);
  t.diagnostic(`MQTT vectors: ${s.all.pass}/${s.all.total} pass (3.1 ${s.byLevel[3].pass}/${s.byLevel[3].total}, 3.1.1 ${s.byLevel[4].pass}/${s.byLevel[4].total}, 5.0 ${s.byLevel[5].pass}/${s.byLevel[5].total}); ${s.connackProperties.length} differ only in CONNACK properties; ${s.skipped} disabled`);

  const byKey = new Map(results.map((r) => [r.key, r]));
  const unexpected = [...s.connackProperties, ...s.failures].filter((r) => !(r.key in expected));
  const nowPassing = Object.keys(expected).filter((k) => byKey.get(k)?.pass === true);
  const unknown = Object.keys(expected).filter((k) => !known.has(k));
  const notRun = Object.keys(expected).filter((k) => known.has(k) && byKey.get(k)?.outcome === 'skipped');

  const problems: string[] = [];
  if (unexpected.length > 0) problems.push(`${unexpected.length} case(s) fail and are not in test/conformance/expected-failures.json (fix them, or list them with a reason):`, ...unexpected.map(line));
  if (nowPassing.length > 0) problems.push(`${nowPassing.length} listed case(s) now pass; remove these keys from expected-failures.json:`, ...nowPassing.map((k) => `  ${JSON.stringify(k)}`));
  if (unknown.length > 0) problems.push(`${unknown.length} key(s) in expected-failures.json name no case; remove or correct them:`, ...unknown.map((k) => `  ${JSON.stringify(k)}`));
  if (notRun.length > 0) problems.push(`${notRun.length} listed case(s) are disabled in the data; remove them:`, ...notRun.map((k) => `  ${JSON.stringify(k)}`));
  if (problems.length > 0) assert.fail(problems.join('\n'));
});
