/**
 * Static files (static.ts) over real HTTP, so that request paths reach the handler exactly as
 * sent: what is served, and every way out of the folder or onto the broker's own paths refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { registerStatic, safeSegments } from './static.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const base = mkdtempSync(join(tmpdir(), 'sb-static-'));
const site = join(base, 'site');
const apps: FastifyInstance[] = [];

/** A server like api.ts's: own routes, a 404 handler, the folder under `prefix`. */
async function serve(prefix: string): Promise<number> {
  const app = Fastify();
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/console/:file', async () => 'console');
  app.setNotFoundHandler(async (_req, reply) => reply.status(404).send('not found'));
  await registerStatic(app, { dir: site, path: prefix });
  await app.listen({ port: 0, host: '127.0.0.1' });
  apps.push(app);
  const addr = app.server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return addr.port;
}

/** The path goes on the request line as given (no normalisation by a client library). */
function request(port: number, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let root: number;
let under: number;

before(async () => {
  mkdirSync(join(site, 'sub'), { recursive: true });
  mkdirSync(join(site, 'empty'));
  mkdirSync(join(site, 'console'));
  mkdirSync(join(site, 'api', 'v1'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<h1>home</h1>');
  writeFileSync(join(site, 'app.js'), 'export {};');
  writeFileSync(join(site, 'sub', 'index.html'), 'sub home');
  writeFileSync(join(site, 'sub', 'a b.css'), 'body{}');
  writeFileSync(join(site, 'data.bin'), 'xx');
  writeFileSync(join(site, '.secret'), 'dotfile');
  writeFileSync(join(site, 'healthz'), 'shadow');
  writeFileSync(join(site, 'metrics'), 'shadow');
  writeFileSync(join(site, 'console', 'other.js'), 'shadow');
  writeFileSync(join(site, 'api', 'v1', 'clients'), 'shadow');
  writeFileSync(join(base, 'outside.txt'), 'outside');
  symlinkSync(join(base, 'outside.txt'), join(site, 'link-out.txt'));
  symlinkSync(base, join(site, 'dir-out'));
  symlinkSync(join(site, 'app.js'), join(site, 'link-in.js'));
  root = await serve('/');
  under = await serve('/app/');
});

after(async () => {
  for (const a of apps) await a.close();
});

test('files, with their types; a folder answers with its index.html', async () => {
  const home = await request(root, '/');
  assert.equal(home.status, 200);
  assert.equal(home.body, '<h1>home</h1>');
  assert.equal(home.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(home.headers['x-content-type-options'], 'nosniff');
  const js = await request(root, '/app.js?v=1');
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.body, 'export {};');
  assert.equal((await request(root, '/sub/a%20b.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await request(root, '/data.bin')).headers['content-type'], 'application/octet-stream');
  assert.equal((await request(root, '/sub/')).body, 'sub home');
  assert.equal((await request(root, '/link-in.js')).body, 'export {};', 'a symlink inside the folder is followed');
  // Without the slash, to the folder URL (keeping the query), so relative links resolve.
  const redirect = await request(root, '/sub?x=1');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, '/sub/?x=1');
  assert.equal((await request(root, '/empty/')).status, 404, 'a folder without index.html');
  assert.equal((await request(root, '/missing.html')).body, 'not found', 'the API 404 answers');
});

test('HEAD gives the headers only; other methods are not served', async () => {
  const head = await request(root, '/app.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String('export {};'.length));
  assert.equal(head.body, '');
  for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS']) assert.equal((await request(root, '/app.js', m)).status, 404, m);
});

test('nothing outside the folder: .., encoded dots and slashes, absolute paths, dotfiles, symlinks out', async () => {
  for (const p of [
    '/../outside.txt',
    '/sub/../../outside.txt',
    '/%2e%2e/outside.txt',
    '/%2E%2E%2Foutside.txt',
    '/sub/%2e%2e/%2e%2e/outside.txt',
    '/..%5coutside.txt',
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/sub//index.html',
    '/.secret',
    '/%2esecret',
    '/link-out.txt',
    '/dir-out/outside.txt',
    '/app.js%00.html',
  ]) {
    const r = await request(root, p);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.includes('outside') && !r.body.includes('dotfile'), p);
  }
  assert.equal((await request(root, '/%E0%A4%A')).status, 400, 'a malformed escape: refused by fastify');
});

test("the broker's own paths are never served from the folder", async () => {
  assert.equal((await request(root, '/healthz')).body, '{"status":"ok"}');
  assert.equal((await request(root, '/console/other.js')).body, 'console');
  for (const p of ['/metrics', '/api/v1/clients', '/%61pi/v1/clients', '/console/x/y']) assert.equal((await request(root, p)).status, 404, p);
});

test('under a prefix', async () => {
  assert.equal((await request(under, '/app/')).body, '<h1>home</h1>');
  assert.equal((await request(under, '/app/sub/')).body, 'sub home');
  const r = await request(under, '/app');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, '/app/');
  assert.equal((await request(under, '/index.html')).status, 404);
  assert.equal((await request(under, '/app/../app/index.html')).status, 404);
});

test('configuration errors stop the start', async () => {
  await assert.rejects(registerStatic(Fastify(), { dir: join(base, 'nope'), path: '/' }), /http\.staticDir/);
  await assert.rejects(registerStatic(Fastify(), { dir: join(site, 'app.js'), path: '/' }), /not a folder/);
  await assert.rejects(registerStatic(Fastify(), { dir: site, path: '/console/' }), /http\.staticPath/);
  await assert.rejects(registerStatic(Fastify(), { dir: site, path: '/api/v2/' }), /http\.staticPath/);
});

test('safeSegments', () => {
  assert.deepEqual(safeSegments(''), ['']);
  assert.deepEqual(safeSegments('a/b%20c/'), ['a', 'b c', '']);
  for (const bad of ['..', 'a/..', '%2e%2e', '.', 'a//b', '/a', 'a%2fb', 'a%5cb', 'a%00', '%zz']) assert.equal(safeSegments(bad), null, bad);
});
