/**
 * The error catalogue stays one catalogue: docs/errors.md is generated from it, every code is
 * raised somewhere (or kept as reserved), and no two codes can be mistaken for each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS } from './catalogue.js';
import type { ErrorCode, ErrorSpec } from './catalogue.js';
import { ERRORS_DOCS_PATH, MQTT311_RETURN_NAMES, MQTT5_REASON_NAMES, renderErrorsMarkdown } from './docs.js';

// Compiled to <outDir>/src/errors/: the repository root is three levels up.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const codes = Object.keys(ERRORS) as ErrorCode[];

/**
 * Codes that share a STOMP `message` on purpose: STOMP has destinations, not topic names and
 * topic filters, so a bad SEND destination and a bad SUBSCRIBE destination read the same.
 */
const SAME_STOMP_MESSAGE: ReadonlyArray<readonly ErrorCode[]> = [['SB_ERR_TOPIC_FILTER', 'SB_ERR_TOPIC_NAME']];

test(`${ERRORS_DOCS_PATH} is in step with the catalogue (regenerate: npm run docs)`, () => {
  let current = '';
  try {
    current = readFileSync(join(root, ERRORS_DOCS_PATH), 'utf8');
  } catch {
    assert.fail(`${ERRORS_DOCS_PATH} is missing: run npm run docs`);
  }
  assert.ok(current === renderErrorsMarkdown(), `${ERRORS_DOCS_PATH} is out of date: run npm run docs`);
  for (const code of codes) assert.ok(current.includes(`| \`${code}\` |`), `${code} has no row in ${ERRORS_DOCS_PATH}`);
});

/** The TypeScript sources of src/ that may raise a code: not the catalogue itself, not tests. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

test('every code is raised somewhere in src/, or documented as reserved', () => {
  const errorsDir = join(root, 'src', 'errors');
  const text = sources(join(root, 'src'))
    .filter((f) => !f.startsWith(errorsDir))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const unused: string[] = [];
  for (const code of codes) {
    const used = new RegExp(`\\b${code}\\b`).test(text);
    const reserved = (ERRORS[code] as ErrorSpec).reserved;
    if (reserved !== undefined) assert.ok(!used, `${code} is marked reserved ("${reserved}") but src/ raises it: drop the mark`);
    else if (!used) unused.push(code);
  }
  assert.deepEqual(unused, [], 'codes nothing raises: use them, or mark them `reserved` with the reason they are kept');
});

test('no two codes share a name, a meaning or (unless listed) a STOMP message', () => {
  const names = new Map<string, ErrorCode>();
  for (const code of codes) {
    assert.match(code, /^SB_ERR_[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
    const key = code.replace(/_/g, '');
    assert.equal(names.get(key), undefined, `${code} and ${names.get(key)} differ only in underscores`);
    names.set(key, code);
  }
  const aliased = (a: ErrorCode, b: ErrorCode): boolean => SAME_STOMP_MESSAGE.some((group) => group.includes(a) && group.includes(b));
  const norm = (s: string): string => s.trim().toLowerCase();
  for (const [i, a] of codes.entries()) {
    for (const b of codes.slice(i + 1)) {
      const sa = ERRORS[a];
      const sb = ERRORS[b];
      assert.notEqual(norm(sa.text), norm(sb.text), `${a} and ${b} have the same text "${sa.text}"`);
      // A client that reads a STOMP message, or a log reader, must find one code for it.
      const wordsA = new Set([norm(sa.text), norm(sa.stomp)]);
      for (const w of [norm(sb.text), norm(sb.stomp)]) {
        if (!wordsA.has(w)) continue;
        assert.ok(norm(sa.stomp) === norm(sb.stomp) && aliased(a, b), `${a} and ${b} can both read "${w}"`);
      }
    }
  }
});

test('every code maps to a real MQTT 5 error reason, 3.1.1 return code, STOMP header value and HTTP status', () => {
  for (const code of codes) {
    const s = ERRORS[code];
    assert.ok(s.mqtt5 >= 0x80 && MQTT5_REASON_NAMES[s.mqtt5] !== undefined, `${code}: 0x${s.mqtt5.toString(16)} is not an MQTT 5 error reason code`);
    assert.ok(s.mqtt311 === null || MQTT311_RETURN_NAMES[s.mqtt311] !== undefined, `${code}: ${s.mqtt311} is not a 3.1.1 CONNACK return code`);
    // Written as a header value in every STOMP version (1.0 cannot escape anything).
    assert.match(s.stomp, /^[\x20-\x7e]+$/, `${code}: STOMP message "${s.stomp}"`);
    assert.ok(Number.isInteger(s.http) && s.http >= 200 && s.http <= 599, `${code}: HTTP ${s.http}`);
    assert.ok(s.text.length > 0 && !/\n/.test(s.text), `${code}: text`);
  }
});
