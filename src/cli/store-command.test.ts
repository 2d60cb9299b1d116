import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStores } from '../stores/sqlite/index.js';
import { storeCommand } from './store-command.js';

const root = mkdtempSync(join(tmpdir(), 'sb-store-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await storeCommand(argv, { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

async function filled(dir: string): Promise<void> {
  const s = await SqliteStores.open({ dataDir: dir });
  const m = { topic: 'a/b', payload: Buffer.from([0, 1, 2, 255]), qos: 1 as const, retain: false, meta: { correlationData: Buffer.from('cd') }, expiresAt: 0, sender: null };
  s.sessions.putSession('app1', 'c1', { login: 'c1', profile: 'AGENT', protocol: 'mqtt', expiry: 60, disconnectedAt: 5 });
  s.sessions.putSubscription('app1', 'c1', { raw: 'a/#', filter: 'a/#', group: null, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });
  s.sessions.enqueue('app1', 'c1', { msg: m, qos: 1, retain: false, subscriptionIds: null, group: null });
  s.sessions.enqueue('app1', 'c1', { msg: m, qos: 1, retain: false, subscriptionIds: null, group: null });
  s.retained.putRetained('app1', { ...m, retain: true });
  s.retained.putRetained('app2', { ...m, retain: true });
  s.queues.append('app2', '$queue/q', 'q', m);
  s.deadLetters.addDeadLetter({ app: 'app2', reason: 'expired', to: null, time: Date.now(), msg: m });
  await s.close();
}

test('store stats: rows per table and application', async () => {
  const dir = join(root, 'stats');
  await filled(dir);
  const r = await run('stats', '--data-dir', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /schema +version 1/);
  const rows = r.out.split('\n');
  assert.match(rows.find((l) => l.startsWith('app1'))!, /^app1 +1 +1 +2 +0 +0 +0 +1 +0 +0$/);
  assert.match(rows.find((l) => l.startsWith('app2'))!, /^app2 +0 +0 +0 +0 +0 +0 +1 +1 +1$/);
  const j = await run('stats', '--data-dir', dir, '--json');
  assert.equal(j.code, 0);
  const stats = JSON.parse(j.out) as { tables: Record<string, Record<string, number>> };
  assert.deepEqual(stats.tables.session_queue, { app1: 2 });
});

test('store export: JSON lines, payloads in base64, one application with --app', async () => {
  const dir = join(root, 'export');
  await filled(dir);
  const r = await run('export', '--data-dir', dir);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; app: string; msg?: { payload: string; meta: { correlationData: string } } });
  assert.deepEqual(lines.map((l) => `${l.app}:${l.type}`), ['app1:session', 'app1:queued', 'app1:queued', 'app1:retained', 'app2:retained', 'app2:queue', 'app2:deadLetter']);
  const retained = lines.find((l) => l.type === 'retained')!;
  assert.deepEqual(Buffer.from(retained.msg!.payload, 'base64'), Buffer.from([0, 1, 2, 255]));
  assert.equal(Buffer.from(retained.msg!.meta.correlationData, 'base64').toString(), 'cd');
  const one = await run('export', '--data-dir', dir, '--app', 'app2');
  assert.equal(one.out.trim().split('\n').length, 3);
});

test('store compact: checkpoint and VACUUM', async () => {
  const dir = join(root, 'compact');
  await filled(dir);
  const r = await run('compact', '--data-dir', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^compacted .*switchboard\.db: \d+ -> \d+ bytes\n$/);
  assert.equal((await run('stats', '--data-dir', dir)).code, 0);
});

test('store: errors are one message and an exit status, no stack trace', async () => {
  const usage = [await run(), await run('stats'), await run('frob', '--data-dir', root), await run('stats', '--data-dir', root, '--bogus'), await run('compact', '--data-dir', root, '--json')];
  for (const r of usage) {
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /usage: switchboard store stats/);
  }
  const missing = await run('stats', '--data-dir', join(root, 'nothing-here'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^switchboard store stats: no store in .*nothing-here: the directory does not exist\n$/);

  const garbage = join(root, 'garbage');
  mkdirSync(garbage);
  writeFileSync(join(garbage, 'switchboard.db'), 'not a database at all, not at all, not at all, not at all, not at all, not at all, not at all');
  const g = await run('export', '--data-dir', garbage);
  assert.equal(g.code, 1);
  assert.match(g.err, /^switchboard store export: .*switchboard\.db is not a SQLite database: refusing to open it/);

  const busy = join(root, 'busy');
  const held = await SqliteStores.open({ dataDir: busy });
  try {
    const b = await run('stats', '--data-dir', busy);
    assert.equal(b.code, 1);
    assert.match(b.err, /^switchboard store stats: the data directory .*busy is in use by this process/);
    for (const r of [missing, g, b]) assert.doesNotMatch(r.err, /\n\s+at /);
  } finally {
    await held.close();
  }
});
