/** `switchboard token` and `switchboard passwd`. */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { signHs256 } from '../auth/jwt.js';
import { upsertPasswordFile } from '../auth/passwords.js';
import { parseProfile } from '../auth/types.js';
import { readConfigFile } from '../config/load.js';

/** "30s", "15m", "1h", "7d" or plain seconds. */
export function parseTtl(s: string): number | null {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) return null;
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

export async function tokenCommand(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: { app: { type: 'string' }, sub: { type: 'string' }, profile: { type: 'string' }, ttl: { type: 'string' }, secret: { type: 'string' }, config: { type: 'string' } },
    }).values;
  } catch (err) {
    process.stderr.write(`switchboard token: ${(err as Error).message}\n`);
    return 2;
  }
  const profile = v.profile ? parseProfile(v.profile) : null;
  const ttl = parseTtl(v.ttl ?? '1h');
  if (!v.app || !v.sub || !profile || ttl === null) {
    process.stderr.write('usage: switchboard token --app APP --sub LOGIN --profile agent|super_agent|service|admin [--ttl 1h] [--secret S | --config FILE]\n');
    return 2;
  }
  let secret = v.secret ?? process.env.SWITCHBOARD_JWT_SECRET;
  if (secret === undefined && v.config) {
    const cfg = readConfigFile(v.config) as { applications?: Array<{ id?: string; jwt?: { hs256Secret?: string } }> };
    secret = cfg.applications?.find((a) => a.id === v.app)?.jwt?.hs256Secret;
  }
  if (!secret) {
    process.stderr.write('switchboard token: no secret: give --secret, SWITCHBOARD_JWT_SECRET, or --config with applications[].jwt.hs256Secret\n');
    return 2;
  }
  process.stdout.write(signHs256({ sub: v.sub, app: v.app, profile: profile.toLowerCase() }, secret, ttl) + '\n');
  return 0;
}

async function readPassword(input: NodeJS.ReadableStream, tty: boolean): Promise<string> {
  const rl = createInterface({ input, output: tty ? process.stderr : undefined, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (prompt: string): Promise<string> => {
    if (tty) process.stderr.write(prompt);
    const r = await lines.next();
    return r.done ? '' : String(r.value);
  };
  const pw = await ask('Password: ');
  if (tty && (await ask('Again: ')) !== pw) {
    rl.close();
    throw new Error('the passwords do not match');
  }
  rl.close();
  return pw;
}

export async function passwdCommand(argv: string[], input: NodeJS.ReadableStream = process.stdin): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { profile: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`switchboard passwd: ${(err as Error).message}\n`);
    return 2;
  }
  const [file, login] = parsed.positionals;
  const profile = parseProfile(parsed.values.profile ?? 'agent');
  if (!file || !login || !profile) {
    process.stderr.write('usage: switchboard passwd FILE LOGIN [--profile agent|super_agent|service|admin]  (password on stdin)\n');
    return 2;
  }
  try {
    const pw = await readPassword(input, input === process.stdin && process.stdin.isTTY === true);
    if (pw.length === 0) throw new Error('empty password');
    await upsertPasswordFile(file, login, profile, pw);
  } catch (err) {
    process.stderr.write(`switchboard passwd: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`${login} (${profile}) written to ${file}\n`);
  return 0;
}
