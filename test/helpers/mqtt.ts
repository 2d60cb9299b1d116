/** Helpers around npm `mqtt` (MQTT.js) for integration tests. */
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient, IPublishPacket, Packet } from 'mqtt';

export type { MqttClient };

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/** A client that connects when `.connect()` is called, to observe the CONNACK ('connect' event). */
export function client(url: string, opts: IClientOptions = {}): MqttClient {
  return mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts, manualConnect: true });
}

/** Publish at QoS 1 and resolve with the PUBACK reason code (0 when the short form was used). */
export function publishReason(c: MqttClient, topic: string, payload: string | Buffer, opts: { qos?: 1 | 2; properties?: Record<string, unknown> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const qos = opts.qos ?? 1;
    const want = qos === 1 ? 'puback' : 'pubrec';
    let id: number | undefined;
    const on = (p: Packet): void => {
      if (p.cmd !== want || (id !== undefined && p.messageId !== id)) return;
      c.removeListener('packetreceive', on);
      resolve(p.reasonCode ?? 0);
    };
    c.on('packetreceive', on);
    c.on('packetsend', function sent(p: Packet) {
      if (p.cmd === 'publish' && p.topic === topic) {
        id = p.messageId;
        c.removeListener('packetsend', sent);
      }
    });
    c.publish(topic, payload, { qos, ...(opts.properties ? { properties: opts.properties } : {}) }, () => {
      /* errors (reason >= 0x80) are reported through the ack above */
    });
    setTimeout(() => reject(new Error('no acknowledgement')), 3000).unref();
  });
}

/** SUBSCRIBE and resolve with the SUBACK codes, failures included (MQTT.js rejects on them). */
export function grantedQos(c: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const on = (p: Packet): void => {
      if (p.cmd !== 'suback') return;
      c.removeListener('packetreceive', on);
      resolve(p.granted as number[]);
    };
    c.on('packetreceive', on);
    c.subscribe(filters, { qos }, () => {
      /* reported through the SUBACK above */
    });
    setTimeout(() => reject(new Error('no SUBACK')), 3000).unref();
  });
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects messages; `next()` resolves with the next one (or rejects after `ms`). */
export class Inbox {
  private readonly items: Received[] = [];
  private waiters: Array<(r: Received) => void> = [];
  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const r = { topic, payload, packet };
      const w = this.waiters.shift();
      if (w) w(r);
      else this.items.push(r);
    });
  }
  get pending(): number {
    return this.items.length;
  }
  next(ms = 3000): Promise<Received> {
    const r = this.items.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== f);
        reject(new Error('no message within timeout'));
      }, ms);
      const f = (x: Received): void => {
        clearTimeout(t);
        resolve(x);
      };
      this.waiters.push(f);
    });
  }
  async take(n: number, ms = 3000): Promise<Received[]> {
    const out: Received[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(ms));
    return out;
  }
  /** Assert silence: resolves true if nothing arrives within `ms`. */
  async none(ms = 200): Promise<boolean> {
    if (this.items.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }
}

export function end(...clients: MqttClient[]): Promise<void[]> {
  return Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
}

/** Connect with the inbox attached first, so messages sent right after CONNACK are not missed. */
export async function connectWithInbox(url: string, opts: IClientOptions = {}): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
  const c = client(url, opts);
  const inbox = new Inbox(c);
  const ack = new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  c.connect();
  const { sessionPresent } = await ack;
  return { client: c, inbox, sessionPresent };
}

/** A persistent MQTT 5 session (expiry 3600) subscribed to `filter`, then offline: what matches is stored for it. */
export async function parkSession(url: string, clientId: string, filter: string, qos: 0 | 1 | 2 = 1): Promise<void> {
  const c = await connect(url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } });
  await c.subscribeAsync(filter, { qos });
  await end(c);
}
