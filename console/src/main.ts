/**
 * The operators' console, served by the broker at /console: preact + htm (no JSX build step),
 * uPlot for the rate chart, mqtt.js over the broker's own WebSocket listener for the live tap.
 * Everything it shows comes from /api/v1 with the key it logged in with.
 */
import { h, render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import mqtt from 'mqtt/dist/mqtt.esm';
import { Api, ApiError } from './api.js';
import type { BrokerInfo, ClientDetails, ClientSummary, Credentials, Page, Stats } from './api.js';

const html = htm.bind(h);
type Pages = 'overview' | 'clients' | 'topics' | 'tap' | 'publish' | 'presence' | 'queues' | 'dead-letters';
const PAGES: Array<[Pages, string]> = [
  ['overview', 'Overview'],
  ['clients', 'Clients'],
  ['topics', 'Topics & retained'],
  ['tap', 'Live tap'],
  ['publish', 'Publish'],
  ['presence', 'Presence'],
  ['queues', 'Queues'],
  ['dead-letters', 'Dead letters'],
];

function errorText(e: unknown): string {
  return e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
}

/** Load once and on demand; `reload` to refresh. */
function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(null)),
      (e: unknown) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

function Login({ onLogin }: { onLogin: (c: Credentials) => void }) {
  const [appKey, setApp] = useState('');
  const [profileKey, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const creds = { appKey, profileKey };
    try {
      await new Api(creds).get('/stats');
      sessionStorage.setItem('sb-console', JSON.stringify(creds));
      onLogin(creds);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return html`<form class="login" onSubmit=${submit}>
    <h1>Switchboard</h1>
    <label>Application key <input name="appKey" value=${appKey} onInput=${(e: Event) => setApp((e.target as HTMLInputElement).value)} /></label>
    <label>ADMIN key <input name="profileKey" type="password" value=${profileKey} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
    <button type="submit">Log in</button>
    ${error !== null && html`<p class="error">${error}</p>`}
  </form>`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
}

function Overview({ api }: { api: Api }) {
  const chart = useRef<HTMLDivElement>(null);
  const [info, setInfo] = useState<{ b: BrokerInfo; s: Stats } | null>(null);
  useEffect(() => {
    const series: [number[], number[], number[]] = [[], [], []];
    const plot = new uPlot(
      { width: 640, height: 220, series: [{}, { label: 'in/s', stroke: '#2a6' }, { label: 'out/s', stroke: '#26a' }], axes: [{}, {}] },
      series,
      chart.current!,
    );
    let last: { t: number; i: number; o: number } | null = null;
    const tick = async (): Promise<void> => {
      const [b, s] = await Promise.all([api.get<BrokerInfo>('/broker'), api.get<Stats>('/stats')]);
      setInfo({ b, s });
      const t = Date.now() / 1000;
      if (last !== null) {
        series[0].push(t);
        series[1].push((s.messages.messagesIn - last.i) / (t - last.t));
        series[2].push((s.messages.messagesOut - last.o) / (t - last.t));
        if (series[0].length > 120) for (const a of series) a.shift();
        plot.setData(series);
        chart.current?.setAttribute('data-points', String(series[0].length));
      }
      last = { t, i: s.messages.messagesIn, o: s.messages.messagesOut };
    };
    void tick();
    const timer = setInterval(() => void tick().catch(() => undefined), 1000);
    return () => {
      clearInterval(timer);
      plot.destroy();
    };
  }, []);
  return html`<section>
    <h2>Overview</h2>
    ${info !== null &&
    html`<div class="cards">
      <div class="card"><b data-test="connections">${info.b.connections ?? '-'}</b>connections</div>
      <div class="card"><b>${info.s.clients.online}</b>clients online</div>
      <div class="card"><b>${info.s.clients.sessions}</b>sessions</div>
      <div class="card"><b>${info.s.subscriptions}</b>subscriptions</div>
      <div class="card"><b>${(info.b.memory.rss / 1048576).toFixed(0)} MB</b>memory (RSS)</div>
      <div class="card"><b>${duration(info.b.uptimeMs)}</b>uptime (${info.b.version})</div>
    </div>`}
    <h3>Messages per second</h3>
    <div ref=${chart}></div>
  </section>`;
}

function Clients({ api }: { api: Api }) {
  const [prefix, setPrefix] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const list = useLoad(() => api.get<Page<ClientSummary>>(`/clients?limit=200${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ''}`), [prefix]);
  const details = useLoad(() => (open === null ? Promise.resolve(null) : api.get<ClientDetails>(`/clients/${encodeURIComponent(open)}`)), [open]);
  useEffect(() => {
    const t = setInterval(list.reload, 2000);
    return () => clearInterval(t);
  }, []);
  const kick = async (id: string): Promise<void> => {
    try {
      const r = await api.call<{ disconnected: boolean }>('DELETE', `/clients/${encodeURIComponent(id)}`);
      setNote(`${id}: ${r.disconnected ? 'disconnected' : 'was not connected'}`);
      setOpen(null);
      list.reload();
    } catch (e) {
      setNote(errorText(e));
    }
  };
  return html`<section>
    <h2>Clients</h2>
    <input placeholder="client id starts with..." value=${prefix} onInput=${(e: Event) => setPrefix((e.target as HTMLInputElement).value)} />
    ${note !== null && html`<p class="note">${note}</p>`} ${list.error !== null && html`<p class="error">${list.error}</p>`}
    <table>
      <tr><th>client</th><th>online</th><th>profile</th><th>protocol</th><th>address</th><th>subs</th><th>queued</th><th></th></tr>
      ${list.data?.items.map(
        (c) => html`<tr data-client=${c.clientId}>
          <td><a href="#" onClick=${(e: Event) => (e.preventDefault(), setOpen(c.clientId))}>${c.clientId}</a></td>
          <td>${c.online ? 'yes' : 'no'}</td><td>${c.profile}</td><td>${c.protocol}/${c.transport ?? '-'}</td><td>${c.remoteAddress ?? '-'}</td>
          <td>${c.subscriptions}</td><td>${c.queued}</td>
          <td><button data-kick=${c.clientId} onClick=${() => void kick(c.clientId)}>Kick</button></td>
        </tr>`,
      )}
    </table>
    ${details.data !== null &&
    html`<div class="details"><h3>${details.data.clientId}</h3>
      <p>login ${details.data.login ?? '-'}, ${details.data.persistent ? `persistent (expiry ${details.data.session.expiryInterval} s)` : 'clean session'}, ${details.data.session.queued} queued, ${details.data.session.inflight} in flight</p>
      <ul>${details.data.session.subscriptions.map((s) => html`<li>${s.filter} (QoS ${s.qos})</li>`)}</ul></div>`}
  </section>`;
}

function Topics({ api }: { api: Api }) {
  const topics = useLoad(() => api.get<Page<{ topicFilter: string; group: string | null; subscribers: number }>>('/topics?limit=500'), []);
  const retained = useLoad(() => api.get<Page<{ topic: string; bytes: number; qos: number; from: string | null }>>('/retained?limit=500'), []);
  const del = async (topic: string): Promise<void> => {
    await api.call('DELETE', `/retained/${encodeURIComponent(topic)}`);
    retained.reload();
  };
  return html`<section>
    <h2>Subscribed filters</h2>
    <table><tr><th>filter</th><th>group</th><th>subscribers</th></tr>
      ${topics.data?.items.map((t) => html`<tr><td>${t.topicFilter}</td><td>${t.group ?? ''}</td><td>${t.subscribers}</td></tr>`)}</table>
    <h2>Retained messages</h2>
    <table><tr><th>topic</th><th>bytes</th><th>QoS</th><th>from</th><th></th></tr>
      ${retained.data?.items.map((r) => html`<tr><td>${r.topic}</td><td>${r.bytes}</td><td>${r.qos}</td><td>${r.from ?? ''}</td><td><button onClick=${() => void del(r.topic)}>Delete</button></td></tr>`)}</table>
  </section>`;
}

interface Tapped {
  n: number;
  topic: string;
  payload: string;
  at: string;
}

function Tap({ api }: { api: Api }) {
  const [filter, setFilter] = useState('#');
  const [status, setStatus] = useState('not subscribed');
  const [lines, setLines] = useState<Tapped[]>([]);
  const client = useRef<ReturnType<typeof mqtt.connect> | null>(null);
  useEffect(() => () => client.current?.end(true), []);
  const start = (e: Event): void => {
    e.preventDefault();
    client.current?.end(true);
    setLines([]);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const c = mqtt.connect(`${scheme}://${location.host}/mqtt`, {
      protocolVersion: 5,
      clientId: `console-${Math.random().toString(36).slice(2, 10)}`,
      username: api.creds.appKey,
      password: api.creds.profileKey,
      reconnectPeriod: 0,
    });
    client.current = c;
    let n = 0;
    c.on('connect', () => {
      c.subscribe(filter, { qos: 0 }, (err, granted) => {
        const code = granted?.[0]?.qos ?? 128;
        setStatus(err !== null && err !== undefined ? String(err) : code >= 128 ? `refused (0x${code.toString(16)})` : `watching ${filter}`);
      });
    });
    c.on('error', (err) => setStatus(String(err)));
    c.on('message', (topic, payload) => {
      const line: Tapped = { n: ++n, topic, payload: new TextDecoder().decode(payload), at: new Date().toLocaleTimeString() };
      setLines((l) => [line, ...l].slice(0, 200));
    });
  };
  return html`<section>
    <h2>Live tap</h2>
    <form onSubmit=${start}>
      <input name="filter" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
      <button type="submit">Watch</button>
      <span class="note" data-test="tap-status">${status}</span>
    </form>
    <p class="hint">A topic filter, or <code>$monitor/CLIENT-ID</code> to watch one client's traffic.</p>
    <table class="tap">${lines.map((l) => html`<tr><td>${l.at}</td><td>${l.topic}</td><td class="payload">${l.payload}</td></tr>`)}</table>
  </section>`;
}

function Publish({ api }: { api: Api }) {
  const [topic, setTopic] = useState('');
  const [payload, setPayload] = useState('');
  const [qos, setQos] = useState(0);
  const [retain, setRetain] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const send = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const r = await api.call<{ deliveries: number }>('POST', '/publish', { topic, payload, qos, retain });
      setNote(`published: ${r.deliveries} deliveries`);
    } catch (err) {
      setNote(errorText(err));
    }
  };
  return html`<section><h2>Publish</h2>
    <form class="stack" onSubmit=${send}>
      <label>Topic <input name="topic" value=${topic} onInput=${(e: Event) => setTopic((e.target as HTMLInputElement).value)} /></label>
      <label>Payload <textarea name="payload" value=${payload} onInput=${(e: Event) => setPayload((e.target as HTMLTextAreaElement).value)}></textarea></label>
      <label>QoS <select value=${qos} onChange=${(e: Event) => setQos(Number((e.target as HTMLSelectElement).value))}><option value="0">0</option><option value="1">1</option><option value="2">2</option></select></label>
      <label><input type="checkbox" checked=${retain} onChange=${(e: Event) => setRetain((e.target as HTMLInputElement).checked)} /> retain</label>
      <button type="submit">Publish</button>
    </form>
    ${note !== null && html`<p class="note" data-test="publish-result">${note}</p>`}
  </section>`;
}

interface PresenceState {
  client: string;
  online: boolean;
  profile: string;
  since: string;
  reason?: string;
}

function Presence({ api }: { api: Api }) {
  const list = useLoad(() => api.get<{ items: PresenceState[] }>('/presence'), []);
  const online = (list.data?.items ?? []).filter((p) => p.online);
  const gone = (list.data?.items ?? []).filter((p) => !p.online);
  const by = new Map<string, string[]>();
  for (const p of online) by.set(p.profile, [...(by.get(p.profile) ?? []), p.client]);
  return html`<section><h2>Presence</h2>
    ${[...by].map(([p, ids]) => html`<h3>${p} (${ids.length})</h3><p>${ids.join(', ')}</p>`)}
    ${list.data !== null && online.length === 0 && html`<p>Nobody is online.</p>`}
    ${gone.length > 0 &&
    html`<h3>Recently offline</h3><table><tr><th>client</th><th>profile</th><th>since</th><th>why</th></tr>
      ${gone.slice(0, 100).map((p) => html`<tr><td>${p.client}</td><td>${p.profile}</td><td>${new Date(p.since).toLocaleTimeString()}</td><td>${p.reason ?? ''}</td></tr>`)}</table>`}
  </section>`;
}

function Queues({ api }: { api: Api }) {
  const list = useLoad(() => api.get<Page<{ name: string; kind: string; topicFilter: string; consumers: number; online: number; depth: number }>>('/queues?limit=500'), []);
  return html`<section><h2>Queues and shared groups</h2>
    <table><tr><th>name</th><th>kind</th><th>filter</th><th>consumers</th><th>online</th><th>depth</th></tr>
    ${list.data?.items.map((q) => html`<tr><td>${q.name}</td><td>${q.kind}</td><td>${q.topicFilter}</td><td>${q.consumers}</td><td>${q.online}</td><td>${q.depth}</td></tr>`)}</table></section>`;
}

function DeadLetters({ api }: { api: Api }) {
  const [target, setTarget] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const list = useLoad(() => api.get<Page<{ id: number; reason: string; topic: string; from: string | null; to: string | null; time: number; bytes: number }>>('/dead-letters?limit=200'), []);
  const act = async (what: Promise<unknown>, done: (r: never) => string): Promise<void> => {
    try {
      setNote(done((await what) as never));
    } catch (e) {
      setNote(errorText(e));
    }
    list.reload();
  };
  const replay = (id: number): Promise<void> =>
    act(api.call('POST', '/dead-letters/replay', { ids: [id], ...(target ? { targetTopic: target } : {}) }), (r: { replayed: number; deliveries: number }) => `replayed ${r.replayed} (${r.deliveries} deliveries)`);
  return html`<section><h2>Dead letters</h2>
    <label>Replay to topic (empty: the original) <input name="target" value=${target} onInput=${(e: Event) => setTarget((e.target as HTMLInputElement).value)} /></label>
    <button data-test="purge" onClick=${() => void act(api.call('DELETE', '/dead-letters'), (r: { purged: number }) => `purged ${r.purged}`)}>Purge all</button>
    ${note !== null && html`<p class="note" data-test="dl-note">${note}</p>`}
    <table><tr><th>id</th><th>reason</th><th>topic</th><th>from</th><th>to</th><th>when</th><th>bytes</th><th></th></tr>
    ${list.data?.items.map(
      (d) => html`<tr data-letter=${d.id}><td>${d.id}</td><td>${d.reason}</td><td>${d.topic}</td><td>${d.from ?? ''}</td><td>${d.to ?? ''}</td><td>${new Date(d.time).toLocaleTimeString()}</td><td>${d.bytes}</td>
        <td><button data-replay=${d.id} onClick=${() => void replay(d.id)}>Replay</button></td></tr>`,
    )}</table></section>`;
}

function App() {
  const saved = sessionStorage.getItem('sb-console');
  const [creds, setCreds] = useState<Credentials | null>(saved !== null ? (JSON.parse(saved) as Credentials) : null);
  const [page, setPage] = useState<Pages>('overview');
  if (creds === null) return html`<${Login} onLogin=${setCreds} />`;
  const api = new Api(creds);
  const views: Record<Pages, unknown> = {
    overview: html`<${Overview} api=${api} />`,
    clients: html`<${Clients} api=${api} />`,
    topics: html`<${Topics} api=${api} />`,
    tap: html`<${Tap} api=${api} />`,
    publish: html`<${Publish} api=${api} />`,
    presence: html`<${Presence} api=${api} />`,
    queues: html`<${Queues} api=${api} />`,
    'dead-letters': html`<${DeadLetters} api=${api} />`,
  };
  const logout = (): void => {
    sessionStorage.removeItem('sb-console');
    setCreds(null);
  };
  return html`<div class="app">
    <nav>
      <b>Switchboard</b>
      ${PAGES.map(([id, label]) => html`<a href="#" data-page=${id} class=${page === id ? 'active' : ''} onClick=${(e: Event) => (e.preventDefault(), setPage(id))}>${label}</a>`)}
      <a href="#" onClick=${logout}>Log out</a>
    </nav>
    <main>${views[page]}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
