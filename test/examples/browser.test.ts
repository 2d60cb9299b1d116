/**
 * The browser example (examples/browser) in Debian's chromium driven by playwright-core. The
 * broker runs as a user runs it, `switchboard --config examples/browser/switchboard.yaml` (free
 * ports instead of the fixed ones), and serves the page itself (http.staticDir). The page logs in
 * over MQTT with a profile key, then over STOMP with a JWT minted by `switchboard token`; on
 * each it must show a broadcast and a direct message published by mosquitto_pub (with the
 * sender's id), send a direct message that mosquitto_sub receives (with the page's id as
 * `from`), and show mosquitto_sub in presence. Screenshots go to test-output/browser/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { APP_KEY, KEYS } from '../helpers/apps.js';
import { MAIN, testEnv } from '../helpers/cli.js';
import { missingServices, spawnWatched } from '../helpers/services.js';
import type { Proc } from '../helpers/services.js';

const run = promisify(execFile);
// Paths in the example config are relative to the working directory: the repository root.
const root = process.cwd();
const CONFIG = join(root, 'examples', 'browser', 'switchboard.yaml');
const built = existsSync(join(root, 'examples', 'browser', 'dist', 'app.js'));
const skip = missingServices('chromium', 'mosquitto_sub', 'mosquitto_pub', 'stdbuf') || (built ? false : 'the browser example is not built (npm run build)');
const shots = join(root, 'test-output', 'browser');

let broker: Proc;
let mqttPort = 0;
let base = '';
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  if (skip !== false) return;
  mkdirSync(shots, { recursive: true });
  const ports = ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt', 'ws://127.0.0.1:0/stomp'].flatMap((l) => ['--listen', l]);
  broker = spawnWatched(process.execPath, [MAIN, '--config', CONFIG, ...ports], testEnv({ SWITCHBOARD_LOG_LEVEL: 'warn' }));
  const portOf = (line: string): number => Number(/:(\d+)(\/\w+)?\s*$/.exec(line)![1]);
  mqttPort = portOf(await broker.waitFor(/^listening mqtt:\/\//));
  base = `http://127.0.0.1:${portOf(await broker.waitFor(/^listening ws:\/\/.*\/stomp$/, 20_000, 0))}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  if (skip !== false) return;
  await browser?.close();
  broker?.proc.kill('SIGTERM');
  await broker?.exit;
});

function mosquittoPub(id: string, key: string, topic: string, message: string): Promise<unknown> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', 'mqttv5', '-i', id, '-u', APP_KEY, '-P', key, '-t', topic, '-m', message]);
}

async function logIn(protocol: 'mqtt' | 'stomp', login: string, secret: string): Promise<void> {
  await page.selectOption('#login select[name=protocol]', protocol);
  await page.fill('#login input[name=appKey]', APP_KEY);
  await page.fill('#login input[name=login]', login);
  await page.fill('#login input[name=secret]', secret);
  await page.click('#login button[name=connect]');
}

/** Waits for a log line of the page with this kind, protocol and text; its `from` note ('' when none). */
async function logged(kind: string, protocol: string, text: string): Promise<string> {
  const line = page.locator(`#log li[data-kind="${kind}"][data-protocol="${protocol}"]`, { hasText: text });
  await line.waitFor();
  const from = line.locator('.from');
  return (await from.count()) === 0 ? '' : ((await from.textContent()) ?? '');
}

async function sendDirect(to: string, text: string): Promise<void> {
  await page.fill('#direct input[name=to]', to);
  await page.fill('#direct input[name=text]', text);
  await page.click('#direct button[type=submit]');
}

const presence = (client: string, online: boolean): string => `#presence li[data-client="${client}"][data-online="${online}"]`;

test('the browser example in chromium: broadcast, direct messages both ways and presence, over MQTT and STOMP', { skip }, async () => {
  // The broker serves the page at / of its WebSocket port.
  await page.goto(`${base}/`);
  assert.equal(await page.inputValue('#login input[name=broker]'), base.replace('http:', 'ws:'), 'the broker URL defaults to the page host');

  // A wrong key: the page says so.
  await logIn('mqtt', 'web-1', 'wrong');
  await page.waitForSelector('#status[data-state="error"]');

  // MQTT with a profile key. Its own presence state comes on the last of its three
  // subscriptions: from then on the broadcast topic and the inbox are subscribed too.
  await logIn('mqtt', 'web-1', KEYS.AGENT);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForSelector(presence('web-1', true));

  // mosquitto_sub (login bob) comes online: the page sees it arrive.
  // Line-buffered (stdbuf): its SUBACK line says when the inbox is subscribed.
  const bob = spawnWatched('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(mqttPort), '-V', 'mqttv5', '-i', 'bob', '-u', APP_KEY, '-P', KEYS.AGENT, '-t', '$inbox/bob/#', '-F', 'GOT %t %p %P']);
  await bob.waitFor(/received SUBACK/);
  await page.waitForSelector(presence('bob', true));

  await mosquittoPub('svc-1', KEYS.SERVICE, 'announcements/all', 'broadcast over mqtt');
  assert.equal(await logged('broadcast', 'mqtt', 'broadcast over mqtt'), ' from svc-1');
  await mosquittoPub('svc-1', KEYS.SERVICE, '$inbox/web-1', 'direct to mqtt');
  assert.equal(await logged('direct', 'mqtt', 'direct to mqtt'), ' from svc-1');
  await sendDirect('bob', 'hi bob over mqtt');
  assert.equal(await logged('sent', 'mqtt', 'hi bob over mqtt'), '');
  await bob.waitFor(/^GOT \$inbox\/bob hi bob over mqtt from:web-1$/, 20_000, 0);
  // An AGENT may not broadcast: the PUBACK refusal shows.
  await page.fill('#publish input[name=text]', 'not allowed');
  await page.click('#publish button[type=submit]');
  await page.waitForSelector('#log li[data-kind="error"]:has-text("announcements/team")');
  await page.screenshot({ path: join(shots, 'mqtt.png'), fullPage: true });

  await page.click('#login button[name=disconnect]');
  await page.waitForSelector('#status[data-state="offline"]');

  // STOMP with a JWT minted by `switchboard token` from the same config.
  const jwt = (await run(process.execPath, [MAIN, 'token', '--app', 'contact-centre', '--sub', 'web-2', '--profile', 'agent', '--ttl', '10m', '--config', CONFIG])).stdout.trim();
  assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  await logIn('stomp', 'web-2', jwt);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForSelector(presence('web-2', true));
  // Current states arrive on subscribe: bob online, web-1 (the MQTT login) gone.
  await page.waitForSelector(presence('bob', true));
  await page.waitForSelector(presence('web-1', false));

  await mosquittoPub('svc-1', KEYS.SERVICE, 'announcements/all', 'broadcast over stomp');
  assert.equal(await logged('broadcast', 'stomp', 'broadcast over stomp'), ' from svc-1');
  await mosquittoPub('svc-1', KEYS.SERVICE, '$inbox/web-2/urgent', 'direct to stomp');
  assert.equal(await logged('direct', 'stomp', 'direct to stomp'), ' from svc-1');
  await sendDirect('bob', 'hi bob over stomp');
  assert.equal(await logged('sent', 'stomp', 'hi bob over stomp'), '');
  await bob.waitFor(/^GOT \$inbox\/bob hi bob over stomp from:web-2$/, 20_000, 0);

  // bob leaves: the page shows it offline.
  bob.proc.kill('SIGINT');
  await bob.exit;
  await page.waitForSelector(presence('bob', false));
  await page.screenshot({ path: join(shots, 'stomp.png'), fullPage: true });

  assert.deepEqual(pageErrors, [], 'no script errors on the page');
  assert.equal(await page.locator('#log li[data-kind="error"]').count(), 2, 'the two refusals above, nothing else');
});
