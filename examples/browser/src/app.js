/**
 * Switchboard in a browser. Logs in to an application with its app key, a login id and a
 * profile key or a JWT (`switchboard token`), over MQTT 5 (mqtt.js) or STOMP 1.2 (stomp.js) on
 * the broker's WebSocket port, then:
 *
 *   - receives broadcasts on a topic the profile may read (a grant, e.g. `announcements/#`);
 *   - receives direct messages on its own inbox, `$inbox/<login>/#`, and sends them to
 *     `$inbox/<login>` of others (STOMP: `/topic/$inbox/...`);
 *   - shows presence: `$presence/+` gives every client's current state, then the changes.
 *
 * The broker stamps every message with the sender's login: MQTT 5 user property `from`, STOMP
 * header `from`. Payloads come from other clients: they only ever go into textContent.
 */
import mqtt from 'mqtt';
import { Client } from '@stomp/stompjs';

const loginForm = document.querySelector('#login');
const directForm = document.querySelector('#direct');
const publishForm = document.querySelector('#publish');
const statusEl = document.querySelector('#status');
const logEl = document.querySelector('#log');
const presenceEl = document.querySelector('#presence');

// The broker that served this page; a login id of its own for each tab.
loginForm.elements.broker.value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host || 'localhost:8080'}`;
loginForm.elements.login.value = `web-${Math.random().toString(36).slice(2, 6)}`;

/** The open connection, whichever the protocol: { send(topic, text), close() }; null when offline. */
let conn = null;
/** client id -> its latest presence state. */
const presence = new Map();

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  const online = state === 'connected';
  for (const b of [...directForm.querySelectorAll('button'), ...publishForm.querySelectorAll('button')]) b.disabled = !online;
  loginForm.elements.disconnect.disabled = conn === null;
}

function log(kind, text, { topic, from, protocol } = {}) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  if (protocol !== undefined) li.dataset.protocol = protocol;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const label = document.createElement('span');
  label.className = 'kind';
  label.textContent = protocol !== undefined ? `${kind} ${protocol}` : kind;
  li.append(time, ' ', label, ' ');
  if (topic !== undefined) {
    const code = document.createElement('code');
    code.textContent = topic;
    li.append(code, ' ');
  }
  const payload = document.createElement('span');
  payload.className = 'payload';
  payload.textContent = text;
  li.append(payload);
  if (from !== undefined) {
    const f = document.createElement('span');
    f.className = 'from';
    f.textContent = ` from ${from}`;
    li.append(f);
  }
  logEl.prepend(li);
}

function showPresence() {
  const items = [...presence.values()].sort((a, b) => a.client.localeCompare(b.client));
  presenceEl.replaceChildren(
    ...items.map((p) => {
      const li = document.createElement('li');
      li.dataset.client = p.client;
      li.dataset.online = String(p.online);
      li.textContent = `${p.client}: ${p.profile}, ${p.protocol}/${p.transport}${p.online ? '' : `, offline (${p.reason ?? '?'})`}`;
      li.title = `since ${p.since}`;
      return li;
    }),
  );
}

/** A message from the broker, either protocol; `topic` in MQTT form. */
function received(protocol, topic, text, from) {
  if (topic.startsWith('$presence/')) {
    try {
      const state = JSON.parse(text);
      presence.set(state.client, state);
      showPresence();
    } catch {
      log('error', `unreadable presence state on ${topic}`);
    }
    return;
  }
  log(topic.startsWith('$inbox/') ? 'direct' : 'broadcast', text, { topic, from, protocol });
}

/** What the page subscribes to: the broadcast topic, its own inbox, everyone's presence. */
const filters = (o) => [o.topic, `$inbox/${o.login}/#`, '$presence/+'];

function openMqtt(o, on) {
  const client = mqtt.connect(`${o.broker}/mqtt`, {
    protocolVersion: 5, // the sender's id comes as the MQTT 5 user property `from`
    clientId: o.login,
    username: o.appKey,
    password: o.secret,
    clean: true,
    reconnectPeriod: 0,
  });
  client.on('connect', () => {
    on.connected();
    // One SUBSCRIBE each, so that a refusal (SUBACK 0x87) names its filter.
    for (const f of filters(o)) client.subscribe(f, { qos: 1 }, (err) => err && log('error', `subscribe ${f}: ${err.message}`));
  });
  client.on('message', (topic, payload, packet) => {
    const from = packet.properties?.userProperties?.from;
    on.received('mqtt', topic, new TextDecoder().decode(payload), Array.isArray(from) ? from[0] : from);
  });
  client.on('error', (err) => on.failed(err.message));
  client.on('close', () => on.closed());
  return {
    send(topic, text) {
      // QoS 1: the PUBACK says whether the broker took it (0x87: not allowed).
      client.publish(topic, text, { qos: 1 }, (err) => (err ? log('error', `${topic}: ${err.message}`) : log('sent', text, { topic, protocol: 'mqtt' })));
    },
    close: () => client.end(),
  };
}

function openStomp(o, on) {
  let receipts = 0;
  const client = new Client({
    brokerURL: `${o.broker}/stomp`,
    // STOMP login: host = app key, login = login id, passcode = profile key or JWT.
    connectHeaders: { host: o.appKey, login: o.login, passcode: o.secret },
    reconnectDelay: 0,
  });
  client.onConnect = () => {
    on.connected();
    for (const f of filters(o)) {
      client.subscribe(`/topic/${f}`, (m) => on.received('stomp', m.headers.destination.replace(/^\/topic\//, ''), m.body, m.headers.from));
    }
  };
  // A refused login, SUBSCRIBE or SEND: an ERROR frame, then the broker closes the connection.
  client.onStompError = (frame) => on.failed(`${frame.headers.message ?? 'ERROR'}: ${frame.body}`.trim());
  client.onWebSocketClose = () => on.closed();
  client.activate();
  return {
    send(topic, text) {
      const receipt = `send-${++receipts}`;
      client.watchForReceipt(receipt, () => log('sent', text, { topic, protocol: 'stomp' }));
      client.publish({ destination: `/topic/${topic}`, body: text, headers: { receipt } });
    },
    close: () => void client.deactivate(),
  };
}

loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  conn?.close();
  const f = loginForm.elements;
  const o = {
    broker: f.broker.value.trim().replace(/\/+$/, ''),
    appKey: f.appKey.value.trim(),
    login: f.login.value.trim(),
    secret: f.secret.value.trim(),
    topic: f.topic.value.trim(),
  };
  const protocol = f.protocol.value;
  const session = {};
  // Events of a connection the page has since replaced are ignored.
  const mine = (fn) => (...args) => conn === session && fn(...args);
  const on = {
    connected: mine(() => setStatus('connected', `connected over ${protocol.toUpperCase()} as ${o.login}`)),
    failed: mine((text) => {
      log('error', text);
      setStatus('error', text);
    }),
    closed: mine(() => {
      conn = null;
      setStatus(statusEl.dataset.state === 'error' ? 'error' : 'offline', statusEl.dataset.state === 'error' ? statusEl.textContent : 'disconnected');
    }),
    received: mine(received),
  };
  presence.clear();
  showPresence();
  conn = session;
  Object.assign(session, protocol === 'stomp' ? openStomp(o, on) : openMqtt(o, on));
  setStatus('connecting', `connecting over ${protocol.toUpperCase()}…`);
});

loginForm.elements.disconnect.addEventListener('click', () => conn?.close());

directForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const { to, text } = directForm.elements;
  conn?.send(`$inbox/${to.value.trim()}`, text.value);
  text.value = '';
});

publishForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const { topic, text } = publishForm.elements;
  conn?.send(topic.value.trim(), text.value);
  text.value = '';
});
