/**
 * Shutdown never depends on who reads the broker's output: SIGTERM ends the process when the
 * reader of its stdout/stderr has gone (a supervisor restarted, a script that exited), and a
 * reader that stopped reading neither blocks the broker nor its exit (logging.ts LogDestination).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { MAIN, testEnv } from '../helpers/cli.js';

const run = promisify(execFile);

/** Resolves true once process `pid` is gone, false after `ms`. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('SIGTERM after the process that read stdout/stderr exited: the broker exits', async () => {
  // The reproduction: a script starts the broker with piped stdio, reads the listening
  // line, and exits; the broker's output now has no reader.
  const script = `
    const { spawn } = require('node:child_process');
    const p = spawn(process.execPath, [${JSON.stringify(MAIN)}, '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'info', '--no-pretty'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.stdout.once('data', () => { process.stdout.write(String(p.pid)); process.exit(0); });`;
  const { stdout } = await run(process.execPath, ['-e', script], { env: testEnv(), timeout: 20_000 });
  const pid = Number(stdout);
  assert.ok(pid > 0);
  try {
    // Nothing was logged since the reader left: the shutdown line is the first to meet the dead pipe.
    process.kill(pid, 'SIGTERM');
    assert.equal(await gone(pid, 10_000), true, 'exited after SIGTERM');
  } finally {
    if (!(await gone(pid, 0))) process.kill(pid, 'SIGKILL');
  }
});

test('a log reader that stopped reading: clients are still served, SIGTERM still exits', async () => {
  const p = spawn(process.execPath, [MAIN, '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'debug', '--no-pretty'], { env: testEnv() });
  try {
    const url = await new Promise<string>((resolve) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (mqtt:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    });
    p.stderr.pause(); // nobody reads the logs from now on: the pipe fills
    // Far more log than a pipe holds (every connection logs lines at info and debug).
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const c = await mqtt.connectAsync(url, { clientId: `c-${round}-${i}-${'x'.repeat(200)}`, reconnectPeriod: 0 });
          await c.endAsync();
        }),
      );
    }
    const c = await mqtt.connectAsync(url, { clientId: 'still-served', reconnectPeriod: 0 });
    await c.subscribeAsync('t');
    const got = new Promise<string>((r) => c.once('message', (_t, m) => r(m.toString())));
    await c.publishAsync('t', 'pong');
    assert.equal(await got, 'pong');
    await c.endAsync();
    const exited = new Promise<number | null>((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('hung'), 10_000))]);
    assert.equal(code, 0);
  } finally {
    p.kill('SIGKILL');
  }
});
