/**
 * Cluster tests: a real `switchboard --workers N` process tree, and real clients placed on its
 * workers. The primary deals the connections of each listener to the workers in turn, so
 * consecutive connections to one listener land on different workers: `Dealer` counts the
 * connections it makes per listener and opens a throwaway connection when the next one would
 * land on the wrong worker. Workers are named by the parity of the connection that reached them:
 * side 0 is the worker of the first MQTT connection, side 1 the other one (STOMP has its own
 * count, and its side 0 need not be the same worker).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import type { Client } from '@stomp/stompjs';
import { client as mqttClient, connectWithInbox, Inbox } from '../helpers/mqtt.js';
import type { MqttClient } from '../helpers/mqtt.js';
import { stompOverTcp } from '../helpers/stomp.js';
import { MAIN, testEnv } from '../helpers/cli.js';

export const APP_KEY = 'cl_app_key';
export const KEYS = { AGENT: 'cl_agent_key', SUPER_AGENT: 'cl_super_key', SERVICE: 'cl_service_key', ADMIN: 'cl_admin_key' } as const;
export type P = keyof typeof KEYS;

/** One application with every profile, `rooms/#` announced on $members. */
export function writeConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-'));
  const file = join(dir, 'switchboard.yaml');
  writeFileSync(file, `applications:
  - id: cl
    appKey: ${APP_KEY}
    profileKeys: { AGENT: ${KEYS.AGENT}, SUPER_AGENT: ${KEYS.SUPER_AGENT}, SERVICE: ${KEYS.SERVICE}, ADMIN: ${KEYS.ADMIN} }
    presenceTopics: ['rooms/#']
`);
  return file;
}

export interface RunningCluster {
  proc: ChildProcessWithoutNullStreams;
  mqtt: string;
  stompPort: number;
  exit: Promise<number | null>;
  /** Resolves with the first stderr line (from now on, or from line `from`) matching `re`. */
  waitLog(re: RegExp, from?: number, ms?: number): Promise<string>;
  /** stderr lines so far. */
  readonly lines: string[];
  stop(): Promise<number | null>;
}

/** Start `switchboard --workers N ARGS` with an MQTT and a STOMP listener on free ports. */
export async function startCluster(workers: number, args: string[]): Promise<RunningCluster> {
  const proc = spawn(process.execPath, [MAIN, '--workers', String(workers), '--listen', 'mqtt://127.0.0.1:0', '--listen', 'stomp://127.0.0.1:0', ...args], { env: testEnv() });
  const exit = new Promise<number | null>((r) => proc.on('exit', r));
  process.once('exit', () => proc.kill('SIGKILL')); // a failed run leaves no workers behind
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let partial = '';
  proc.stderr.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      for (const w of [...watchers]) w(l);
    }
  });
  let out = '';
  const urls = await new Promise<{ mqtt: string; stomp: number }>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (mqtt:\/\/\S+)/.exec(out);
      const s = /listening stomp:\/\/[^\s:]+:(\d+)/.exec(out);
      if (m && s) resolve({ mqtt: m[1]!, stomp: Number(s[1]) });
    });
    void exit.then((code) => reject(new Error(`exited ${code}: ${lines.join('\n')}`)));
  });
  return {
    proc,
    mqtt: urls.mqtt,
    stompPort: urls.stomp,
    exit,
    lines,
    waitLog(re, from = lines.length, ms = 20_000) {
      const seen = lines.slice(from).find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`no log line matching ${re}`));
        }, ms);
        const w = (l: string): void => {
          if (!re.test(l)) return;
          clearTimeout(t);
          watchers.delete(w);
          resolve(l);
        };
        watchers.add(w);
      });
    },
    async stop() {
      proc.kill('SIGTERM');
      return exit;
    },
  };
}

/** Places clients on node 0 or node 1 of a cluster. */
export interface Placer {
  /** Connect an MQTT 5 client of `profile` on node `side`; its inbox is attached before CONNACK. */
  mqtt(side: 0 | 1, clientId: string, profile: P, extra?: IClientOptions): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }>;
  /** A STOMP client on node `side`. */
  stomp(side: 0 | 1, login: string, profile: P): Promise<Client>;
  closeAll(): Promise<void>;
}

/** Connect an MQTT 5 client of `profile` to `url`; its inbox is attached before CONNACK. */
function mqttAt(url: string, clientId: string, profile: P, extra: IClientOptions): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
  return connectWithInbox(url, { protocolVersion: 5, clientId, username: APP_KEY, password: KEYS[profile], ...extra });
}

/** Node flags for cluster tests: a dead node is noticed in 2.5 s (a loaded CI machine stalls for less), no $SYS timer. */
export const TEST_NODE_ARGS = ['--set', 'sys.interval=0', '--set', 'cluster.heartbeatMs=200', '--set', 'cluster.deadAfterMs=2500'];

/** Nodes with listeners of their own (Redis cluster): a client goes straight to its node. */
export class DirectPlacer implements Placer {
  private readonly opened: MqttClient[] = [];
  private readonly stomps: Client[] = [];

  constructor(private readonly nodes: ReadonlyArray<{ mqtt: string; stompPort: number }>) {}

  async mqtt(side: 0 | 1, clientId: string, profile: P, extra: IClientOptions = {}): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
    const r = await mqttAt(this.nodes[side]!.mqtt, clientId, profile, extra);
    this.opened.push(r.client);
    return r;
  }

  async stomp(side: 0 | 1, login: string, profile: P): Promise<Client> {
    const s = await stompOverTcp(this.nodes[side]!.stompPort, { connectHeaders: { host: APP_KEY, login, passcode: KEYS[profile] } });
    this.stomps.push(s);
    return s;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.endAsync(true).catch(() => undefined)));
    await Promise.all(this.stomps.map((s) => s.deactivate().catch(() => undefined)));
  }
}

/** Places clients on workers (see the module comment). */
export class Dealer implements Placer {
  private mqttCount = 0;
  private stompCount = 0;
  private readonly opened: MqttClient[] = [];
  private readonly stomps: Client[] = [];

  constructor(private readonly c: RunningCluster) {}

  /** The side the next MQTT connection lands on. */
  get nextMqttSide(): 0 | 1 {
    return (this.mqttCount % 2) as 0 | 1;
  }

  /** Connect an MQTT 5 client of `profile` on worker `side`; its inbox is attached before CONNACK. */
  async mqtt(side: 0 | 1, clientId: string, profile: P, extra: IClientOptions = {}): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
    while (this.nextMqttSide !== side) await this.throwaway();
    this.mqttCount++;
    const r = await mqttAt(this.c.mqtt, clientId, profile, extra);
    this.opened.push(r.client);
    return r;
  }

  private async throwaway(): Promise<void> {
    this.mqttCount++;
    const c = mqttClient(this.c.mqtt, { protocolVersion: 5, clientId: `throwaway-${this.mqttCount}`, username: APP_KEY, password: KEYS.AGENT });
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.connect();
    });
    await c.endAsync(true);
  }

  /** A STOMP client on STOMP side `side` (STOMP connections are dealt apart from MQTT ones). */
  async stomp(side: 0 | 1, login: string, profile: P): Promise<Client> {
    while (this.stompCount % 2 !== side) {
      this.stompCount++;
      const t = await stompOverTcp(this.c.stompPort, { connectHeaders: { host: APP_KEY, login: `throwaway-stomp-${this.stompCount}`, passcode: KEYS.AGENT } });
      await t.deactivate();
    }
    this.stompCount++;
    const s = await stompOverTcp(this.c.stompPort, { connectHeaders: { host: APP_KEY, login, passcode: KEYS[profile] } });
    this.stomps.push(s);
    return s;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.endAsync(true).catch(() => undefined)));
    await Promise.all(this.stomps.map((s) => s.deactivate().catch(() => undefined)));
  }
}

/** JSON payload of an MQTT message. */
export function json<T = Record<string, unknown>>(r: { payload: Buffer }): T {
  return JSON.parse(r.payload.toString()) as T;
}

/** Retry `check` until it returns true (propagation between workers has no event to wait for). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
