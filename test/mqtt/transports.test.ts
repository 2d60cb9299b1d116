/** MQTT over TCP, TLS, WebSocket and WSS with MQTT.js; cross-transport delivery. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rmSync } from 'node:fs';
import { selfSignedCert, startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';

let b: RunningBroker;
let tls: ReturnType<typeof selfSignedCert>;
before(async () => {
  tls = selfSignedCert();
  b = await startBroker({
    listen: ['mqtt://127.0.0.1:0', 'mqtts://127.0.0.1:0', 'ws://127.0.0.1:0/mqtt', 'wss://127.0.0.1:0/mqtt'],
    tls: { cert: tls.cert, key: tls.key },
  });
});
after(async () => {
  await b.stop();
  rmSync(tls.dir, { recursive: true, force: true });
});

for (const scheme of ['mqtt', 'mqtts', 'ws', 'wss'] as const) {
  for (const protocolVersion of [4, 5] as const) {
    test(`${scheme} v${protocolVersion}: publish and receive`, async () => {
      const ca = readFileSync(tls.cert);
      const url = b.url(scheme).replace('127.0.0.1', 'localhost');
      const opts = { protocolVersion, ca, rejectUnauthorized: true };
      const sub = await connect(url, { ...opts, clientId: `t-${scheme}-${protocolVersion}-s` });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync(`tr/${scheme}/${protocolVersion}`, { qos: 1 });
      const pub = await connect(url, { ...opts, clientId: `t-${scheme}-${protocolVersion}-p` });
      await pub.publishAsync(`tr/${scheme}/${protocolVersion}`, Buffer.from([0, 1, 2, 255]), { qos: 1 });
      const m = await inbox.next();
      assert.deepEqual(m.payload, Buffer.from([0, 1, 2, 255]));
      await end(sub, pub);
    });
  }
}

test('cross-transport: a WebSocket client and a TCP client exchange messages both ways', async () => {
  const ws = await connect(b.url('ws'), { protocolVersion: 5, clientId: 'x-ws' });
  const tcp = await connect(b.url('mqtt'), { protocolVersion: 4, clientId: 'x-tcp' });
  const wsIn = new Inbox(ws);
  const tcpIn = new Inbox(tcp);
  await ws.subscribeAsync('x/to-ws', { qos: 1 });
  await tcp.subscribeAsync('x/to-tcp', { qos: 1 });
  await tcp.publishAsync('x/to-ws', 'from tcp', { qos: 1 });
  await ws.publishAsync('x/to-tcp', 'from ws', { qos: 1 });
  assert.equal((await wsIn.next()).payload.toString(), 'from tcp');
  assert.equal((await tcpIn.next()).payload.toString(), 'from ws');
  await end(ws, tcp);
});

test('plain HTTP on the WebSocket port answers 404 for unknown paths', async () => {
  const res = await fetch(`http://127.0.0.1:${b.port('ws')}/nothing`);
  assert.equal(res.status, 404);
});
