/** Helpers around npm `mqtt` (MQTT.js) for integration tests. */
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient, IPublishPacket } from 'mqtt';

export type { MqttClient };

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/** A client that connects when `.connect()` is called, to observe the CONNACK ('connect' event). */
export function client(url: string, opts: IClientOptions = {}): MqttClient {
  return mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts, manualConnect: true });
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
