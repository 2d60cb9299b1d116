/** Run the switchboard executable as a child process (the way a user starts it). */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliBroker {
  proc: ChildProcessWithoutNullStreams;
  /** The first `listening mqtt://...` URL it printed. */
  url: string;
  /** Resolves with the exit code. */
  exit: Promise<number | null>;
}

/** Start `switchboard ARGS` and wait for its first MQTT `listening` line. */
export async function startCli(args: string[]): Promise<CliBroker> {
  const proc = spawn(process.execPath, [MAIN, ...args], { env: testEnv() });
  const exit = new Promise<number | null>((r) => proc.on('exit', r));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (mqtt:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`exited ${code}`)));
  });
  return { proc, url, exit };
}

/**
 * The environment for a broker a test starts: the memory store unless the test chooses
 * otherwise (the default SQLite store would share ./data between the tests running at once).
 */
export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, SWITCHBOARD_STORE_TYPE: process.env.SWITCHBOARD_STORE_TYPE ?? 'memory', ...extra };
}
