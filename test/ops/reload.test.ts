/**
 * Operations on a running broker, the way an operator does them: SIGHUP re-reads the TLS
 * certificate and key (new handshakes get the new one) and names the changed settings that need
 * a restart; ws.allowedOrigins refuses other sites' pages with 403.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { MAIN, testEnv } from '../helpers/cli.js';
import { selfSignedCert, startBroker } from '../helpers/broker.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-reload-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The fingerprint of the certificate a TLS listener presents now. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

test('SIGHUP: a new TLS certificate for new handshakes (mqtts and wss), open connections kept; changed listeners named as needing a restart', async () => {
  const a = selfSignedCert();
  const b = selfSignedCert();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  copyFileSync(a.cert, cert);
  copyFileSync(a.key, key);
  const cfg = join(dir, 'tls.yaml');
  const config = (maxConnections: number): string => `listen: ["mqtts://127.0.0.1:0", "wss://127.0.0.1:0/mqtt"]
tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} }
limits: { maxConnections: ${maxConnections} }
`;
  writeFileSync(cfg, config(1000));
  const p = spawn(process.execPath, [MAIN, '--config', cfg, '--log-level', 'info', '--no-pretty'], { env: testEnv() });
  let log = '';
  p.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const logged = (what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const t = setInterval(() => {
        if (log.includes(what)) {
          clearInterval(t);
          resolve();
        }
        if (p.exitCode !== null) reject(new Error(`exited: ${log}`));
      }, 20);
    });
  try {
    const ports = await new Promise<number[]>((resolve) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = [...out.matchAll(/listening \w+:\/\/127\.0\.0\.1:(\d+)/g)].map((x) => Number(x[1]));
        if (m.length === 2) resolve(m);
      });
    });
    const fpA = await presented(ports[0]!);
    assert.equal(await presented(ports[1]!), fpA);
    const held = tls.connect({ host: '127.0.0.1', port: ports[0]!, rejectUnauthorized: false });
    await new Promise((r) => held.once('secureConnect', r));

    copyFileSync(b.cert, cert);
    copyFileSync(b.key, key);
    writeFileSync(cfg, config(500));
    p.kill('SIGHUP');
    await logged('configuration reloaded');
    const fpB = await presented(ports[0]!);
    assert.notEqual(fpB, fpA, 'mqtts presents the new certificate');
    assert.equal(await presented(ports[1]!), fpB, 'wss too');
    assert.equal(held.destroyed, false, 'an open connection is kept');
    held.destroy();
    const lines = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.msg === 'TLS certificate and key reloaded' && l.listeners === 2));
    assert.deepEqual(lines.find((l) => l.msg === 'changed settings need a restart to apply; kept as they were')?.settings, ['limits.maxConnections']);

    // A key that does not match its certificate: refused, the old pair stays.
    copyFileSync(a.key, key);
    p.kill('SIGHUP');
    await logged('TLS reload failed');
    assert.equal(await presented(ports[0]!), fpB);
  } finally {
    p.kill('SIGKILL');
    for (const c of [a, b]) rmSync(c.dir, { recursive: true, force: true });
  }
});

/** The HTTP status of a WebSocket upgrade sent with `origin` (101 = accepted). */
function upgrade(url: string, origin: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'mqtt', origin === undefined ? {} : { origin });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => undefined);
  });
}

test('ws.allowedOrigins: a page of another origin gets 403; listed origins and clients without Origin are served; reloadable', async () => {
  const b = await startBroker({ listen: ['ws://127.0.0.1:0/mqtt'], ws: { allowedOrigins: ['https://app.example.com', 'http://LOCALHOST:3000/'] } });
  try {
    const url = b.broker.addresses[0]!.url;
    assert.equal(await upgrade(url, 'https://evil.example'), 403);
    assert.equal(await upgrade(url, 'https://app.example.com:8443'), 403, 'another port is another origin');
    assert.equal(await upgrade(url, 'https://app.example.com'), 101);
    assert.equal(await upgrade(url, 'http://localhost:3000'), 101, 'configured origins are normalised (case, trailing slash)');
    assert.equal(await upgrade(url, undefined), 101, 'no Origin: not a browser');
    b.broker.reload({ ...b.config, ws: { allowedOrigins: ['*'] } });
    assert.equal(await upgrade(url, 'https://evil.example'), 101, '"*" allows every origin');
  } finally {
    await b.stop();
  }
});
