/**
 * Discovery between two network namespaces the test creates (a veth pair), never on a real
 * interface: the gateway (a switchboard process in one namespace) advertises on the multicast
 * group and answers SEARCHGW; a client in the other namespace finds it both ways, connects to
 * the address the answers came from, and its publish reaches a subscriber of the gateway.
 * Needs root (ip netns); skipped otherwise unless SERVICES_REQUIRED=1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MAIN, testEnv } from '../helpers/cli.js';
import { missingServices, spawnWatched } from '../helpers/services.js';
import type { Proc } from '../helpers/services.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;
const skip = missingServices('ip', 'mosquitto_sub', 'stdbuf') || (root ? false : 'network namespaces need root');
if (skip !== false && process.env.SERVICES_REQUIRED === '1' && !root) throw new Error(`discovery-netns: ${skip}`);

const id = process.pid % 10_000;
const GW_NS = `sbgw${id}`;
const CL_NS = `sbcl${id}`;
const net = `10.${200 + (id % 50)}.${id % 250}`;
const GW = `${net}.1`;
const CL = `${net}.2`;
const GROUP = '225.1.1.1';
const PORT = 1884;
const CLIENT = fileURLToPath(new URL('./netns-client.js', import.meta.url));
let gateway: Proc | null = null;

const ip = (...args: string[]): Promise<unknown> => run('ip', args);

before(async () => {
  if (skip !== false) return;
  await ip('netns', 'add', GW_NS);
  await ip('netns', 'add', CL_NS);
  await ip('link', 'add', `sbg${id}`, 'type', 'veth', 'peer', 'name', `sbc${id}`);
  await ip('link', 'set', `sbg${id}`, 'netns', GW_NS);
  await ip('link', 'set', `sbc${id}`, 'netns', CL_NS);
  for (const [ns, dev, addr] of [[GW_NS, `sbg${id}`, GW], [CL_NS, `sbc${id}`, CL]] as const) {
    await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    await ip('-n', ns, 'link', 'set', dev, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
});

after(async () => {
  if (skip !== false) return;
  gateway?.proc.kill('SIGKILL');
  await gateway?.exit;
  await ip('netns', 'del', GW_NS).catch(() => undefined);
  await ip('netns', 'del', CL_NS).catch(() => undefined);
});

test('a client in another namespace finds the gateway by ADVERTISE and by SEARCHGW, and connects to it', { skip, timeout: 60_000 }, async () => {
  gateway = spawnWatched('ip', [
    'netns', 'exec', GW_NS, process.execPath, MAIN,
    '--listen', `mqttsn://${GW}:${PORT}`, '--listen', 'mqtt://127.0.0.1:1883', '--allow-anonymous',
    '--set', 'mqttsn.advertise=true', '--set', `mqttsn.multicastInterface=${GW}`, '--set', 'mqttsn.advertiseSeconds=1', '--set', 'mqttsn.gatewayId=42',
  ], testEnv({ SWITCHBOARD_LOG_LEVEL: 'warn' }));
  await gateway.waitFor(/^listening mqttsn:\/\//, 20_000, 0);
  // A subscriber inside the gateway's namespace (its loopback).
  const sub = spawnWatched('ip', ['netns', 'exec', GW_NS, 'stdbuf', '-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', '1883', '-t', 'netns/#', '-v'], testEnv());
  try {
    await sub.waitFor(/received SUBACK/, 20_000, 0);
    const { stdout } = await run('ip', ['netns', 'exec', CL_NS, process.execPath, CLIENT, GROUP, String(PORT), CL], { timeout: 40_000 });
    const seen = JSON.parse(stdout) as { advertise: { gwId: number; address: string; port: number }; gwinfo: { gwId: number; address: string; port: number } };
    assert.deepEqual(seen.advertise, { gwId: 42, address: GW, port: PORT }, 'ADVERTISE from the gateway address');
    assert.deepEqual(seen.gwinfo, { gwId: 42, address: GW, port: PORT }, 'GWINFO from the gateway address');
    await sub.waitFor(/^netns\/hello found you$/, 10_000, 0);
  } finally {
    sub.proc.kill('SIGTERM');
  }
});
