/** `switchboard token` and `switchboard passwd`. */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { signHs256 } from '../auth/jwt.js';
import { upsertPasswordFile } from '../auth/passwords.js';
import { parseProfile } from '../auth/types.js';
import { loadConfig } from '../config/load.js';

/** "30s", "15m", "1h", "7d" or plain seconds. */
export function parseTtl(s: string): number | null {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) return null;
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

const TOKEN_USAGE = 'usage: switchboard token --app APP --sub LOGIN --profile agent|super_agent|service|admin [--ttl 1h] [--secret S | --config FILE]\n';

/** A subcommand's error, reported as `switchboard CMD: message` with this exit status (no stack). */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export async function tokenCommand(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: { app: { type: 'string' }, sub: { type: 'string' }, profile: { type: 'string' }, ttl: { type: 'string' }, secret: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    throw new CommandError(`${(err as Error).message}\n${TOKEN_USAGE}`);
  }
  if (v.help) {
    process.stdout.write(TOKEN_USAGE);
    return 0;
  }
  for (const k of ['app', 'sub', 'profile'] as const) if (!v[k]) throw new CommandError(`--${k} is required\n${TOKEN_USAGE}`);
  const profile = parseProfile(v.profile!);
  if (!profile) throw new CommandError(`--profile "${v.profile}" is not a profile (agent, super_agent, service, admin)`);
  const ttl = parseTtl(v.ttl ?? '1h');
  if (ttl === null || ttl === 0) throw new CommandError(`--ttl "${v.ttl}" is not a lifetime (30s, 15m, 1h, 7d or seconds)`);
  let secret = v.secret ?? process.env.SWITCHBOARD_JWT_SECRET;
  if (secret === undefined && v.config) {
    // The broker's own loading and validation: the same errors, naming the key.
    const config = loadConfig({ configFile: v.config, env: process.env, flags: {} });
    const app = config.applications.find((a) => a.id === v.app);
    if (!app) throw new CommandError(`${v.config} has no application "${v.app}" (it has: ${config.applications.map((a) => a.id).join(', ') || 'none, development mode'})`, 1);
    secret = app.jwt?.hs256Secret;
    if (!secret) throw new CommandError(`application "${v.app}" in ${v.config} has no applications[].jwt.hs256Secret: tokens cannot be signed for it`, 1);
    if (ttl > config.auth.maxTokenLifetime) throw new CommandError(`--ttl ${v.ttl} is longer than auth.maxTokenLifetime (${config.auth.maxTokenLifetime} s): the broker would refuse the token`);
  }
  if (!secret) throw new CommandError('no secret: give --secret, SWITCHBOARD_JWT_SECRET, or --config with applications[].jwt.hs256Secret');
  process.stdout.write(signHs256({ sub: v.sub!, app: v.app!, profile: profile.toLowerCase() }, secret, ttl) + '\n');
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
