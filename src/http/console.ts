/**
 * The web console's files (console/dist, built by scripts/build-console.mjs during `npm run
 * build`), read once at start and served from memory: only these names exist under /console,
 * so no request path ever reaches the file system.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** The repository (or package) root: the nearest directory above this module with a package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

export interface ConsoleFile {
  type: string;
  body: Buffer;
}

/** name -> file; empty when the console was not built (the broker says so at /console). */
export function loadConsole(dir = join(packageRoot(), 'console', 'dist')): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return files;
}
