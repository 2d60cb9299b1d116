/** STOMP over WebSocket framing (several frames per message, one frame split across messages) and over TLS. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import tls from 'node:tls';
import WebSocket from 'ws';
import { selfSignedCert, startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';

let b: RunningBroker;
let cert: ReturnType<typeof selfSignedCert>;
before(async () => {
  cert = selfSignedCert();
  b = await startBroker({ listen: ['ws://127.0.0.1:0/stomp', 'stomps://127.0.0.1:0', 'wss://127.0.0.1:0/stomp'], tls: { cert: cert.cert, key: cert.key } });
});
after(async () => {
  await b.stop();
  rmSync(cert.dir, { recursive: true, force: true });
});

/** Collect text of received WS messages until `pred` holds. */
function until(ws: WebSocket, pred: (all: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let all = '';
    const t = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(all)}`)), 3000);
    ws.on('message', (d: Buffer) => {
      all += d.toString();
      if (pred(all)) {
        clearTimeout(t);
        resolve(all);
      }
    });
  });
}

for (const scheme of ['ws', 'wss'] as const) {
  test(`${scheme}: several frames in one WebSocket message, one frame split across messages`, async () => {
    const ws = new WebSocket(b.url(scheme), ['v12.stomp'], { ca: readFileSync(cert.cert), rejectUnauthorized: false });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    assert.equal(ws.protocol, 'v12.stomp');
    const got = until(ws, (all) => all.includes('MESSAGE') && all.includes('split body'));
    ws.send('CONNECT\naccept-version:1.2\nhost:x\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/w\nreceipt:r\n\n\0');
    ws.send('SEND\ndestination:/top');
    ws.send('ic/w\n\nsplit bo');
    ws.send('dy\0');
    const all = await got;
    assert.match(all, /^CONNECTED/);
    assert.match(all, /RECEIPT\nreceipt-id:r/);
    assert.match(all, /MESSAGE\n[\s\S]*destination:\/topic\/w[\s\S]*split body/);
    ws.close();
  });
}

test('stomps: STOMP over TLS', async () => {
  const s = tls.connect({ port: b.port('stomps'), host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise((r) => s.once('secureConnect', r));
  let all = '';
  const done = new Promise<void>((resolve) => s.on('data', (d: Buffer) => ((all += d.toString()), all.includes('hello tls') && resolve())));
  s.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0SEND\ndestination:/topic/t\n\nhello tls\0');
  await done;
  assert.match(all, /^CONNECTED/);
  s.destroy();
});
