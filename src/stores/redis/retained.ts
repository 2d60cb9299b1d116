/** Retained messages in Redis: one hash per application, topic -> message (keys.ts). */
import type { MessageRecord, RetainedStore } from '../types.js';
import { decodeRetained, encodeRetained } from './codec.js';
import { RedisStoreError, toError } from './connection.js';
import type { Client } from './connection.js';
import type { Keys } from './keys.js';
import type { Writes } from './writes.js';

/** Topics read per HSCAN step. */
const PAGE = 500;

export class RedisRetainedStore implements RetainedStore {
  constructor(
    private readonly client: Client,
    private readonly keys: Keys,
    private readonly writes: Writes,
    private readonly where: string,
  ) {}

  async *retained(app: string): AsyncIterable<MessageRecord> {
    this.writes.assertOpen();
    const key = this.keys.retained(app);
    // HSCAN may return a field twice (while the hash is rehashed): each topic once.
    const seen = new Set<string>();
    let cursor = '0';
    do {
      let page: MessageRecord[];
      try {
        const [next, elements] = await this.client.hscanBuffer(key, cursor, 'COUNT', PAGE);
        cursor = next.toString();
        page = [];
        for (let i = 0; i + 1 < elements.length; i += 2) {
          const topic = elements[i]!.toString();
          if (seen.has(topic)) continue;
          seen.add(topic);
          page.push(decodeRetained(topic, elements[i + 1]!));
        }
      } catch (err) {
        throw new RedisStoreError(`cluster.redis: cannot read the retained messages of ${app} from ${this.where}: ${toError(err).message}`, { cause: err });
      }
      yield* page;
    } while (cursor !== '0');
  }

  putRetained(app: string, msg: MessageRecord): void {
    const key = this.keys.retained(app);
    // An empty payload clears the topic's retained message [MQTT-3.3.1-6].
    if (msg.payload.length === 0) this.writes.track(() => this.client.hdel(key, msg.topic));
    else this.writes.track(() => this.client.hset(key, msg.topic, encodeRetained(msg)));
  }
}
