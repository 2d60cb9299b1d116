/**
 * Login throttling and token rules against a real broker and real clients (MQTT.js, stompjs):
 * a valid key between guesses buys nothing, one login attacked from many addresses is slowed,
 * parallel logins per address are capped (MQTT 0x89 / 3, STOMP "server busy"), absurd JWT exp.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import type { IClientOptions, IStream } from 'mqtt';
import { Client } from '@stomp/stompjs';
import type { IStompSocket } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker, TestConfig } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';
import type { ApplicationConfig } from '../../src/config/types.js';

const APP_KEY = 'sec_app_key';
const AGENT_KEY = 'sec_agent_key';
const JWT_SECRET = 'sec-jwt-secret';

/** An HTTP auth hook that answers "deny" after `delayMs` and counts its calls. */
let hook: http.Server;
let hookUrl = '';
let hookCalls = 0;
const HOOK_DELAY_MS = 400;
before(async () => {
  hook = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hookCalls++;
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ allow: false }));
      }, HOOK_DELAY_MS);
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`;
});
after(() => {
  hook.closeAllConnections();
  hook.close();
});

function app(extra: Partial<ApplicationConfig> = {}): ApplicationConfig {
  return {
    id: 'sec',
    appKey: APP_KEY,
    profileKeys: { AGENT: AGENT_KEY },
    jwt: { hs256Secret: JWT_SECRET },
    duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' },
    acl: [],
    grants: {},
    presenceTopics: [],
    ...extra,
  };
}

async function broker(auth: TestConfig['auth'], extra: Partial<ApplicationConfig> = {}): Promise<RunningBroker> {
  return startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [app(extra)], auth });
}

/**
 * One MQTT login with MQTT.js from `localAddress`; resolves with the CONNACK reason code
 * (0 = accepted) and how long the answer took, ms.
 */
function mqttLogin(b: RunningBroker, opts: IClientOptions, localAddress = '127.0.0.1'): Promise<{ code: number; ms: number }> {
  const port = b.port('mqtt');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = new mqtt.MqttClient(() => net.connect({ port, host: '127.0.0.1', localAddress }) as unknown as IStream, {
      protocolVersion: 5,
      username: APP_KEY,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...opts,
    });
    const done = (code: number): void => {
      const ms = performance.now() - t0;
      c.end(true);
      resolve({ code, ms });
    };
    c.once('connect', () => done(0));
    c.once('error', (err) => {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') done(code);
      else {
        c.end(true);
        reject(err);
      }
    });
  });
}

/** One STOMP login with stompjs over TCP; resolves with the ERROR message ('' = CONNECTED) and the time taken, ms. */
function stompLogin(b: RunningBroker, login: string, passcode: string): Promise<{ message: string; ms: number }> {
  const port = b.port('stomp');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const client = new Client({
      webSocketFactory: () => new TCPWrapper('127.0.0.1', port) as unknown as IStompSocket,
      connectHeaders: { host: APP_KEY, login, passcode },
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
    });
    const t = setTimeout(() => {
      void client.deactivate();
      reject(new Error('no STOMP answer'));
    }, 10_000);
    const done = (message: string): void => {
      clearTimeout(t);
      const ms = performance.now() - t0;
      void client.deactivate();
      resolve({ message, ms });
    };
    client.onConnect = () => done('');
    client.onStompError = (f) => done(f.headers.message ?? '?');
    client.activate();
  });
}

/** With 2 free failures and a 400 ms cap: the answers to failures 1..6 wait at least this long. */
const EXPECTED = [0, 0, 100, 200, 400, 400];
const SLOW = { failureWindowMs: 60_000, freeFailuresPerAddress: 2, freeFailuresPerLogin: 100, maxDelayMs: 400, maxPendingPerAddress: 16 };

describe('brute force: failures are slowed down', () => {
  test('MQTT: a valid AGENT key used between guesses does not reset the slow-down', async () => {
    const b = await broker(SLOW);
    try {
      const took: number[] = [];
      for (let i = 0; i < EXPECTED.length; i++) {
        assert.equal((await mqttLogin(b, { clientId: `legit-${i}`, password: AGENT_KEY })).code, 0);
        const guess = await mqttLogin(b, { clientId: `guess-${i}`, password: `wrong-${i}` }); // a new login id each time
        assert.equal(guess.code, 0x86);
        took.push(Math.round(guess.ms));
      }
      for (let i = 0; i < EXPECTED.length; i++) assert.ok(took[i]! >= EXPECTED[i]!, `failure ${i + 1} answered after ${took[i]} ms, expected >= ${EXPECTED[i]} (all: ${took.join(', ')})`);
      // The valid key is still answered at once.
      const ok = await mqttLogin(b, { clientId: 'legit-last', password: AGENT_KEY });
      assert.deepEqual([ok.code, ok.ms < 100], [0, true]);
    } finally {
      await b.stop();
    }
  });

  test('MQTT: one login guessed from many addresses is slowed down per login', async () => {
    const b = await broker({ ...SLOW, freeFailuresPerAddress: 100, freeFailuresPerLogin: 2 });
    try {
      const took: number[] = [];
      for (let i = 0; i < EXPECTED.length; i++) {
        // Another user's success in between must not help either.
        assert.equal((await mqttLogin(b, { clientId: 'someone', password: AGENT_KEY }, `127.0.0.${50 + i}`)).code, 0);
        const guess = await mqttLogin(b, { clientId: 'victim', password: `wrong-${i}` }, `127.0.0.${10 + i}`);
        assert.equal(guess.code, 0x86);
        took.push(Math.round(guess.ms));
      }
      for (let i = 0; i < EXPECTED.length; i++) assert.ok(took[i]! >= EXPECTED[i]!, `failure ${i + 1} answered after ${took[i]} ms, expected >= ${EXPECTED[i]} (all: ${took.join(', ')})`);
    } finally {
      await b.stop();
    }
  });

  test('STOMP: the same slow-down, valid key between guesses', async () => {
    const b = await broker(SLOW);
    try {
      const took: number[] = [];
      for (let i = 0; i < EXPECTED.length; i++) {
        assert.equal((await stompLogin(b, `legit-${i}`, AGENT_KEY)).message, '');
        const guess = await stompLogin(b, `guess-${i}`, `wrong-${i}`);
        assert.equal(guess.message, 'bad login or passcode');
        took.push(Math.round(guess.ms));
      }
      for (let i = 0; i < EXPECTED.length; i++) assert.ok(took[i]! >= EXPECTED[i]!, `failure ${i + 1} answered after ${took[i]} ms, expected >= ${EXPECTED[i]} (all: ${took.join(', ')})`);
    } finally {
      await b.stop();
    }
  });
});

describe('parallel logins per address are capped', () => {
  const CAP = { failureWindowMs: 60_000, freeFailuresPerAddress: 1000, freeFailuresPerLogin: 1000, maxDelayMs: 400, maxPendingPerAddress: 5 };

  test('MQTT: 50 parallel wrong logins, 5 verified, the rest refused at once with 0x89 (3.1.1: 3)', async () => {
    const b = await broker(CAP, { httpAuth: { url: hookUrl, timeoutMs: 5000, retries: 0, cacheTtlMs: 0, denyOnError: true } });
    try {
      hookCalls = 0;
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => mqttLogin(b, { clientId: `par-${i}`, password: `guess-${i}` })));
      const busy = answers.filter((a) => a.code === 0x89);
      const verified = answers.filter((a) => a.code === 0x86);
      assert.equal(busy.length + verified.length, 50, `codes: ${answers.map((a) => a.code.toString(16)).join(',')}`);
      assert.ok(verified.length <= 5 && verified.length >= 1, `${verified.length} verified`);
      assert.ok(busy.length >= 40, `${busy.length} refused as busy`);
      assert.equal(hookCalls, verified.length, 'a busy refusal runs no verification');
      assert.ok(busy.every((a) => a.ms < HOOK_DELAY_MS), `busy answers at once (slowest ${Math.max(...busy.map((a) => a.ms)).toFixed(0)} ms)`);
      assert.ok(verified.every((a) => a.ms >= HOOK_DELAY_MS));

      // While 5 are pending, a 3.1.1 client is refused with return code 3; a valid key too.
      const pending = Array.from({ length: 5 }, (_, i) => mqttLogin(b, { clientId: `hold-${i}`, password: 'guess' }));
      while (hookCalls < verified.length + 5) await new Promise((r) => setTimeout(r, 5));
      assert.equal((await mqttLogin(b, { protocolVersion: 4, clientId: 'v311', password: 'guess' })).code, 3);
      assert.equal((await mqttLogin(b, { clientId: 'legit', password: AGENT_KEY })).code, 0x89);
      await Promise.all(pending);
      // Every slot was given back: the valid key logs in again.
      const c = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: 'legit', username: APP_KEY, password: AGENT_KEY });
      await end(c);
    } finally {
      await b.stop();
    }
  });

  test('MQTT: a guesser that hangs up early keeps its slot until its delayed answer is due', async () => {
    const b = await broker({ ...CAP, freeFailuresPerAddress: 0, maxDelayMs: 5000, maxPendingPerAddress: 2 });
    try {
      // Two failures answered after 100 and 200 ms; the next ones are held back 400 and 800 ms.
      for (let i = 0; i < 2; i++) assert.equal((await mqttLogin(b, { clientId: `warm-${i}`, password: 'wrong' })).code, 0x86);
      // Two guesses whose clients disconnect right after sending CONNECT.
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ port: b.port('mqtt'), host: '127.0.0.1' });
        await new Promise((r) => s.once('connect', r));
        s.on('error', () => {});
        const id = Buffer.from(`quit-${i}`);
        const user = Buffer.from(APP_KEY);
        const pass = Buffer.from('wrong');
        const body = Buffer.concat([Buffer.from('00044d51545405c2003c00', 'hex'), Buffer.from([0, id.length]), id, Buffer.from([0, user.length]), user, Buffer.from([0, pass.length]), pass]);
        s.end(Buffer.concat([Buffer.from([0x10, body.length]), body]));
      }
      await new Promise((r) => setTimeout(r, 50));
      const next = await mqttLogin(b, { clientId: 'next', password: AGENT_KEY });
      assert.deepEqual([next.code, next.ms < 100], [0x89, true], 'both slots are still held');
      await new Promise((r) => setTimeout(r, 900));
      assert.equal((await mqttLogin(b, { clientId: 'later', password: AGENT_KEY })).code, 0);
    } finally {
      await b.stop();
    }
  });

  test('STOMP: parallel wrong logins get ERROR "server busy" past the cap', async () => {
    const b = await broker(CAP, { httpAuth: { url: hookUrl, timeoutMs: 5000, retries: 0, cacheTtlMs: 0, denyOnError: true } });
    try {
      hookCalls = 0;
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => stompLogin(b, `spar-${i}`, `guess-${i}`)));
      const busy = answers.filter((a) => a.message === 'server busy');
      const verified = answers.filter((a) => a.message === 'bad login or passcode');
      assert.equal(busy.length + verified.length, 20, answers.map((a) => a.message).join(','));
      assert.ok(verified.length <= 5 && verified.length >= 1, `${verified.length} verified`);
      assert.ok(busy.length >= 10, `${busy.length} refused as busy`);
      assert.equal(hookCalls, verified.length);
      assert.ok(busy.every((a) => a.ms < HOOK_DELAY_MS));
      assert.equal((await stompLogin(b, 'legit', AGENT_KEY)).message, '');
    } finally {
      await b.stop();
    }
  });
});

describe('JWT exp rules', () => {
  let b: RunningBroker;
  before(async () => {
    b = await broker({ maxTokenLifetime: 3600 });
  });
  after(() => b.stop());

  function jwt(exp: string, sub = 'jwt-agent'): string {
    const enc = (s: string): string => Buffer.from(s).toString('base64url');
    const body = `${enc('{"alg":"HS256","typ":"JWT"}')}.${enc(`{"sub":"${sub}","app":"sec","profile":"agent","exp":${exp}}`)}`;
    return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`;
  }
  const nowSec = (): number => Math.floor(Date.now() / 1000);

  test('MQTT: a token inside auth.maxTokenLifetime logs in; a longer-lived or absurd exp is refused with 0x86', async () => {
    assert.equal((await mqttLogin(b, { clientId: 'jwt-agent', password: jwt(String(nowSec() + 600)) })).code, 0);
    assert.equal((await mqttLogin(b, { clientId: 'jwt-agent', password: jwt(String(nowSec() + 7200)) })).code, 0x86);
    assert.equal((await mqttLogin(b, { clientId: 'jwt-agent', password: jwt('1e400') })).code, 0x86); // Infinity
    assert.equal((await mqttLogin(b, { clientId: 'jwt-agent', password: jwt('99999999999999') })).code, 0x86);
  });

  test('STOMP: a token with exp too far ahead is refused', async () => {
    assert.equal((await stompLogin(b, 'jwt-stomp', jwt(String(nowSec() + 100 * 86400), 'jwt-stomp'))).message, 'bad login or passcode');
    assert.equal((await stompLogin(b, 'jwt-stomp', jwt(String(nowSec() + 60), 'jwt-stomp'))).message, '');
  });
});
