/** Debian's python3-stomp (stomp.py) under /usr/bin/python3, STOMP 1.1 and 1.2, against MQTT.js. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';

const run = promisify(execFile);
let b: RunningBroker;
before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'] });
});
after(() => b.stop());

const SCRIPT = `
import sys, threading
import stomp
port = int(sys.argv[1]); version = sys.argv[2]
Conn = {'1.1': stomp.Connection11, '1.2': stomp.Connection12}[version]
got = threading.Event(); box = {}
class L(stomp.ConnectionListener):
    def on_message(self, frame):
        box['f'] = frame; got.set()
    def on_error(self, frame):
        print('ERROR', frame.headers, frame.body); got.set()
c = Conn([('127.0.0.1', port)], heartbeats=(0, 0), auto_decode=False)
c.set_listener('l', L())
c.connect('guest', 'guest', wait=True, headers={'host': 'switchboard'})
c.subscribe('/topic/py/' + version, id='1', ack='client-individual', headers={'receipt': 'r1'})
c.send('/topic/py/' + version, b'\\x00py\\x01', headers={'x-from-py': 'yes', 'receipt': 'r2'})
assert got.wait(5), 'no message'
f = box['f']
assert f.body == b'\\x00py\\x01', f.body
assert f.headers['x-from-py'] == 'yes'
if version == '1.2':
    c.ack(f.headers['ack'])
else:
    c.ack(f.headers['message-id'], f.headers['subscription'])
c.send('/topic/py/to-mqtt', 'for mqtt', headers={'content-type': 'text/plain'})
c.disconnect(receipt='bye')
print('ok')
`;

for (const version of ['1.1', '1.2']) {
  test(`stomp.py ${version}: subscribe, binary SEND, ACK, and a message to an MQTT client`, async () => {
    const m = await connect(b.url('mqtt'), { protocolVersion: 5, clientId: `py-mqtt-${version}` });
    const inbox = new Inbox(m);
    await m.subscribeAsync('py/to-mqtt', { qos: 1 });
    const { stdout } = await run('/usr/bin/python3', ['-c', SCRIPT, String(b.port('stomp')), version], { timeout: 20_000 });
    assert.equal(stdout.trim(), 'ok');
    const msg = await inbox.next();
    assert.equal(msg.payload.toString(), 'for mqtt');
    assert.equal(msg.packet.properties?.contentType, 'text/plain');
    await end(m);
  });
}
