// Builds the browser example (examples/browser/src -> examples/browser/dist): the page, and its
// script bundled with mqtt.js and stomp.js by esbuild, so that it needs no CDN. Part of
// `npm run build`; examples/browser/switchboard.yaml serves the result (http.staticDir).
// Nothing to do when dist is newer than every input (npm start builds on each start).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const src = join(here, 'src');
const inputs = [...readdirSync(src).map((f) => join(src, f)), fileURLToPath(import.meta.url), join(here, '..', '..', 'package-lock.json')];
const built = join(out, 'app.js');
if (existsSync(built) && inputs.every((f) => !existsSync(f) || statSync(f).mtimeMs <= statSync(built).mtimeMs)) process.exit(0);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'app.js')],
  bundle: true,
  platform: 'browser', // mqtt.js's browser build (its package.json "browser" condition)
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true, // the browser's developer tools show src/app.js as written
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'src', 'index.html'), join(out, 'index.html'));
