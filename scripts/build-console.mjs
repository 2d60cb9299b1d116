// Builds the web console (console/src -> console/dist): one esbuild bundle, the page, the styles.
// Part of `npm run build`; the broker serves console/dist at /console.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'console', 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'console', 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
copyFileSync(join(root, 'console', 'src', 'index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'console', 'src', 'app.css'), join(out, 'app.css'));
copyFileSync(createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'), join(out, 'uPlot.min.css'));
