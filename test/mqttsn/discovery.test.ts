/**
 * Gateway discovery (src/protocols/mqttsn/discovery.ts) against the independent client, on
 * loopback multicast: ADVERTISE and GWINFO come from the gateway's own socket, so the client
 * learns where to connect from their source; SEARCHGW floods are answered within a budget.
 * (Between network namespaces over a veth pair: discovery-netns.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Discovery } from '../../src/protocols/mqttsn/discovery.js';
import { MqttSnClient } from './client.js';

const GROUP = '239.255.77.78';
let gateway: dgram.Socket;
let discovery: Discovery;
let port = 0;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

before(async () => {
  gateway = dgram.createSocket('udp4');
  await new Promise<void>((r) => gateway.bind(0, '127.0.0.1', r));
  gateway.setMulticastInterface('127.0.0.1');
  port = await freeUdpPort();
  discovery = new Discovery({ gatewayId: 7, group: GROUP, port, iface: '127.0.0.1', intervalSec: 1, maxPerSecond: 3, send: (b, p, a) => gateway.send(b, p, a) });
  await discovery.start();
});

after(async () => {
  await discovery.stop();
  gateway.close();
});

test('ADVERTISE on the group, from the gateway socket, with the interval as its Duration', async () => {
  const l = await MqttSnClient.listen({ multicastAddress: GROUP, port, interface: '127.0.0.1' });
  try {
    const ad = await l.nextAdvertise(3000);
    assert.deepEqual([ad.gwId, ad.duration, ad.address, ad.port], [7, 1, '127.0.0.1', gateway.address().port]);
  } finally {
    l.close();
  }
});

test('SEARCHGW on the group gets GWINFO from the gateway socket; a flood is answered within the budget', async () => {
  const found = await MqttSnClient.searchGateway(0, { multicastAddress: GROUP, port, interface: '127.0.0.1', retryMs: 500, retries: 3, listenOnGroup: false });
  assert.deepEqual([found.gwId, found.address, found.port], [7, '127.0.0.1', gateway.address().port]);
  assert.equal(found.gwAdd?.length ?? 0, 0, 'a gateway sends no GwAdd (5.4.3)');

  // Twenty SEARCHGW at once: at most the per-second budget (3) is answered.
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.setMulticastInterface('127.0.0.1');
  const searched = discovery.counters.searches;
  const answered = discovery.counters.answered;
  const ignored = discovery.counters.ignored;
  for (let i = 0; i < 20; i++) s.send(Buffer.from([3, 1, 0]), port, GROUP);
  s.send(Buffer.from([3, 0xee, 0]), port, GROUP); // not MQTT-SN: ignored
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (discovery.counters.searches - searched >= 20 && discovery.counters.ignored > ignored) {
        clearInterval(t);
        resolve();
      }
    }, 10);
  });
  const n = discovery.counters.answered - answered;
  // A one-second window may roll over during the burst: two budgets at most.
  assert.ok(n >= 1 && n <= 6, `${n} answers to 20 searches`);
  s.close();
});
