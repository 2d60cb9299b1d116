/**
 * MQTT-SN topic ids (MQTT-SN 1.2 sections 3 and 6.5-6.7). A PUBLISH names its topic by a
 * 2-octet id instead of a name:
 *
 *   normal      registered per client: REGISTER/REGACK in either direction (6.5); valid for the
 *               client's connection (a sleeping client keeps them, a new CONNECT starts afresh)
 *   predefined  known to both sides beforehand (`mqttsn.predefinedTopics`, 6.7), the same for
 *               every client
 *   short       a 2-octet topic name carried in the TopicId field itself (6.7)
 *
 * Ids 0x0000 and 0xFFFF are reserved (5.3.11). The per-client registry is bounded: when full a
 * REGISTER is answered with 0x01 (congestion) and the gateway cannot name new topics to the
 * client (such deliveries are dropped and reported).
 */
import type { PublishTopic } from './packets.js';

const FIRST_ID = 1;
const LAST_ID = 0xfffe;

/** Topic ids both ways: id -> name, name -> id. */
class TopicIds {
  protected readonly byId = new Map<number, string>();
  protected readonly byName = new Map<string, number>();

  name(id: number): string | undefined {
    return this.byId.get(id);
  }

  id(name: string): number | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byId.size;
  }

  protected set(id: number, name: string): void {
    this.byId.set(id, name);
    this.byName.set(name, id);
  }
}

/** `mqttsn.predefinedTopics`: id <-> topic name, shared by every client. */
export class PredefinedTopics extends TopicIds {
  /**
   * From the configured `ID=TOPIC` entries; throws an Error naming the entry when an id or a
   * name is given twice or a name is not a valid topic name (`valid`).
   */
  constructor(entries: readonly string[], valid: (topic: string) => boolean) {
    super();
    for (const e of entries) {
      const eq = e.indexOf('=');
      const id = Number(e.slice(0, eq));
      const name = e.slice(eq + 1);
      if (eq <= 0 || !Number.isInteger(id) || id < FIRST_ID || id > LAST_ID) throw new Error(`"${e}": the id must be 1..65534`);
      if (!valid(name)) throw new Error(`"${e}": "${name}" is not a valid topic name`);
      if (this.byId.has(id)) throw new Error(`"${e}": id ${id} is defined twice`);
      if (this.byName.has(name)) throw new Error(`"${e}": topic "${name}" is defined twice`);
      this.set(id, name);
    }
  }
}

/** One client's normal topic ids (6.5), at most `capacity` of them. */
export class TopicRegistry extends TopicIds {
  private next = FIRST_ID;

  constructor(readonly capacity: number) {
    super();
  }

  /** The id of `name`, registered now if it had none; 0 when the registry is full. */
  register(name: string): number {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    if (this.byId.size >= Math.min(this.capacity, LAST_ID)) return 0;
    let id = this.next;
    while (this.byId.has(id)) id = id === LAST_ID ? FIRST_ID : id + 1;
    this.next = id === LAST_ID ? FIRST_ID : id + 1;
    this.set(id, name);
    return id;
  }

  forget(id: number): void {
    const name = this.byId.get(id);
    if (name === undefined) return;
    this.byId.delete(id);
    this.byName.delete(name);
  }

  clear(): void {
    this.byId.clear();
    this.byName.clear();
    this.next = FIRST_ID;
  }
}

/** A short topic name (6.7) is exactly 2 octets of UTF-8 and never a wildcard filter. */
export function isShortName(topic: string): boolean {
  return topic.length <= 2 && Buffer.byteLength(topic, 'utf8') === 2;
}

/** The TopicId field of a PUBLISH's topic (PUBACK echoes it, 5.4.13). */
export function topicIdField(t: PublishTopic): number {
  return t.kind === 'short' ? Buffer.from(t.name, 'utf8').readUInt16BE(0) : t.id;
}

/**
 * How the gateway names `topic` to a client (6.5, 6.7): its normal id when registered, else
 * the predefined id, else the short name; null: it must be REGISTERed first.
 */
export function outboundTopic(topic: string, registry: TopicRegistry, predefined: PredefinedTopics): PublishTopic | null {
  const normal = registry.id(topic);
  if (normal !== undefined) return { kind: 'normal', id: normal };
  const pre = predefined.id(topic);
  if (pre !== undefined) return { kind: 'predefined', id: pre };
  if (isShortName(topic)) return { kind: 'short', name: topic };
  return null;
}
