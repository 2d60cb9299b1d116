/**
 * Regenerates docs/errors.md from the catalogue: `npm run docs` (after a build:
 * `node dist/src/errors/write-docs.js`). `--check` only tells whether the file is up to date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRORS_DOCS_PATH, renderErrorsMarkdown } from './docs.js';

// Compiled to <outDir>/src/errors/: the repository root is three levels up.
const target = fileURLToPath(new URL(`../../../${ERRORS_DOCS_PATH}`, import.meta.url));
const text = renderErrorsMarkdown();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (current !== text) {
    process.stderr.write(`${ERRORS_DOCS_PATH} is out of date: run npm run docs\n`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${ERRORS_DOCS_PATH}\n`);
}
