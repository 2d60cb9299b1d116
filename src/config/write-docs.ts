/**
 * Regenerates docs/configuration.md from the schema: `npm run docs` (after a build:
 * `node dist/src/config/write-docs.js`). `--check` only tells whether the file is up to date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DOCS_PATH, renderMarkdown } from './reference.js';

// Compiled to <outDir>/src/config/: the repository root is three levels up.
const target = fileURLToPath(new URL(`../../../${DOCS_PATH}`, import.meta.url));
const text = renderMarkdown();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (current !== text) {
    process.stderr.write(`${DOCS_PATH} is out of date: run npm run docs\n`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${DOCS_PATH}\n`);
}
