/**
 * The README's "A contact centre in five commands", run as written: the command lines are read
 * from the README itself, pointed at free ports (the broker gets --listen flags, the clients
 * -p / STOMP_PORT), and each shows what the README says it shows.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, testEnv } from '../helpers/cli.js';
import { missingServices, spawnWatched } from '../helpers/services.js';
import type { Proc } from '../helpers/services.js';

const root = process.cwd();
const skip = missingServices('mosquitto_sub', 'mosquitto_pub', 'stdbuf') || (hasStompPy() ? false : 'python3-stomp is not installed');
const procs: Proc[] = [];
after(async () => {
  // Clients first, the broker last: a mosquitto_sub whose broker is already gone keeps
  // reconnecting and may not act on SIGTERM (a clean-clone CI run hung here); SIGKILL then.
  for (const p of [...procs].reverse()) {
    p.proc.kill('SIGTERM');
    const kill = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
    await p.exit;
    clearTimeout(kill);
  }
});

function hasStompPy(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import stomp']).status === 0;
}

/** The commands of the README's contact-centre block, split into words (single and double quotes). */
function commands(): string[][] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### A contact centre in five commands'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => [...l.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!));
}

test('the five commands of the README', { skip }, async () => {
  const cmds = commands();
  assert.equal(cmds.length, 5, 'five commands');
  const [brokerCmd, supCmd, agentCmd, serviceCmd, answerCmd] = cmds as [string[], string[], string[], string[], string[]];
  assert.deepEqual(brokerCmd.slice(0, 2), ['npx', 'switchboard']);
  const broker = spawnWatched(process.execPath, [MAIN, ...brokerCmd.slice(2), '--listen', 'mqtt://127.0.0.1:0', '--listen', 'stomp://127.0.0.1:0'], testEnv({ SWITCHBOARD_LOG_LEVEL: 'warn' }));
  procs.push(broker);
  const port = (re: RegExp): Promise<number> => broker.waitFor(re, 20_000, 0).then((l) => Number(/:(\d+)$/.exec(l)![1]));
  const mqttPort = await port(/^listening mqtt:\/\//);
  const stompPort = await port(/^listening stomp:\/\//);
  // mosquitto_sub buffers its output in a pipe: line-buffered, with -d to see its SUBACK.
  const sub = (cmd: string[]): Proc => spawnWatched('stdbuf', ['-oL', cmd[0]!, '-d', '-h', '127.0.0.1', '-p', String(mqttPort), ...cmd.slice(1)], testEnv());

  assert.equal(supCmd[0], 'mosquitto_sub');
  const sup = sub(supCmd);
  procs.push(sup);
  await sup.waitFor(/received SUBACK/, 20_000, 0);
  assert.equal(agentCmd[0], 'mosquitto_sub');
  const agent = sub(agentCmd);
  procs.push(agent);
  await agent.waitFor(/received SUBACK/, 20_000, 0);
  const joined = await sup.waitFor(/^\$members\/rooms\/support /, 20_000, 0);
  assert.match(joined, /agent-1/, 'the supervisor sees agent-1 join the room');

  assert.deepEqual(serviceCmd.slice(0, 2), ['/usr/bin/python3', 'examples/contact-centre-service.py']);
  const service = spawnWatched(serviceCmd[0]!, serviceCmd.slice(1), testEnv({ STOMP_PORT: String(stompPort) }));
  procs.push(service);
  await service.waitFor(/sent agent-1 a call/, 20_000, 0);
  await agent.waitFor(/^\$inbox\/agent-1 new call: \+1 555 0100 \(from:svc-1\)$/, 20_000, 0);
  const watched = await sup.waitFor(/^\$monitor\/agent-1 /, 20_000, 0);
  assert.match(watched, /new call/, 'the supervisor sees the call agent-1 received');

  assert.equal(answerCmd[0], 'mosquitto_pub');
  const answer = spawnWatched(answerCmd[0]!, ['-h', '127.0.0.1', '-p', String(mqttPort), ...answerCmd.slice(1)], testEnv());
  assert.equal(await answer.exit, 0);
  await service.waitFor(/^taking it \(from agent-1b\)$/, 20_000, 0);
});
