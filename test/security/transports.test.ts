/**
 * Transport-level hardening: listeners bind all-or-nothing (and the executable exits when one
 * cannot), the HTTP phase of a WebSocket and the TLS handshake are bounded by the connect
 * timeout, and WebSocket pings are rate-limited (excess ignored, a flood closed with 1008).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { pino } from 'pino';
import WebSocket from 'ws';
import { createBroker } from '../../src/broker.js';
import { once, selfSignedCert, startBroker, testConfig } from '../helpers/broker.js';
import { MAIN, testEnv } from '../helpers/cli.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';
import { connectV4 } from '../helpers/raw.js';

/** A port that is bound (by a plain net server) for the duration of a test. */
async function occupy(): Promise<{ port: number; close(): Promise<void> }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => s.close(() => r())) };
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const o = await occupy();
  await o.close();
  return o.port;
}

/** Resolves with the error code of a TCP connect (undefined if it connected). */
function connectResult(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
  });
}

// --- 1. A listener that cannot bind -------------------------------------------------------

for (const workers of [1, 2]) test(`executable${workers > 1 ? ` (--workers ${workers})` : ''}: a busy listener address prints the address and exits non-zero, promptly`, async () => {
  const busy = await occupy();
  try {
    const t0 = Date.now();
    const proc = spawn(process.execPath, [MAIN, '--listen', 'mqtt://127.0.0.1:0', '--listen', `mqtt://127.0.0.1:${busy.port}`, '--no-pretty', '--workers', String(workers)], { env: testEnv() });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A half-started broker never exits on its own: give up (and kill it) after 5 s.
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    const [code, signal] = (await new Promise((r) => proc.on('close', (c, s) => r([c, s])))) as [number | null, string | null]; // 'close': stderr is complete
    clearTimeout(killer);
    assert.equal(signal, null, `still running after 5 s; stderr: ${stderr}`);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`cannot start: cannot listen on 127\\.0\\.0\\.1:${busy.port}: .*EADDRINUSE`));
    assert.doesNotMatch(stdout, /listening/);
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    await busy.close();
  }
});

test('broker.start(): when one listener fails, the ones already bound are closed again', async () => {
  const busy = await occupy();
  const [mqttPort, wsPort] = [await freePort(), await freePort()];
  try {
    // Stream listeners bind first, then one HTTP server per ws host:port; the last one fails.
    const config = testConfig({ listen: [`mqtt://127.0.0.1:${mqttPort}`, `ws://127.0.0.1:${wsPort}/mqtt`, `ws://127.0.0.1:${busy.port}/mqtt`], sys: { interval: 1 } });
    const broker = createBroker(config, { logger: pino({ level: 'silent' }) });
    await assert.rejects(broker.start(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy.port}`));
    assert.deepEqual(broker.addresses, []);
    assert.equal(await connectResult(mqttPort), 'ECONNREFUSED');
    assert.equal(await connectResult(wsPort), 'ECONNREFUSED');
    await broker.stop();
  } finally {
    await busy.close();
  }
});

// --- 2. Connect timeout for the HTTP phase (and the TLS handshake) ------------------------

test('ws: an HTTP request head that never completes is closed after the connect timeout; upgraded clients stay', async () => {
  const b = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], mqtt: { connectTimeoutMs: 300 } });
  const raw: net.Socket[] = [];
  try {
    const client = await connect(b.url('ws'), { protocolVersion: 5, clientId: 'ws-stays' });
    const connectedAt = Date.now();
    let clientClosed = false;
    client.on('close', () => (clientClosed = true));

    for (const head of ['GET /mqtt HTTP/1.1\r\nHost: x\r\n', '']) {
      const sock = net.connect(b.port('ws'), '127.0.0.1');
      raw.push(sock);
      sock.on('error', () => {});
      sock.resume();
      await once(sock, 'connect', 1000);
      const t0 = Date.now();
      if (head) sock.write(head);
      await once(sock, 'close', 2000); // Node's default: 60 s (headers) / 300 s (request)
      assert.ok(Date.now() - t0 >= 250, `closed too early (${Date.now() - t0} ms)`);
    }

    // The WebSocket client has outlived twice the timeout (and several checking intervals).
    assert.ok(Date.now() - connectedAt > 600);
    assert.equal(clientClosed, false);
    assert.equal(client.connected, true);
    const inbox = new Inbox(client);
    await client.subscribeAsync('sec/ws', { qos: 1 });
    await client.publishAsync('sec/ws', 'still here', { qos: 1 });
    assert.equal((await inbox.next()).payload.toString(), 'still here');
    await end(client);
  } finally {
    for (const s of raw) s.destroy();
    await b.stop();
  }
});

test('tls: a client that never starts the TLS handshake is closed after the connect timeout; stop() does not wait for it', async () => {
  const cert = selfSignedCert();
  const tlsFiles = { cert: cert.cert, key: cert.key };
  const socks: net.Socket[] = [];
  const open = async (port: number): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    socks.push(s);
    s.on('error', () => {});
    await once(s, 'connect', 1000);
    return s;
  };
  try {
    const b = await startBroker({ listen: ['mqtts://127.0.0.1:0'], tls: tlsFiles, mqtt: { connectTimeoutMs: 300 } });
    let sock: net.Socket | undefined;
    try {
      sock = await open(b.port('mqtts'));
      // Node's default handshakeTimeout is 120 s, and a tls.Server does not close a timed-out socket.
      await once(sock, 'close', 2000);
    } finally {
      sock?.destroy();
      await b.stop();
    }

    // With the default connect timeout (10 s): stop() used to wait for such a socket forever.
    const b2 = await startBroker({ listen: ['mqtts://127.0.0.1:0'], tls: tlsFiles });
    const idle = await open(b2.port('mqtts'));
    const closed = once(idle, 'close', 1000);
    await Promise.race([b2.stop(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('stop() hangs')), 1000).unref())]);
    await closed;
  } finally {
    for (const s of socks) s.destroy();
    rmSync(cert.dir, { recursive: true, force: true });
  }
});

// --- 3. WebSocket ping policy --------------------------------------------------------------

async function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, 'mqtt');
  await once(ws, 'open', 2000);
  return ws;
}

test('ws ping flood: at most wsPingsPerSecond pongs, then a 1008 close with a reason (not 1006)', async () => {
  const b = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], limits: { wsPingsPerSecond: 10 } });
  try {
    const ws = await openWs(b.url('ws'));
    let pongs = 0;
    ws.on('pong', () => pongs++);
    const closed = new Promise<[number, string]>((r) => ws.once('close', (code: number, reason: Buffer) => r([code, reason.toString()])));
    for (let i = 0; i < 1000; i++) ws.ping(Buffer.from(String(i)));
    const [code, reason] = await Promise.race([closed, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('not closed')), 2000).unref())]);
    assert.equal(code, 1008);
    assert.match(reason, /ping/);
    assert.ok(pongs > 0 && pongs <= 10, `${pongs} pongs`);
  } finally {
    await b.stop();
  }
});

test('ws pings over the rate (but no flood) are ignored, the connection stays open', async () => {
  const b = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], limits: { wsPingsPerSecond: 5 } });
  try {
    const ws = await openWs(b.url('ws'));
    let pongs = 0;
    ws.on('pong', () => pongs++);
    for (let i = 0; i < 40; i++) ws.ping(); // 8x the rate: under the 10x that closes
    // Frames are handled in order: once CONNACK is back, every ping before it has been seen.
    ws.send(connectV4('ping-ok', 0));
    const connack = await once<Buffer>(ws, 'message', 2000);
    assert.equal(connack.toString('hex'), '20020000');
    assert.equal(pongs, 5);
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    await once(ws, 'close', 2000);
  } finally {
    await b.stop();
  }
});

test('ws: a client pinging within the rate is answered every time, across windows', async () => {
  const b = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], limits: { wsPingsPerSecond: 10 } });
  try {
    const ws = await openWs(b.url('ws'));
    const t0 = Date.now();
    for (let i = 0; i < 8; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 150)); // the client's own pace, ~7/s
      const pong = once<Buffer>(ws, 'pong', 1000);
      ws.ping(Buffer.from(`p${i}`));
      assert.equal((await pong).toString(), `p${i}`);
    }
    assert.ok(Date.now() - t0 > 1000, 'spans more than one window');
    ws.close();
    await once(ws, 'close', 2000);
  } finally {
    await b.stop();
  }
});
