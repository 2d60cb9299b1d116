/**
 * The web console in a real browser: Debian's chromium driven by playwright-core logs in with an
 * ADMIN key, sees a client connected by mosquitto_sub appear, watches a message published by
 * mosquitto_pub arrive in the live tap, kicks the client, and replays a dead letter. A
 * screenshot of each page goes to test-output/console/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { APP_KEY, contactCentre, KEYS } from '../helpers/apps.js';
import { missingServices } from '../helpers/services.js';
import { loadConsole } from '../../src/http/console.js';

const run = promisify(execFile);
const built = loadConsole().size > 0;
const skip = missingServices('chromium', 'mosquitto_sub', 'mosquitto_pub') || (built ? false : 'the console is not built (npm run build)');
const shots = join(process.cwd(), 'test-output', 'console');

let b: RunningBroker;
let browser: Browser;
let page: Page;

before(async () => {
  if (skip !== false) return;
  mkdirSync(shots, { recursive: true });
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt'], applications: [contactCentre()] });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

after(async () => {
  if (skip !== false) return;
  await browser?.close();
  await b?.stop();
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function open(id: string): Promise<void> {
  await page.click(`nav a[data-page="${id}"]`);
}

test('the console in chromium: log in, see a client, tap a message, kick it, replay a dead letter', { skip }, async () => {
  const base = `http://127.0.0.1:${b.port('ws')}`;
  await page.goto(`${base}/console`);
  // A wrong key is refused on the login page itself.
  await page.fill('input[name=appKey]', APP_KEY);
  await page.fill('input[name=profileKey]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('.login .error');
  await page.fill('input[name=profileKey]', KEYS.ADMIN);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-test=connections]');
  await page.waitForSelector('.uplot');

  // mosquitto_sub connects; the clients page shows it (it refreshes every 2 s).
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-V', 'mqttv5', '-i', 'agent-7', '-u', APP_KEY, '-P', KEYS.AGENT, '-t', 'calls/agent-7/#', '-v']);
  const subExit = new Promise<number | null>((r) => sub.once('exit', (code) => r(code)));
  await open('clients');
  await page.waitForSelector('tr[data-client="agent-7"]', { timeout: 10_000 });
  await page.click('tr[data-client="agent-7"] a');
  await page.waitForSelector('.details li');
  assert.match(await page.innerText('.details'), /calls\/agent-7\/#/);
  await shot('clients');

  // The live tap (MQTT over the broker's WebSocket, with the same key) sees mosquitto_pub's message.
  await open('tap');
  await page.fill('input[name=filter]', 'calls/#');
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('[data-test=tap-status]')?.textContent === 'watching calls/#');
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port('mqtt')), '-V', 'mqttv5', '-i', 'svc-1', '-u', APP_KEY, '-P', KEYS.SERVICE, '-t', 'calls/agent-7/state', '-m', 'hello from mosquitto_pub']);
  await page.waitForSelector('table.tap td.payload:text("hello from mosquitto_pub")');
  await shot('tap');

  // Kick from the clients page: mosquitto_sub's connection is closed.
  await open('clients');
  await page.waitForSelector('button[data-kick="agent-7"]');
  await page.click('button[data-kick="agent-7"]');
  await subExit;
  assert.equal(b.broker.admin.app('cc')!.getClient('agent-7')?.online ?? false, false);

  // The publish form.
  await open('publish');
  await page.fill('input[name=topic]', 'calls/agent-8/state');
  await page.fill('textarea[name=payload]', 'from the console');
  await page.click('form button[type=submit]');
  await page.waitForSelector('[data-test=publish-result]');
  await shot('publish');

  // A direct message to nobody is dead-lettered; replayed from the console to a topic the tap... watches.
  b.broker.admin.app('cc')!.sendDirect('nobody', 'lost and found');
  await open('dead-letters');
  await page.waitForSelector('tr[data-letter] button[data-replay]');
  await shot('dead-letters');
  await page.fill('input[name=target]', 'calls/replayed');
  await page.click('tr[data-letter] button[data-replay]');
  await page.waitForSelector('[data-test=dl-note]:text("replayed 1")');
  assert.equal(b.broker.admin.app('cc')!.listDeadLetters({ to: 'nobody' }).items.length, 0);

  // The overview's chart has points once two samples of the counters are in (one a second).
  await open('overview');
  await page.waitForSelector('[data-points="3"]', { timeout: 10_000 });
  await shot('overview');
  for (const p of ['topics', 'presence', 'queues']) {
    await open(p);
    await page.waitForSelector('main h2');
    await shot(p);
  }
});
