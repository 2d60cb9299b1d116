/** The console's calls to /api/v1 with the key it logged in with (Basic app key:profile key). */
export interface Credentials {
  appKey: string;
  profileKey: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(readonly creds: Credentials) {}

  private get auth(): string {
    return `Basic ${btoa(`${this.creds.appKey}:${this.creds.profileKey}`)}`;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: { authorization: this.auth } };
    if (body !== undefined) {
      init.headers = { authorization: this.auth, 'content-type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`/api/v1${path}`, init);
    const json = (await res.json()) as T & { error?: { code: string; detail: string } };
    if (!res.ok) throw new ApiError(res.status, json.error?.code ?? 'error', json.error?.detail ?? res.statusText);
    return json;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
}

export interface Page<T> {
  items: T[];
  next: string | null;
  total: number | null;
}

export interface ClientSummary {
  clientId: string;
  online: boolean;
  profile: string;
  login: string | null;
  protocol: string;
  transport: string | null;
  remoteAddress: string | null;
  since: number | null;
  persistent: boolean;
  subscriptions: number;
  queued: number;
  inflight: number;
}

export interface ClientDetails extends ClientSummary {
  session: { subscriptions: Array<{ filter: string; qos: number }>; queued: number; inflight: number; expiryInterval: number };
}

export interface BrokerInfo {
  version: string;
  uptimeMs: number;
  memory: { rss: number; heapUsed: number };
  connections: number | null;
}

export interface Stats {
  clients: { sessions: number; online: number; persistent: number };
  subscriptions: number;
  retained: number;
  messages: { messagesIn: number; messagesOut: number; dropped: number };
  deadLetters: { total: number; kept: number };
}
