/** Login sources (password file, HTTP hook), brute-force slow-down, keepalive presence, reload by SIGHUP, paho and stomp.py in an application. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { upsertPasswordFile } from '../../src/auth/passwords.js';
import { startBroker } from '../helpers/broker.js';
import { testEnv } from '../helpers/cli.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox, publishReason } from '../helpers/mqtt.js';
import { connectV5, RawClient, readPacket } from '../helpers/raw.js';
import { ManualClock, SWEEP_MS } from '../../src/core/clock.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sb-login-'));
const passwd = join(dir, 'users.passwd');
const hookCalls: string[] = [];
let hook: http.Server;
let b: RunningBroker;
/** The broker's clock (core/clock.ts): the keepalive test moves it instead of sleeping. */
const clock = new ManualClock();

before(async () => {
  await upsertPasswordFile(passwd, 'pw-agent', 'AGENT', 'correct horse');
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const r = JSON.parse(body) as { login: string; password: string };
      hookCalls.push(r.login);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(r.password === 'hook-ok' ? { allow: true, profile: 'service' } : { allow: false }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`;
  b = await startBroker({
    listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'],
    applications: [
      {
        id: 'app',
        appKey: 'app_key_123',
        profileKeys: { AGENT: 'agent_key_123', SERVICE: 'service_key_123', SUPER_AGENT: 'super_key_123' },
        passwordFile: passwd,
        httpAuth: { url: hookUrl, timeoutMs: 1000, retries: 0, cacheTtlMs: 60_000, denyOnError: true },
        duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'reject' },
        acl: [],
        grants: { AGENT: { subscribe: ['news/#'] } },
        presenceTopics: [],
      },
    ],
  }, { clock });
});
after(async () => {
  await b.stop();
  hook.close();
});

const url = (): string => b.url('mqtt');

test('password file (scrypt): right password logs in with its profile, wrong one is refused', async () => {
  const c = await connect(url(), { protocolVersion: 5, clientId: 'pw-agent', username: 'app_key_123', password: 'correct horse' });
  await end(c);
  await assert.rejects(connect(url(), { protocolVersion: 5, clientId: 'pw-agent', username: 'app_key_123', password: 'wrong horse' }));
});

test('HTTP auth hook: allow with a profile, deny, answers cached', async () => {
  const c = await connect(url(), { protocolVersion: 5, clientId: 'hooked', username: 'app_key_123', password: 'hook-ok' });
  assert.equal(b.broker.listClients('app').find((x) => x.clientId === 'hooked')?.profile, 'SERVICE');
  await end(c);
  const again = await connect(url(), { protocolVersion: 5, clientId: 'hooked', username: 'app_key_123', password: 'hook-ok' });
  await end(again);
  assert.equal(hookCalls.filter((x) => x === 'hooked').length, 1); // the second login came from the cache
  await assert.rejects(connect(url(), { protocolVersion: 5, clientId: 'hooked2', username: 'app_key_123', password: 'hook-no' }));
});

test('brute force: repeated failures from one address are slowed down', async () => {
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const c = await RawClient.connect(b.port('mqtt'));
    const t0 = Date.now();
    // CONNECT v5 with user name + password: wrong password
    const id = Buffer.from('brute');
    const user = Buffer.from('app_key_123');
    const pass = Buffer.from(`bad-${i}`);
    const body = Buffer.concat([
      Buffer.from('00044d51545405c2003c00', 'hex'),
      Buffer.from([0, id.length]), id,
      Buffer.from([0, user.length]), user,
      Buffer.from([0, pass.length]), pass,
    ]);
    c.send(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    const ack = await readPacket(c);
    times.push(Date.now() - t0);
    assert.equal(ack[3], 0x86);
    c.end();
  }
  assert.ok(times[0]! < 100, `first failure answered at once (${times[0]} ms)`);
  assert.ok(times[5]! >= 200, `sixth failure delayed (${times[5]} ms)`);
});

test('presence reports a keepalive timeout', async () => {
  const w = await connect(url(), { protocolVersion: 5, clientId: 'watcher', username: 'app_key_123', password: 'super_key_123' });
  const inbox = new Inbox(w);
  await w.subscribeAsync('$presence/sleepy', { qos: 1 });
  const c = await RawClient.connect(b.port('mqtt'));
  const id = Buffer.from('sleepy');
  const user = Buffer.from('app_key_123');
  const pass = Buffer.from('agent_key_123');
  const body = Buffer.concat([Buffer.from('00044d51545405c2000100', 'hex'), Buffer.from([0, id.length]), id, Buffer.from([0, user.length]), user, Buffer.from([0, pass.length]), pass]);
  c.send(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  await readPacket(c);
  assert.equal((JSON.parse((await inbox.next()).payload.toString()) as { online: boolean }).online, true);
  clock.advance(1500 + SWEEP_MS); // keepalive 1 s: closed 1.5 s after the last packet, at the sweep's next check
  const off = JSON.parse((await inbox.next()).payload.toString()) as { online: boolean; reason: string };
  assert.deepEqual([off.online, off.reason], [false, 'keepalive-timeout']);
  await end(w);
});

test('paho-mqtt and stomp.py log in to an application and exchange direct messages', async () => {
  const script = `
import sys, threading, stomp
import paho.mqtt.client as mqtt
mport, sport = int(sys.argv[1]), int(sys.argv[2])
kw = {'callback_api_version': mqtt.CallbackAPIVersion.VERSION2} if hasattr(mqtt, 'CallbackAPIVersion') else {}
got = threading.Event(); box = {}
m = mqtt.Client(client_id='paho-agent', protocol=mqtt.MQTTv5, **kw)
m.username_pw_set('app_key_123', 'agent_key_123')
def on_message(c, u, msg):
    box['p'] = msg.payload; box['from'] = dict(msg.properties.UserProperty).get('from') if hasattr(msg.properties, 'UserProperty') else None; got.set()
subscribed = threading.Event()
m.on_message = on_message
m.on_subscribe = lambda *a: subscribed.set()
m.connect('127.0.0.1', mport, 30); m.loop_start()
m.subscribe('$inbox/paho-agent/#', qos=1)
assert subscribed.wait(5)
s = stomp.Connection12([('127.0.0.1', sport)], heartbeats=(0, 0), vhost='app_key_123')  # host header = app key
s.connect('py-service', 'service_key_123', wait=True)
s.send('/topic/$inbox/paho-agent', 'call waiting')
assert got.wait(5), 'no direct message'
assert box['p'] == b'call waiting', box
assert box['from'] == 'py-service', box
s.disconnect(); m.disconnect(); m.loop_stop()
print('ok')
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', script, String(b.port('mqtt')), String(b.port('stomp'))], { timeout: 20_000 });
  assert.equal(stdout.trim(), 'ok');
});

test('SIGHUP reloads permissions in a running switchboard', async () => {
  const cfg = join(dir, 'reload.yaml');
  const yaml = (extra: string): string => `applications:
  - id: r
    appKey: reload_app_key
    profileKeys: { AGENT: reload_agent_key }
    acl: [${extra}]
`;
  writeFileSync(cfg, yaml(''));
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const p = spawn(process.execPath, [main, '--config', cfg, '--listen', 'mqtt://127.0.0.1:0', '--log-level', 'info', '--no-pretty'], { env: testEnv() });
  let log = '';
  const logged = (what: string): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (log.includes(what)) {
          p.stderr.off('data', on);
          resolve();
        }
      };
      const on = (d: Buffer): void => {
        log += d.toString();
        check();
      };
      p.stderr.on('data', on);
      check();
    });
  try {
    const brokerUrl = await new Promise<string>((resolve) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (mqtt:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    });
    const c = await connect(brokerUrl, { protocolVersion: 5, clientId: 'r1', username: 'reload_app_key', password: 'reload_agent_key' });
    assert.equal(await publishReason(c, 'reloaded/x', 'x'), 0x87);
    writeFileSync(cfg, yaml('{ permission: allow, action: publish, topic: "reloaded/#" }'));
    const reloaded = logged('configuration reloaded');
    p.kill('SIGHUP');
    await reloaded;
    assert.equal(await publishReason(c, 'reloaded/x', 'x'), 0x10);
    await end(c);
  } finally {
    p.kill('SIGKILL');
  }
});
