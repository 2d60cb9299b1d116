/** docs/configuration.md is generated from the schema: this fails when it is out of date. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from './load.js';
import { DOCS_PATH, renderMarkdown } from './reference.js';

// Compiled to <outDir>/src/config/: the repository root is three levels up.
const file = fileURLToPath(new URL(`../../../${DOCS_PATH}`, import.meta.url));

test(`${DOCS_PATH} is in step with the schema (regenerate: npm run docs)`, () => {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    assert.fail(`${DOCS_PATH} is missing: run npm run docs`);
  }
  assert.ok(current === renderMarkdown(), `${DOCS_PATH} is out of date: run npm run docs`);
});

test(`${DOCS_PATH} lists every setting and every environment variable`, () => {
  const text = renderMarkdown();
  for (const s of SETTINGS) {
    assert.ok(text.includes(`\`${s.key}\``) || text.includes(`\n## ${s.key}\n`), s.key); // a row, or a section's heading
    for (const name of s.env) assert.ok(text.includes(`\`${name}\``), name);
  }
});
