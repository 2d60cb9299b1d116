/**
 * Passwords: scrypt hashes in a self-describing string, constant-time comparisons, and the
 * password file (`login:PROFILE:$scrypt$N=..,r=..,p=..$salt$hash`, `#` comments).
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { parseProfile } from './types.js';
import type { Profile } from './types.js';

function scrypt(pw: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(pw, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const N = 16384;
const R = 8;
const P = 1;

export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(pw, salt, 32, { N, r: R, p: P });
  return `$scrypt$N=${N},r=${R},p=${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(pw: string, encoded: string): Promise<boolean> {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(encoded);
  if (!m) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  const key = await scrypt(pw, Buffer.from(m[4]!, 'base64'), expected.length, { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), maxmem: 256 * 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Constant-time string comparison (both sides hashed first, so lengths do not leak). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export interface PasswordEntry {
  profile: Profile;
  hash: string;
}

export function parsePasswordFile(text: string, source: string): Map<string, PasswordEntry> {
  const out = new Map<string, PasswordEntry>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) return;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first <= 0 || second < 0) throw new Error(`${source}:${i + 1}: expected login:PROFILE:hash`);
    const login = line.slice(0, first);
    const profile = parseProfile(line.slice(first + 1, second));
    const hash = line.slice(second + 1);
    if (!profile) throw new Error(`${source}:${i + 1}: unknown profile "${line.slice(first + 1, second)}"`);
    if (!hash.startsWith('$scrypt$')) throw new Error(`${source}:${i + 1}: the hash is not an scrypt hash`);
    out.set(login, { profile, hash });
  });
  return out;
}

export function loadPasswordFile(path: string): Map<string, PasswordEntry> {
  return parsePasswordFile(readFileSync(path, 'utf8'), path);
}

/** Add or update one entry; the file is rewritten atomically (temp file + rename), mode 0600. */
export async function upsertPasswordFile(path: string, login: string, profile: Profile, password: string): Promise<void> {
  if (login.includes(':') || login.length === 0) throw new Error('a login may not be empty or contain ":"');
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0) : [];
  const entry = `${login}:${profile}:${await hashPassword(password)}`;
  const i = lines.findIndex((l) => l.startsWith(`${login}:`));
  if (i >= 0) lines[i] = entry;
  else lines.push(entry);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}
