/**
 * Store interfaces: what must outlive a process (an embedded database) or be shared between
 * nodes (Redis). The core keeps the live state in memory and is the authority while it runs;
 * a store is the source of truth at start and for other nodes. Every implementation passes the
 * contract suites in contract.ts.
 *
 * Records are plain data (no live sessions, no protocol encodings): the shapes here are the
 * ones a store persists, so stores import nothing from the core.
 *
 * Writes are called in the order the core makes its changes and return at once; a store may
 * batch them. `flush()` resolves when every write made before the call is durable: whoever
 * acknowledges something that must not be lost (an MQTT PUBACK/PUBREC, a STOMP RECEIPT) waits
 * for it when the durability is `sync`.
 */

/** Whether an acknowledgement waits for the store: `sync` (waits), `batched` (committed every few ms), `none` (best effort). */
export type Durability = 'none' | 'batched' | 'sync';

export interface SenderRecord {
  clientId: string;
  app: string;
  profile: string;
}

export interface MetaRecord {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
}

export interface MessageRecord {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  meta: MetaRecord | null;
  /** Absolute expiry, ms since epoch; 0 = never. */
  expiresAt: number;
  sender: SenderRecord | null;
}

export interface SubscriptionRecord {
  /** The filter as subscribed, including any "$share/GROUP/" prefix. */
  raw: string;
  filter: string;
  group: string | null;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number;
}

/** A delivery waiting in a session queue or in flight. */
export interface DeliveryRecord {
  msg: MessageRecord;
  qos: 0 | 1 | 2;
  retain: boolean;
  subscriptionIds: number[] | null;
  /** The shared group / queue it came through: `{ filter, name }`, or null. */
  group: { filter: string; name: string } | null;
  via?: string;
}

export interface InflightRecord {
  /** Delivery id (1..65535; the MQTT packet id). */
  id: number;
  delivery: DeliveryRecord;
  phase: 'sent' | 'received';
}

/** A persistent session's state, without its queued deliveries (read those in pages). */
export interface SessionRecord {
  app: string;
  clientId: string;
  login: string;
  profile: string;
  protocol: string;
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  expiry: number;
  /** When its connection ended (ms since epoch); 0 = it was connected when last written. */
  disconnectedAt: number;
  subscriptions: SubscriptionRecord[];
  will: { msg: MessageRecord; delay: number } | null;
  inflight: InflightRecord[];
  inbound: number[];
  /** Deliveries waiting in its queue. */
  queued: number;
}

/** What changes of a session (besides its queue, subscriptions, in-flight, inbound ids and will). */
export interface SessionMeta {
  login: string;
  profile: string;
  protocol: string;
  expiry: number;
  disconnectedAt: number;
}

export interface SessionStore {
  /** The stored sessions of an application. */
  sessions(app: string): AsyncIterable<SessionRecord>;
  /** Up to `limit` queued deliveries of a session, oldest first, skipping the first `offset`. */
  queuePage(app: string, clientId: string, offset: number, limit: number): Promise<DeliveryRecord[]>;
  /** Create or update a session (with no other state when new). */
  putSession(app: string, clientId: string, meta: SessionMeta): void;
  /** Forget a session and everything of it. Idempotent. */
  deleteSession(app: string, clientId: string): void;
  /** Add or replace the subscription `sub.raw`. */
  putSubscription(app: string, clientId: string, sub: SubscriptionRecord): void;
  deleteSubscription(app: string, clientId: string, raw: string): void;
  /** Append to the session's queue. */
  enqueue(app: string, clientId: string, d: DeliveryRecord): void;
  /** Remove the oldest queued delivery. */
  dequeue(app: string, clientId: string): void;
  putInflight(app: string, clientId: string, r: InflightRecord): void;
  deleteInflight(app: string, clientId: string, id: number): void;
  putInbound(app: string, clientId: string, id: number): void;
  deleteInbound(app: string, clientId: string, id: number): void;
  putWill(app: string, clientId: string, will: { msg: MessageRecord; delay: number } | null): void;
}

export interface RetainedStore {
  /** Every retained message of an application. */
  retained(app: string): AsyncIterable<MessageRecord>;
  /** Set the retained message of `msg.topic` (an empty payload clears it [MQTT-3.3.1-6]). */
  putRetained(app: string, msg: MessageRecord): void;
}

/** A message held by a queue (durable shared group), with its delivery attempts so far. */
export interface QueuedRecord {
  /** Store-wide id of this queue entry, increasing in the order messages entered. */
  id: number;
  msg: MessageRecord;
  attempts: number;
}

export interface QueueStore {
  /** The queues of an application and what each holds (acknowledged messages are gone), oldest first. */
  queues(app: string): AsyncIterable<{ filter: string; name: string; messages: QueuedRecord[] }>;
  /** A message enters the queue `name` on `filter`; returns its id. */
  append(app: string, filter: string, name: string, msg: MessageRecord): number;
  /** It was acknowledged or dead-lettered: gone. */
  remove(app: string, id: number): void;
  /** It was given back (NACK): `attempts` deliveries so far. */
  attempted(app: string, id: number, attempts: number): void;
  /**
   * Shared stores: take over what another node's queues held (it died). The entries are this
   * node's from now on (new ids, returned oldest first per queue) and gone from the other's.
   */
  adopt?(app: string, node: string): Promise<Array<{ filter: string; name: string; messages: QueuedRecord[] }>>;
}

export interface DeadLetterRecord {
  /** Store-wide, increasing. */
  id: number;
  app: string;
  reason: string;
  /** Intended receiver's client id, when known. */
  to: string | null;
  /** ms since epoch. */
  time: number;
  msg: MessageRecord;
}

export interface DeadLetterFilter {
  reason?: string;
  /** Topic filter on the original topic. */
  topic?: string;
  to?: string;
}

export interface DeadLetterStore {
  /** Keep a dead letter; the store drops the oldest past its bounds (count and age). */
  addDeadLetter(letter: Omit<DeadLetterRecord, 'id'>): number;
  /** Up to `limit` dead letters of `app` with an id below `before` (newest first); `before` 0 = from the newest. */
  deadLetters(app: string, filter: DeadLetterFilter, before: number, limit: number): Promise<DeadLetterRecord[]>;
  /** Delete the dead letters matching `filter` (`ids`: only those); returns how many. */
  purgeDeadLetters(app: string, filter: DeadLetterFilter, ids?: readonly number[]): Promise<number>;
}

/**
 * Sessions kept where several nodes reach them (Redis): a node loads a session when its client
 * connects there (not every session at start), and one node at a time writes it.
 */
export interface SharedSessionStore {
  /**
   * This node holds the session from now on: its fencing token is raised, and from then on the
   * store refuses the writes for it of any node holding an older token (a slow node that lost the
   * client). Resolves, once the token is raised, with what the store holds for it (null: none).
   */
  acquire(app: string, clientId: string): Promise<SessionRecord | null>;
  /** This node no longer holds the session: it writes nothing more for it (nothing is deleted). */
  disown(app: string, clientId: string): void;
  /** Writes refused so far because another node had taken the session (fencing). */
  readonly fenced: number;
  /**
   * Told after the shared store was unreachable, once it is back: the sessions this node still
   * holds whose stored state may be missing or stale, to be written again from memory (`lost`:
   * the store had forgotten the session entirely), and whether the store came back empty
   * (`storeLost`: what every node keeps in memory, such as retained messages, is written again).
   */
  onRecovered(listener: (sessions: ReadonlyArray<RecoveredSession>, storeLost: boolean) => void): void;
}

export interface RecoveredSession {
  app: string;
  clientId: string;
  lost: boolean;
}

/** One backend's stores, opened together. */
export interface Stores {
  /** Present when several nodes share these stores (see SharedSessionStore). */
  readonly shared?: SharedSessionStore;
  readonly sessions: SessionStore;
  readonly retained: RetainedStore;
  readonly queues: QueueStore;
  readonly deadLetters: DeadLetterStore;
  /** Resolves once every write made so far is durable. */
  flush(): Promise<void>;
  /** True while writes wait for a flush (a `sync` acknowledgement must wait). */
  readonly dirty: boolean;
  /** Why the last commit failed (a full disk), until one succeeds again; null while writes succeed. */
  readonly writeError: Error | null;
  close(): Promise<void>;
}
