/**
 * `http.staticDir` served under `http.staticPath` on the ws/wss ports: a web page next to the
 * broker (examples/browser). GET and HEAD only; a folder answers with its index.html (a folder
 * URL without its trailing slash is redirected to it, so the page's relative links work); every
 * other request, and every path that fails a check below, goes to the API's 404.
 *
 * Safety: each URL segment is decoded once and refused when it is empty, `.`, `..`, a dotfile
 * or holds `/`, `\` or NUL, so neither `..` nor `%2e%2e` nor `%2f` nor an absolute path leaves
 * the folder; the file found is then resolved with realpath and must still be inside the
 * folder's own realpath, so a symlink cannot lead out of it. Paths the broker answers itself
 * (RESERVED) are never served from the folder, whatever it holds. WebSocket paths cannot be
 * shadowed: upgrades are routed by transports/listeners.ts before any HTTP handler.
 *
 * Hand-written rather than @fastify/static: that follows symlinks out of its root and knows
 * nothing of the broker's own paths; what is left to do here is small.
 */
import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface StaticOptions {
  /** The folder (relative paths: to the process's working directory). */
  dir: string;
  /** URL prefix; starts and ends with `/`. */
  path: string;
}

/** First URL segments the broker answers itself (API, metrics, health, console). */
export const RESERVED: ReadonlySet<string> = new Set(['api', 'metrics', 'healthz', 'readyz', 'console']);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

export function contentType(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The decoded segments of `rest` (a URL path below the prefix, without query), or null when
 * one is unsafe. A trailing empty segment (a folder URL) is kept.
 */
export function safeSegments(rest: string): string[] | null {
  if (rest === '') return [''];
  const raw = rest.split('/');
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const last = i === raw.length - 1;
    let s: string;
    try {
      s = decodeURIComponent(raw[i]!);
    } catch {
      return null;
    }
    if (s === '') {
      if (!last) return null; // `//`: an absolute path, or a confused client
      out.push(s);
      continue;
    }
    if (s.startsWith('.') || /[/\\\0]/.test(s)) return null;
    out.push(s);
  }
  return out;
}

/** Is this request path (raw, without query) one the broker answers itself? */
export function reserved(urlPath: string): boolean {
  const first = urlPath.split('/')[1] ?? '';
  let name: string;
  try {
    name = decodeURIComponent(first);
  } catch {
    return true; // not ours to answer either way
  }
  return RESERVED.has(name);
}

/** The real path of `path` and what it is, when it exists and is `root` or inside it (a real path); else null. */
async function inside(root: string, path: string): Promise<{ file: string; stats: Stats } | null> {
  try {
    const file = await realpath(path);
    if (file !== root && !file.startsWith(root + sep)) return null;
    return { file, stats: await stat(file) };
  } catch {
    return null; // missing, unreadable, or gone since
  }
}

/**
 * Add the GET (and HEAD) routes serving `o.dir` under `o.path`. Throws when the folder does
 * not exist or the prefix lies under one of the broker's own paths (a configuration error).
 */
export async function registerStatic(app: FastifyInstance, o: StaticOptions): Promise<void> {
  if (!o.path.startsWith('/') || !o.path.endsWith('/')) throw new Error(`http.staticPath "${o.path}" must start and end with "/"`);
  if (o.path !== '/' && reserved(o.path)) throw new Error(`http.staticPath "${o.path}" lies under a path the broker serves itself (/${[...RESERVED].join(', /')})`);
  let root: string;
  try {
    root = await realpath(o.dir);
    if (!(await stat(root)).isDirectory()) throw new Error('not a folder');
  } catch (err) {
    throw new Error(`http.staticDir "${o.dir}": ${(err as Error).message}`);
  }
  const prefix = o.path;

  const notFound = (reply: FastifyReply): FastifyReply => {
    reply.callNotFound(); // the API's 404, as for any unknown path
    return reply;
  };
  const serve = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const q = req.url.indexOf('?');
    const urlPath = q < 0 ? req.url : req.url.slice(0, q);
    const query = q < 0 ? '' : req.url.slice(q);
    if (reserved(urlPath) || !urlPath.startsWith(prefix)) return notFound(reply);
    const segs = safeSegments(urlPath.slice(prefix.length));
    if (segs === null) return notFound(reply);
    let found = await inside(root, join(root, ...segs));
    if (found?.stats.isDirectory() === true) {
      if (segs[segs.length - 1] !== '') return reply.redirect(`${urlPath}/${query}`, 301);
      found = await inside(root, join(found.file, 'index.html'));
    }
    if (found === null || !found.stats.isFile()) return notFound(reply);
    const { file, stats: st } = found;
    void reply
      .header('content-type', contentType(file))
      .header('content-length', st.size)
      .header('last-modified', st.mtime.toUTCString())
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff');
    // HEAD: the headers only (fastify's automatic HEAD route would read the whole file).
    return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(file));
  };

  app.route({ method: ['GET', 'HEAD'], url: `${prefix}*`, handler: serve });
  // `/app` for the prefix `/app/`: to the folder URL, where relative links resolve.
  if (prefix !== '/') app.route({ method: ['GET', 'HEAD'], url: prefix.slice(0, -1), handler: async (_req, reply) => reply.redirect(prefix, 301) });
}
