/**
 * The Dockerfile and the systemd unit, statically (fast, every run): what a container or a
 * service needs to run the broker safely. The slow replay of the Dockerfile's build (npm ci in
 * a clean directory, then start the result) is deploy/check-dockerfile.sh, a step of .ci/run;
 * here only its --dry-run: the Dockerfile parses and every COPY source is in the build context.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/http/console.js';

const run = promisify(execFile);

// The repository (the tests may be compiled elsewhere): the console's lookup serves here too.
const ROOT = packageRoot();
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of each stage; continuations joined, comment lines dropped. */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  let cur = '';
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const t = raw.trim();
    if (t.startsWith('#') || (t === '' && cur !== '')) continue;
    if (t.endsWith('\\')) {
      cur += t.slice(0, -1) + ' ';
      continue;
    }
    lines.push((cur + t).trim());
    cur = '';
  }
  for (const line of lines) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) continue;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim() };
    if (ins.op === 'FROM') out.push([]);
    const stage = out[out.length - 1];
    assert.ok(stage !== undefined, `${ins.op} before the first FROM`);
    stage.push(ins);
  }
  return out;
}

const jsonArray = (s: string): string[] => {
  const v: unknown = JSON.parse(s);
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `not a JSON string array: ${s}`);
  return v as string[];
};
const all = (stage: Instruction[], op: string): string[] => stage.filter((i) => i.op === op).map((i) => i.args);
const one = (stage: Instruction[], op: string): string => {
  const found = all(stage, op);
  assert.equal(found.length, 1, `expected one ${op} in the final stage, found ${found.length}`);
  return found[0]!;
};

/** ENV lines as a map (KEY=VALUE pairs, or the old `ENV KEY VALUE`). */
function env(stage: Instruction[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const args of all(stage, 'ENV')) {
    const words = args.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
    if (words.length === 2 && !words[0]!.includes('=')) vars.set(words[0]!, words[1]!);
    else
      for (const w of words) {
        const i = w.indexOf('=');
        const v = w.slice(i + 1);
        vars.set(w.slice(0, i), v.startsWith('"') ? (JSON.parse(v) as string) : v);
      }
  }
  return vars;
}

const dockerfile = stages(read('Dockerfile'));
const build = dockerfile[0] ?? [];
const final = dockerfile[dockerfile.length - 1] ?? [];

test('Dockerfile: a build stage and a slim runtime stage on the same Node major', () => {
  assert.ok(dockerfile.length >= 2, 'multi-stage: at least two FROM');
  const from = dockerfile.map((s) => s[0]!.args);
  const majors = from.map((f) => /^node:(\d+)-/.exec(f)?.[1]);
  assert.ok(majors.every((m) => m !== undefined && m === majors[0]), `one Node major (the native better-sqlite3 must load): ${from.join(', ')}`);
  const pkg = JSON.parse(read('package.json')) as { engines?: { node?: string } };
  assert.match(pkg.engines?.node ?? '', new RegExp(`>=\\s*${majors[0]}(\\D|$)`), 'the image runs the Node major package.json targets');
  assert.match(from[from.length - 1]!, /-slim\b/, 'runtime on a slim image');
  const runs = all(build, 'RUN').join('\n');
  for (const cmd of [/\bnpm ci\b/, /\bnpm run build\b/, /\bnpm prune --omit=dev\b/]) assert.match(runs, cmd);
  assert.doesNotMatch(all(final, 'RUN').join('\n'), /\bnpm (ci|install)\b/, 'the runtime gets its node_modules from the build stage');
  const name = /\sAS\s+(\S+)$/i.exec(dockerfile[0]![0]!.args)?.[1];
  assert.ok(name !== undefined, 'the build stage is named');
  const copies = all(final, 'COPY');
  assert.ok(copies.some((c) => c.includes(`--from=${name}`) && c.includes('node_modules')), 'node_modules copied from the build stage');
  assert.ok(copies.some((c) => c.includes(`--from=${name}`) && c.includes('console/dist')), 'the web console copied too');
});

test('Dockerfile: non-root, data on a volume, ports exposed, health check, entrypoint runs the CLI', () => {
  const user = one(final, 'USER');
  assert.doesNotMatch(user, /^(root|0)(:|$)/, 'USER is not root');

  const vars = env(final);
  const dataDir = vars.get('SWITCHBOARD_STORE_DATA_DIR');
  assert.ok(dataDir !== undefined, 'the runtime sets SWITCHBOARD_STORE_DATA_DIR');
  const volumes = all(final, 'VOLUME').flatMap((v) => (v.startsWith('[') ? jsonArray(v) : v.split(/\s+/)));
  assert.deepEqual(volumes, [dataDir], 'the data directory is the VOLUME');

  const listen = (vars.get('SWITCHBOARD_LISTEN') ?? '').split(',');
  const exposed = all(final, 'EXPOSE').flatMap((e) => e.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ''));
  assert.ok(listen.length > 0 && listen.every((u) => /^(mqtts?|stomps?|wss?):\/\/0\.0\.0\.0:\d+/.test(u)), `listeners on every interface: ${listen.join(',')}`);
  const ports = [...new Set(listen.map((u) => /:(\d+)/.exec(u.replace(/^\w+:\/\//, ''))?.[1]))];
  assert.deepEqual([...exposed].sort(), ports.map(String).sort(), 'EXPOSE = the listeners\' ports');

  const health = one(final, 'HEALTHCHECK');
  const hm = /^(?:--\S+\s+)*CMD\s+(\[[\s\S]*\])$/.exec(health);
  assert.ok(hm, `HEALTHCHECK ... CMD [exec form]: ${health}`);
  const probe = jsonArray(hm[1]!);
  assert.equal(probe[0], 'node', 'no curl in the slim image');
  const url = /http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(probe.join(' '));
  assert.ok(url, 'the probe asks /healthz on loopback');
  assert.ok(listen.some((u) => u.startsWith(`ws://0.0.0.0:${url[1]}/`)), `a ws listener on the probe's port ${url[1]}`);

  const entry = jsonArray(one(final, 'ENTRYPOINT'));
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
  assert.equal(entry[0], 'node', 'exec form: node is PID 1 and gets SIGTERM');
  assert.ok(entry[1]?.endsWith(`/${pkg.bin.switchboard}`), `ENTRYPOINT runs ${pkg.bin.switchboard}: ${entry.join(' ')}`);
  const cmd = jsonArray(one(final, 'CMD'));
  assert.equal(cmd[0], '--config', 'CMD reads the mounted configuration');
});

test('.dockerignore keeps the local build and the repository out of the context', () => {
  const lines = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['.git', 'dist', 'console/dist']) assert.ok(lines.includes(p), `.dockerignore: ${p}`);
  assert.ok(lines.includes('**/node_modules') || lines.includes('node_modules'), '.dockerignore: node_modules');
});

test('deploy/check-dockerfile.sh --dry-run: the Dockerfile replays, every COPY source is in the context', async () => {
  const r = await run('bash', [join(ROOT, 'deploy', 'check-dockerfile.sh'), '--dry-run'], { cwd: ROOT, timeout: 60_000 });
  assert.match(r.stdout, /dry run ok/);
  assert.match(r.stdout, /\(dry run\) RUN sh -c npm ci\b/);
  assert.match(r.stdout, /not replayed \(final stage\): RUN /);
});

/** [Section] -> key -> values (a key may repeat). */
function unit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      cur = new Map();
      sections.set(s[1]!, cur);
      continue;
    }
    const i = line.indexOf('=');
    assert.ok(cur !== undefined && i > 0, `not a key=value in a section: ${line}`);
    const key = line.slice(0, i).trim();
    cur.set(key, [...(cur.get(key) ?? []), line.slice(i + 1).trim()]);
  }
  return sections;
}

test('deploy/switchboard.service: dedicated user, reload, restart, state directory, hardening', () => {
  const u = unit(read('deploy/switchboard.service'));
  const svc = u.get('Service');
  assert.ok(svc !== undefined, '[Service]');
  const get = (k: string): string | undefined => svc.get(k)?.at(-1);
  assert.equal(get('Type'), 'simple');
  assert.ok(get('User') !== undefined && !/^(root|0)$/.test(get('User')!), 'a dedicated user');
  const exec = get('ExecStart') ?? '';
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
  assert.ok(exec.includes(pkg.bin.switchboard!), `ExecStart runs the CLI: ${exec}`);
  assert.match(exec, /--config \/etc\/switchboard\/switchboard\.yaml/);
  assert.equal(get('ExecReload'), '/bin/kill -HUP $MAINPID', 'SIGHUP reloads the configuration');
  assert.equal(get('KillMode'), 'mixed', 'SIGTERM to the primary only (cluster workers are stopped by it)');
  assert.equal(get('Restart'), 'on-failure');
  assert.equal(get('StateDirectory'), 'switchboard');
  assert.ok(svc.get('Environment')?.includes('SWITCHBOARD_STORE_DATA_DIR=/var/lib/switchboard'), 'the store lives in the state directory');
  assert.ok(Number(get('LimitNOFILE')) >= 65536, 'one descriptor per connection: LimitNOFILE');
  for (const [k, v] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
  ] as const)
    assert.equal(get(k), v, `${k}=${v}`);
  assert.equal(get('MemoryDenyWriteExecute'), undefined, 'V8 needs W+X memory');
  assert.ok(u.get('Install')?.get('WantedBy')?.includes('multi-user.target'), '[Install] WantedBy=multi-user.target');
});

test('deploy/switchboard.service: systemd-analyze verify finds nothing (where systemd is installed)', async (t) => {
  const which = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => null);
  if (which === null) {
    t.skip('no systemd-analyze here: the static checks above stand');
    return;
  }
  const r = await run('systemd-analyze', ['verify', join(ROOT, 'deploy', 'switchboard.service')], { timeout: 30_000 }).then(
    (x) => x.stdout + x.stderr,
    (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
  );
  // Lines about this unit only, except a node that is not at /usr/bin/node on this machine.
  const problems = r.split('\n').filter((l) => l.includes('switchboard.service') && !/is not executable/.test(l));
  assert.deepEqual(problems, []);
});

test('deploy/README.md documents both ways', () => {
  const doc = read('deploy/README.md');
  for (const s of ['docker build', 'docker run', '/var/lib/switchboard', '/etc/switchboard/switchboard.yaml', '--allow-anonymous', 'systemctl', 'check-dockerfile.sh'])
    assert.ok(doc.includes(s), `deploy/README.md mentions ${s}`);
});
