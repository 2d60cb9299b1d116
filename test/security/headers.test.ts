/**
 * Header injection and forged broker-owned names across STOMP 1.0 / 1.2 and MQTT 5.
 *
 * Receivers are real clients: raw TCP sockets speaking STOMP 1.0 and 1.2 byte-exactly (a library
 * would hide the injected lines), MQTT.js v5 (user properties) and Debian's stomp.py.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { startBroker } from '../helpers/broker.js';
import type { RunningBroker } from '../helpers/broker.js';
import { connect, end, Inbox } from '../helpers/mqtt.js';
import type { MqttClient, Received } from '../helpers/mqtt.js';
import type { ApplicationConfig } from '../../src/config/types.js';
import { encodeFrame } from '../../src/protocols/stomp/encoder.js';
import { StompParser } from '../../src/protocols/stomp/parser.js';
import type { StompFrame } from '../../src/protocols/stomp/frame.js';

const APP_KEY = 'headers_app_key';
const AGENT_KEY = 'headers_agent_key';

const APP: ApplicationConfig = {
  id: 'hdr',
  appKey: APP_KEY,
  profileKeys: { AGENT: AGENT_KEY, SUPER_AGENT: 'headers_super_key', SERVICE: 'headers_service_key', ADMIN: 'headers_admin_key' },
  duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'reject', ADMIN: 'reject' },
  acl: [{ permission: 'allow', action: 'all', topic: 'team/#', profiles: ['AGENT'] }],
  grants: {},
  presenceTopics: [],
};

let b: RunningBroker;
before(async () => {
  b = await startBroker({ listen: ['mqtt://127.0.0.1:0', 'stomp://127.0.0.1:0'], applications: [APP] });
});
after(() => b.stop());

// ---- a byte-exact STOMP peer --------------------------------------------------------------

interface RawFrame {
  command: string;
  /** Header lines exactly as received (no unescaping). */
  lines: string[];
  /** The bytes between the command line and the blank line. */
  headBytes: Buffer;
  body: Buffer;
}

/** A raw STOMP client: writes frames byte for byte, reads frames without interpreting headers. */
class RawStomp {
  private buf = Buffer.alloc(0);
  private readonly frames: RawFrame[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.waiter?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    sock.on('error', () => {});
  }

  static open(): Promise<RawStomp> {
    return new Promise((resolve, reject) => {
      const s = net.connect(b.port('stomp'), '127.0.0.1', () => resolve(new RawStomp(s)));
      s.once('error', reject);
    });
  }

  private parse(): void {
    for (;;) {
      let i = 0;
      while (i < this.buf.length && (this.buf[i] === 0x0a || this.buf[i] === 0x0d)) i++; // heart-beats
      this.buf = this.buf.subarray(i);
      const cmdEnd = this.buf.indexOf(0x0a);
      if (cmdEnd < 0) return;
      const blank = this.buf.indexOf('\n\n', cmdEnd - 1);
      if (blank < 0) return;
      const headBytes = this.buf.subarray(cmdEnd + 1, blank + 1);
      const lines = blank > cmdEnd ? this.buf.subarray(cmdEnd + 1, blank).toString('utf8').split('\n') : [];
      const start = blank + 2;
      const cl = lines.find((l) => l.startsWith('content-length:'));
      const stop = cl !== undefined ? start + Number(cl.slice(15)) : this.buf.indexOf(0, start);
      if (stop < 0 || this.buf.length < stop + 1) return;
      this.frames.push({ command: this.buf.subarray(0, cmdEnd).toString(), lines, headBytes: Buffer.from(headBytes), body: Buffer.from(this.buf.subarray(start, stop)) });
      this.buf = this.buf.subarray(stop + 1);
    }
  }

  /** Header lines are written as given: callers do their own (1.2) escaping. */
  send(command: string, lines: string[], body = ''): void {
    this.sock.write(Buffer.concat([Buffer.from(`${command}\n${lines.map((l) => `${l}\n`).join('')}\n`), Buffer.from(body), Buffer.from([0])]));
  }

  async next(ms = 3000): Promise<RawFrame> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no STOMP frame within timeout');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = null;
    }
    return this.frames.shift()!;
  }

  untilClose(ms = 3000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      const t = setTimeout(() => reject(new Error('not closed')), ms);
      this.sock.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  end(): void {
    this.sock.destroy();
  }

  /** Log in with the application; `version` '1.0' sends no accept-version (STOMP 1.0). */
  static async login(login: string, version: '1.0' | '1.2'): Promise<RawStomp> {
    const c = await RawStomp.open();
    const lines = [`host:${APP_KEY}`, `login:${login}`, `passcode:${AGENT_KEY}`];
    if (version === '1.2') lines.unshift('accept-version:1.2');
    c.send('CONNECT', lines);
    const f = await c.next();
    assert.equal(f.command, 'CONNECTED', f.body.toString());
    assert.equal(headersOf(f, '1.0').version ?? '1.0', version);
    return c;
  }

  async subscribe(destination: string, id: string): Promise<void> {
    this.send('SUBSCRIBE', [`destination:${destination}`, `id:${id}`, `receipt:${id}`]);
    const r = await this.next();
    assert.equal(r.command, 'RECEIPT');
  }
}

function unescape12(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c));
}

/** Header entries the way a receiver of that version reads them (in order, repeats kept). */
function entriesOf(f: RawFrame, version: '1.0' | '1.2'): Array<[string, string]> {
  return f.lines.map((l) => {
    const i = l.indexOf(':');
    const k = i < 0 ? l : l.slice(0, i);
    const v = i < 0 ? '' : l.slice(i + 1);
    return version === '1.2' ? [unescape12(k), unescape12(v)] : [k, v];
  });
}

function headersOf(f: RawFrame, version: '1.0' | '1.2'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entriesOf(f, version)) if (!(k in out)) out[k] = v;
  return out;
}

/** What a lenient receiver takes a header name for (test's own copy: trim, lowercase, cut at ':'). */
const lenient = (name: string): string => name.split(':')[0]!.trim().toLowerCase();

/** Every header entry whose name a lenient receiver could take for `name`. */
function lookAlikes(entries: Array<[string, string]>, name: string): Array<[string, string]> {
  return entries.filter(([k]) => lenient(k) === name);
}

const FORGED = ['from', 'destination', 'subscription', 'message-id', 'content-type', 'content-length', 'correlation-id', 'reply-to', 'ack', 'receipt', 'transaction'];

// ---- stomp.py as a STOMP 1.2 receiver -----------------------------------------------------

const PY_RECEIVER = `
import json, sys, threading
import stomp
port, app_key, login, passcode, dest = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
got = threading.Event(); subscribed = threading.Event(); box = {}
class L(stomp.ConnectionListener):
    def on_message(self, frame):
        box['h'] = frame.headers; box['b'] = frame.body; got.set()
    def on_receipt(self, frame):
        subscribed.set()
    def on_error(self, frame):
        print('ERROR', frame.headers, flush=True); got.set(); subscribed.set()
c = stomp.Connection12([('127.0.0.1', port)], vhost=app_key, heartbeats=(0, 0), auto_decode=False)
c.set_listener('l', L())
c.connect(login, passcode, wait=True)
c.subscribe(dest, id='py', headers={'receipt': 'py-sub'})
assert subscribed.wait(5), 'no receipt'
print('ready', flush=True)
assert got.wait(10), 'no message'
print(json.dumps(box['h']), flush=True)
c.disconnect()
`;

/** Start stomp.py subscribed to `dest`; resolves once it is subscribed, `.headers` with the first MESSAGE's headers. */
async function stompPy(login: string, dest: string): Promise<{ headers: Promise<Record<string, string>>; proc: ChildProcessWithoutNullStreams }> {
  const proc = spawn('/usr/bin/python3', ['-c', PY_RECEIVER, String(b.port('stomp')), APP_KEY, login, AGENT_KEY, dest]);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const line = (ms: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`stomp.py: no output (stderr: ${err})`)), ms);
      const check = (): void => {
        const l = lines.shift();
        if (l !== undefined) {
          clearTimeout(t);
          resolve(l);
        } else waiters.push(check);
      };
      check();
    });
  assert.equal(await line(10_000), 'ready');
  const headers = line(10_000).then((l) => {
    assert.ok(!l.startsWith('ERROR'), l);
    return JSON.parse(l) as Record<string, string>;
  });
  return { headers, proc };
}

// ---- MQTT helpers -------------------------------------------------------------------------

const mqttLogin = (clientId: string): Promise<MqttClient> =>
  connect(b.url('mqtt'), { protocolVersion: 5, clientId, username: APP_KEY, password: AGENT_KEY });

/** MQTT.js gives user properties as an object: a repeated name becomes an array. */
function userProps(r: Received): Array<[string, string]> {
  const up = (r.packet.properties?.userProperties ?? {}) as Record<string, string | string[]>;
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(up)) for (const x of Array.isArray(v) ? v : [v]) out.push([k, x]);
  return out;
}

// ---- 1. control characters --------------------------------------------------------------

describe('control characters in a STOMP 1.2 SEND', () => {
  test('an escaped newline in a header value or the destination is refused with ERROR; nothing reaches STOMP 1.0 or MQTT 5 subscribers', async () => {
    const sub10 = await RawStomp.login('cc-sub10', '1.0');
    await sub10.subscribe('/topic/team/#', 'cc10');
    const m = await mqttLogin('cc-mqtt');
    const mIn = new Inbox(m);
    await m.subscribeAsync('team/#', { qos: 1 });

    const attacks: Array<{ lines: string[]; header: string }> = [
      // 1.2 escaping: "\n" is an LF, "\c" a colon. Unescaped towards 1.0 this forges a `from` line
      // and ends the header block early (the rest would become the body).
      { lines: ['destination:/topic/team/cc', 'x-note:hi\\nfrom\\cceo\\n\\nforged body'], header: 'x-note' },
      { lines: ['destination:/topic/team/cc\\nfrom\\cceo'], header: 'destination' },
      { lines: ['destination:/topic/team/cc', 'x-cr:a\\rb'], header: 'x-cr' },
      { lines: ['destination:/topic/team/cc', 'x-nel:a\u0085b'], header: 'x-nel' },
      { lines: ['destination:/topic/team/cc', 'x-name\\nfrom\\cceo:v'], header: 'name' },
    ];
    for (const [i, a] of attacks.entries()) {
      const s = await RawStomp.login(`cc-sender-${i}`, '1.2');
      s.send('SEND', [...a.lines, `receipt:bad-${i}`], 'payload');
      const e = await s.next();
      assert.equal(e.command, 'ERROR', `attack ${i}`);
      const h = headersOf(e, '1.2');
      assert.equal(h['receipt-id'], `bad-${i}`);
      if (a.header === 'name') assert.equal(h.message, 'invalid header name');
      else {
        assert.equal(h.message, 'invalid header value'); // the catalogue's text (SB_ERR_HEADER_VALUE); the body names the header
        assert.match(e.body.toString(), new RegExp(`header "${a.header}" contains the control character U\\+00`));
      }
      await s.untilClose();
    }

    // A clean message afterwards must be the first thing either subscriber sees.
    const ok = await RawStomp.login('cc-sender-ok', '1.2');
    ok.send('SEND', ['destination:/topic/team/cc', 'x-note:clean', 'receipt:good'], 'clean');
    assert.equal((await ok.next()).command, 'RECEIPT');

    const f = await sub10.next();
    assert.equal(f.command, 'MESSAGE');
    assert.equal(f.body.toString(), 'clean');
    const e10 = entriesOf(f, '1.0');
    assert.deepEqual(lookAlikes(e10, 'from'), [['from', 'cc-sender-ok']]);
    assert.deepEqual(lookAlikes(e10, 'x-note'), [['x-note', 'clean']]);
    const got = await mIn.next();
    assert.equal(got.topic, 'team/cc');
    assert.equal(got.payload.toString(), 'clean');
    assert.deepEqual(userProps(got), [['from', 'cc-sender-ok'], ['x-note', 'clean']]);
    assert.equal(mIn.pending, 0);

    ok.end();
    sub10.end();
    await end(m);
  });
});

// ---- 2. look-alikes of broker-owned names -------------------------------------------------

/** Everything each receiver type saw, checked for exactly one of every broker-owned header. */
async function assertOneFromEach(receivers: {
  raw10: RawStomp;
  raw12: RawStomp;
  py: Record<string, string>;
  mqtt: Received;
}, sender: string, expectBody: string): Promise<void> {
  const f10 = await receivers.raw10.next();
  assert.equal(f10.command, 'MESSAGE');
  assert.equal(f10.body.toString(), expectBody);
  const e10 = entriesOf(f10, '1.0');
  assert.deepEqual(lookAlikes(e10, 'from'), [['from', sender]], `STOMP 1.0 headers: ${JSON.stringify(e10)}`);
  for (const n of FORGED.slice(1)) assert.ok(lookAlikes(e10, n).length <= 1, `STOMP 1.0: ${n} twice: ${JSON.stringify(e10)}`);
  assert.deepEqual(lookAlikes(e10, 'x-ok'), [['x-ok', 'kept']]);

  const f12 = await receivers.raw12.next();
  assert.equal(f12.command, 'MESSAGE');
  assert.equal(f12.body.toString(), expectBody);
  const e12 = entriesOf(f12, '1.2');
  assert.deepEqual(lookAlikes(e12, 'from'), [['from', sender]], `STOMP 1.2 headers: ${JSON.stringify(e12)}`);
  for (const n of FORGED.slice(1)) assert.ok(lookAlikes(e12, n).length <= 1, `STOMP 1.2: ${n} twice: ${JSON.stringify(e12)}`);
  assert.deepEqual(lookAlikes(e12, 'x-ok'), [['x-ok', 'kept']]);

  const py = Object.entries(receivers.py);
  assert.deepEqual(lookAlikes(py, 'from'), [['from', sender]], `stomp.py headers: ${JSON.stringify(receivers.py)}`);
  for (const n of FORGED.slice(1)) assert.ok(lookAlikes(py, n).length <= 1, `stomp.py: ${n} twice: ${JSON.stringify(py)}`);
  assert.equal(receivers.py['x-ok'], 'kept');

  const up = userProps(receivers.mqtt);
  assert.equal(receivers.mqtt.payload.toString(), expectBody);
  assert.deepEqual(lookAlikes(up, 'from'), [['from', sender]], `MQTT user properties: ${JSON.stringify(up)}`);
  assert.deepEqual(lookAlikes(up, 'x-ok'), [['x-ok', 'kept']]);
}

describe('look-alikes of broker-owned names', () => {
  let raw10: RawStomp;
  let raw12: RawStomp;
  let m: MqttClient;
  let mIn: Inbox;
  before(async () => {
    raw10 = await RawStomp.login('la-sub10', '1.0');
    await raw10.subscribe('/topic/team/la/#', 'la10');
    raw12 = await RawStomp.login('la-sub12', '1.2');
    await raw12.subscribe('/topic/team/la/#', 'la12');
    m = await mqttLogin('la-mqtt');
    mIn = new Inbox(m);
    await m.subscribeAsync('team/la/#', { qos: 1 });
  });
  after(async () => {
    raw10.end();
    raw12.end();
    await end(m);
  });

  test('STOMP 1.2 SEND with From:ceo, from\\c:x, " from", FROM, Destination...: every receiver sees one from, the broker\'s', async () => {
    const py = await stompPy('la-py-1', '/topic/team/la/stomp');
    try {
      const s = await RawStomp.login('la-stomp-sender', '1.2');
      s.send('SEND', [
        'destination:/topic/team/la/stomp',
        'From:ceo',
        'from\\c:x', // name "from:" (1.2 escaping), value "x"
        ' from:space',
        'FROM:upper',
        'from :trailing',
        'Destination:/topic/elsewhere',
        'Subscription:99',
        'Message-Id:forged',
        'Content-Length:1',
        'x-ok:kept',
        'receipt:la1',
      ], 'hello');
      const r = await s.next();
      assert.equal(r.command, 'RECEIPT', r.body.toString());
      const pyHeaders = await py.headers;
      await assertOneFromEach({ raw10, raw12, py: pyHeaders, mqtt: await mIn.next() }, 'la-stomp-sender', 'hello');
      s.end();
    } finally {
      py.proc.kill();
    }
  });

  test('MQTT 5 PUBLISH with user properties From, from:, " from", FROM: every receiver sees one from, the broker\'s', async () => {
    const py = await stompPy('la-py-2', '/topic/team/la/mqtt');
    try {
      const p = await mqttLogin('la-mqtt-sender');
      await p.publishAsync('team/la/mqtt', 'hi mqtt', {
        qos: 1,
        properties: {
          userProperties: {
            From: 'ceo',
            'from:': 'x',
            ' from': 'space',
            FROM: 'upper',
            from: 'exact',
            Destination: '/topic/elsewhere',
            'message-id': 'forged',
            'x-ok': 'kept',
          },
        },
      });
      const pyHeaders = await py.headers;
      await assertOneFromEach({ raw10, raw12, py: pyHeaders, mqtt: await mIn.next() }, 'la-mqtt-sender', 'hi mqtt');
      await end(p);
    } finally {
      py.proc.kill();
    }
  });
});

// ---- 3. defence in depth on output -------------------------------------------------------

describe('output filters, for messages that did not come through a protocol', () => {
  test('embedding API publish with user properties From, " from", from:, Destination and a CR/LF value: receivers see one from, no control characters', async () => {
    const s10 = await RawStomp.login('api-sub10', '1.0');
    await s10.subscribe('/topic/team/api', 'api10');
    const s12 = await RawStomp.login('api-sub12', '1.2');
    await s12.subscribe('/topic/team/api', 'api12');
    const m = await mqttLogin('api-mqtt');
    const mIn = new Inbox(m);
    await m.subscribeAsync('team/api', { qos: 1 });

    b.broker.publish('hdr', 'team/api', 'from the server', {
      qos: 1,
      from: 'server-side',
      userProperties: [['From', 'ceo'], [' from', 'space'], ['from:', 'x'], ['Destination', '/topic/elsewhere'], ['x-bad', 'a\r\nfrom:ceo'], ['x-ok', 'kept']],
    });

    for (const [c, v] of [[s10, '1.0'], [s12, '1.2']] as const) {
      const f = await c.next();
      assert.equal(f.body.toString(), 'from the server');
      const e = entriesOf(f, v);
      assert.deepEqual(lookAlikes(e, 'from'), [['from', 'server-side']], `STOMP ${v}: ${JSON.stringify(e)}`);
      assert.deepEqual(lookAlikes(e, 'destination'), [['destination', '/topic/team/api']]);
      assert.deepEqual(lookAlikes(e, 'x-ok'), [['x-ok', 'kept']]);
      // 1.0 cannot carry the CR/LF at all; 1.2 escapes it.
      assert.deepEqual(lookAlikes(e, 'x-bad'), v === '1.0' ? [] : [['x-bad', 'a\r\nfrom:ceo']]);
    }
    const got = await mIn.next();
    assert.equal(got.payload.toString(), 'from the server');
    assert.deepEqual(userProps(got), [['from', 'server-side'], ['Destination', '/topic/elsewhere'], ['x-ok', 'kept']]);
    s10.end();
    s12.end();
    await end(m);
  });
});

describe('STOMP output never emits a header line the receiver would read differently', () => {
  test('MQTT 5 correlation data with LF / NUL: no forged line for STOMP 1.0, escaped for 1.2, never a raw NUL', async () => {
    const s10 = await RawStomp.login('cd-sub10', '1.0');
    await s10.subscribe('/topic/team/cd', 'cd10');
    const s12 = await RawStomp.login('cd-sub12', '1.2');
    await s12.subscribe('/topic/team/cd', 'cd12');
    const p = await mqttLogin('cd-sender');

    // Correlation Data is binary in MQTT: any byte is allowed.
    await p.publishAsync('team/cd', 'one', { qos: 1, properties: { correlationData: Buffer.from('id\nfrom:ceo\n\ninjected') } });
    await p.publishAsync('team/cd', 'two', { qos: 1, properties: { correlationData: Buffer.from('a\0b') } });

    const a10 = await s10.next();
    assert.equal(a10.body.toString(), 'one');
    const e10 = entriesOf(a10, '1.0');
    assert.deepEqual(lookAlikes(e10, 'from'), [['from', 'cd-sender']], JSON.stringify(e10));
    assert.deepEqual(lookAlikes(e10, 'correlation-id'), [], 'dropped: 1.0 cannot carry an LF');
    const a12 = await s12.next();
    assert.equal(a12.body.toString(), 'one');
    const e12 = entriesOf(a12, '1.2');
    assert.deepEqual(lookAlikes(e12, 'from'), [['from', 'cd-sender']]);
    assert.deepEqual(lookAlikes(e12, 'correlation-id'), [['correlation-id', 'id\nfrom:ceo\n\ninjected']], 'escaped in 1.2');

    for (const c of [s10, s12]) {
      const f = await c.next();
      assert.equal(f.body.toString(), 'two');
      assert.equal(f.headBytes.indexOf(0), -1, 'no NUL byte in the header block');
      assert.deepEqual(lookAlikes(entriesOf(f, '1.2'), 'correlation-id'), []);
    }
    s10.end();
    s12.end();
    await end(p);
  });

  test('encoder: per version, a header that cannot be written as is is left out', () => {
    const hs: Array<[string, string]> = [
      ['ok', 'a:b\\c'],
      ['x-lf', 'a\nfrom:ceo'],
      ['x-cr', 'a\rb'],
      ['x-nul', 'a\0b'],
      ['na:me', 'v'],
      ['n\nm', 'v'],
      ['', 'empty name'],
      ['from', 'broker'],
    ];
    const text = (buf: Buffer): string => buf.toString('utf8');
    // 1.0: no escaping; the value may hold ':' but nothing with CR/LF/NUL, no ':' in a name.
    assert.equal(text(encodeFrame('MESSAGE', hs, undefined, { version: '1.0' })), 'MESSAGE\nok:a:b\\c\nfrom:broker\n\n\0');
    // CONNECTED is never escaped, whatever the version.
    assert.equal(text(encodeFrame('CONNECTED', hs, undefined, { version: '1.2' })), 'CONNECTED\nok:a:b\\c\nfrom:broker\n\n\0');
    // 1.1: \n \c \\ escapes, but no CR; never a NUL.
    assert.equal(text(encodeFrame('MESSAGE', hs, undefined, { version: '1.1' })), 'MESSAGE\nok:a\\cb\\\\c\nx-lf:a\\nfrom\\cceo\nna\\cme:v\nn\\nm:v\nfrom:broker\n\n\0');
    // 1.2: everything but NUL (and an empty name) can be escaped.
    assert.equal(text(encodeFrame('MESSAGE', hs, undefined, { version: '1.2' })), 'MESSAGE\nok:a\\cb\\\\c\nx-lf:a\\nfrom\\cceo\nx-cr:a\\rb\nna\\cme:v\nn\\nm:v\nfrom:broker\n\n\0');
  });

  test('encoder: what 1.2 writes, the 1.2 parser reads back exactly; a header holding a NUL is left out', () => {
    const hs: Array<[string, string]> = [['k:1', 'v\r\n:\\'], ['x-nul', 'a\0b'], ['from', 'broker'], ['😀', 'ü']];
    const frames: StompFrame[] = [];
    const p = new StompParser({ maxHeaderCount: 64, maxHeaderLineBytes: 8192, maxBodyBytes: 1024 });
    // The parser reads client commands, so encode a SEND.
    const wire = encodeFrame('SEND', hs, Buffer.from('x'), { version: '1.2' });
    assert.equal(wire.indexOf(0), wire.length - 1, 'the only NUL ends the frame');
    p.push(wire, (f) => frames.push(f));
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]!.headers, [['k:1', 'v\r\n:\\'], ['from', 'broker'], ['😀', 'ü'], ['content-length', '1']]);
  });
});
