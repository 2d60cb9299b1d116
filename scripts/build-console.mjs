// Builds the web console (console/src -> console/dist): a type check, one esbuild bundle, the
// page, the styles. Part of `npm run build`; the broker serves console/dist at /console.
// Nothing to do when console/dist is newer than every input (npm start builds on each start).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'console', 'dist');
const src = join(root, 'console', 'src');
const inputs = [...readdirSync(src, { recursive: true }).map((f) => join(src, String(f))), fileURLToPath(import.meta.url), join(root, 'console', 'tsconfig.json'), join(root, 'package-lock.json')];
const built = join(out, 'app.js');
if (existsSync(built) && inputs.every((f) => !existsSync(f) || statSync(f).mtimeMs <= statSync(built).mtimeMs)) process.exit(0);
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', join(root, 'console', 'tsconfig.json')], { stdio: 'inherit' });
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
