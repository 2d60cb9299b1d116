/**
 * Persistent sessions in SQLite: one row per session (keyed by application and client id) and
 * its subscriptions, queue, in-flight deliveries, inbound QoS 2 ids and will in their own tables
 * (deleted with it, ON DELETE CASCADE). A write for a session that is not stored does nothing,
 * as in the memory backend. Reads see every write made before them (pending writes are committed
 * first) and are paged, so no statement stays open across an `await`.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { DeliveryRecord, InflightRecord, MessageRecord, SessionMeta, SessionRecord, SessionStore, SubscriptionRecord } from '../types.js';
import { DELIVERY_COLUMNS, DELIVERY_PARAMS, DELIVERY_UPDATE, MESSAGE_COLUMNS, MESSAGE_PARAMS, MESSAGE_UPDATE, deliveryOf, deliveryParams, messageOf, messageParams, qosOf } from './codec.js';
import type { DeliveryRow, MessageRow } from './codec.js';
import type { GroupCommit } from './commit.js';

interface SessionRow {
  sid: number;
  client_id: string;
  login: string;
  profile: string;
  protocol: string;
  expiry: number;
  disconnected_at: number;
}

interface SubscriptionRow {
  raw: string;
  filter: string;
  share_group: string | null;
  qos: number;
  no_local: number;
  retain_as_published: number;
  retain_handling: number;
  subscription_id: number;
}

type InflightRow = DeliveryRow & { id: number; phase: string };
type QueueRow = DeliveryRow & { qid: number };
type WillRow = MessageRow & { delay: number };

/** Sessions read per page by `sessions()`. */
const SESSION_PAGE = 256;
const SID = '(SELECT sid FROM sessions WHERE app = @app AND client_id = @client)';
const OWNER = 'FROM sessions WHERE app = @app AND client_id = @client';

export class SqliteSessionStore implements SessionStore {
  private readonly s: {
    firstPage: Statement<[string, number], SessionRow>;
    nextPage: Statement<[string, string, number], SessionRow>;
    subs: Statement<[number], SubscriptionRow>;
    inflight: Statement<[number], InflightRow>;
    inbound: Statement<[number], { id: number }>;
    will: Statement<[number], WillRow>;
    queued: Statement<[number], { n: number }>;
    sid: Statement<{ app: string; client: string }, { sid: number }>;
    pageAt: Statement<[number, number, number], QueueRow>;
    pageAfter: Statement<[number, number, number], QueueRow>;
    putSession: Statement<object>;
    deleteSession: Statement<{ app: string; client: string }>;
    putSub: Statement<object>;
    deleteSub: Statement<{ app: string; client: string; raw: string }>;
    enqueue: Statement<object>;
    dequeue: Statement<{ app: string; client: string }>;
    putInflight: Statement<object>;
    deleteInflight: Statement<{ app: string; client: string; id: number }>;
    putInbound: Statement<{ app: string; client: string; id: number }>;
    deleteInbound: Statement<{ app: string; client: string; id: number }>;
    putWill: Statement<object>;
    deleteWill: Statement<{ app: string; client: string }>;
  };
  /** Where the last queuePage ended, so that reading a queue page after page costs no OFFSET scan. */
  private cursor: { sid: number; offset: number; qid: number; gen: number } | null = null;
  /** Bumped by every write that moves queue offsets (dequeue, deleteSession). */
  private gen = 0;

  constructor(
    db: Database,
    private readonly gc: GroupCommit,
  ) {
    const sessionCols = 'sid, client_id, login, profile, protocol, expiry, disconnected_at';
    this.s = {
      firstPage: db.prepare(`SELECT ${sessionCols} FROM sessions WHERE app = ? ORDER BY client_id LIMIT ?`),
      nextPage: db.prepare(`SELECT ${sessionCols} FROM sessions WHERE app = ? AND client_id > ? ORDER BY client_id LIMIT ?`),
      subs: db.prepare('SELECT raw, filter, share_group, qos, no_local, retain_as_published, retain_handling, subscription_id FROM subscriptions WHERE sid = ? ORDER BY rowid'),
      inflight: db.prepare(`SELECT id, phase, ${DELIVERY_COLUMNS} FROM inflight WHERE sid = ? ORDER BY rowid`),
      inbound: db.prepare('SELECT id FROM inbound WHERE sid = ? ORDER BY id'),
      will: db.prepare(`SELECT delay, ${MESSAGE_COLUMNS} FROM wills WHERE sid = ?`),
      queued: db.prepare('SELECT COUNT(*) AS n FROM session_queue WHERE sid = ?'),
      sid: db.prepare(`SELECT sid ${OWNER}`),
      pageAt: db.prepare(`SELECT qid, ${DELIVERY_COLUMNS} FROM session_queue WHERE sid = ? ORDER BY qid LIMIT ? OFFSET ?`),
      pageAfter: db.prepare(`SELECT qid, ${DELIVERY_COLUMNS} FROM session_queue WHERE sid = ? AND qid > ? ORDER BY qid LIMIT ?`),
      putSession: db.prepare(
        `INSERT INTO sessions (app, client_id, login, profile, protocol, expiry, disconnected_at)
         VALUES (@app, @client, @login, @profile, @protocol, @expiry, @disconnected_at)
         ON CONFLICT (app, client_id) DO UPDATE SET login = excluded.login, profile = excluded.profile,
           protocol = excluded.protocol, expiry = excluded.expiry, disconnected_at = excluded.disconnected_at`,
      ),
      deleteSession: db.prepare('DELETE FROM sessions WHERE app = @app AND client_id = @client'),
      putSub: db.prepare(
        `INSERT INTO subscriptions (sid, raw, filter, share_group, qos, no_local, retain_as_published, retain_handling, subscription_id)
         SELECT sid, @raw, @filter, @share_group, @qos, @no_local, @retain_as_published, @retain_handling, @subscription_id ${OWNER}
         ON CONFLICT (sid, raw) DO UPDATE SET filter = excluded.filter, share_group = excluded.share_group, qos = excluded.qos,
           no_local = excluded.no_local, retain_as_published = excluded.retain_as_published,
           retain_handling = excluded.retain_handling, subscription_id = excluded.subscription_id`,
      ),
      deleteSub: db.prepare(`DELETE FROM subscriptions WHERE sid = ${SID} AND raw = @raw`),
      enqueue: db.prepare(`INSERT INTO session_queue (sid, ${DELIVERY_COLUMNS}) SELECT sid, ${DELIVERY_PARAMS} ${OWNER}`),
      dequeue: db.prepare(`DELETE FROM session_queue WHERE qid = (SELECT qid FROM session_queue WHERE sid = ${SID} ORDER BY qid LIMIT 1)`),
      putInflight: db.prepare(
        `INSERT INTO inflight (sid, id, phase, ${DELIVERY_COLUMNS}) SELECT sid, @id, @phase, ${DELIVERY_PARAMS} ${OWNER}
         ON CONFLICT (sid, id) DO UPDATE SET phase = excluded.phase, ${DELIVERY_UPDATE}`,
      ),
      deleteInflight: db.prepare(`DELETE FROM inflight WHERE sid = ${SID} AND id = @id`),
      putInbound: db.prepare(`INSERT OR IGNORE INTO inbound (sid, id) SELECT sid, @id ${OWNER}`),
      deleteInbound: db.prepare(`DELETE FROM inbound WHERE sid = ${SID} AND id = @id`),
      putWill: db.prepare(
        `INSERT INTO wills (sid, delay, ${MESSAGE_COLUMNS}) SELECT sid, @delay, ${MESSAGE_PARAMS} ${OWNER}
         ON CONFLICT (sid) DO UPDATE SET delay = excluded.delay, ${MESSAGE_UPDATE}`,
      ),
      deleteWill: db.prepare(`DELETE FROM wills WHERE sid = ${SID}`),
    };
  }

  async *sessions(app: string): AsyncIterable<SessionRecord> {
    let last: string | null = null;
    for (;;) {
      this.gc.settle();
      const rows: SessionRow[] = last === null ? this.s.firstPage.all(app, SESSION_PAGE) : this.s.nextPage.all(app, last, SESSION_PAGE);
      if (rows.length === 0) return;
      last = rows[rows.length - 1]!.client_id;
      // Read each page whole before yielding: the consumer may write (and so commit) in between.
      const page = rows.map((r) => this.record(app, r));
      yield* page;
      if (rows.length < SESSION_PAGE) return;
    }
  }

  private record(app: string, r: SessionRow): SessionRecord {
    const will = this.s.will.get(r.sid);
    return {
      app,
      clientId: r.client_id,
      login: r.login,
      profile: r.profile,
      protocol: r.protocol,
      expiry: r.expiry,
      disconnectedAt: r.disconnected_at,
      subscriptions: this.s.subs.all(r.sid).map(subscriptionOf),
      will: will === undefined ? null : { msg: messageOf(will), delay: will.delay },
      inflight: this.s.inflight.all(r.sid).map((x) => ({ id: x.id, phase: x.phase === 'received' ? 'received' : 'sent', delivery: deliveryOf(x) })),
      inbound: this.s.inbound.all(r.sid).map((x) => x.id),
      queued: this.s.queued.get(r.sid)?.n ?? 0,
    };
  }

  async queuePage(app: string, clientId: string, offset: number, limit: number): Promise<DeliveryRecord[]> {
    this.gc.settle();
    const sid = this.s.sid.get({ app, client: clientId })?.sid;
    if (sid === undefined || limit <= 0) return [];
    const c = this.cursor;
    const rows =
      c !== null && c.sid === sid && c.offset === offset && c.gen === this.gen
        ? this.s.pageAfter.all(sid, c.qid, limit)
        : this.s.pageAt.all(sid, limit, Math.max(0, offset));
    const end = rows[rows.length - 1];
    this.cursor = end === undefined ? null : { sid, offset: offset + rows.length, qid: end.qid, gen: this.gen };
    return rows.map(deliveryOf);
  }

  putSession(app: string, clientId: string, meta: SessionMeta): void {
    const p = { app, client: clientId, login: meta.login, profile: meta.profile, protocol: meta.protocol, expiry: meta.expiry, disconnected_at: meta.disconnectedAt };
    this.gc.write(() => this.s.putSession.run(p));
  }

  deleteSession(app: string, clientId: string): void {
    this.gen++;
    this.gc.write(() => this.s.deleteSession.run({ app, client: clientId }));
  }

  putSubscription(app: string, clientId: string, sub: SubscriptionRecord): void {
    const p = {
      app,
      client: clientId,
      raw: sub.raw,
      filter: sub.filter,
      share_group: sub.group,
      qos: sub.qos,
      no_local: sub.noLocal ? 1 : 0,
      retain_as_published: sub.retainAsPublished ? 1 : 0,
      retain_handling: sub.retainHandling,
      subscription_id: sub.subscriptionId,
    };
    this.gc.write(() => this.s.putSub.run(p));
  }

  deleteSubscription(app: string, clientId: string, raw: string): void {
    this.gc.write(() => this.s.deleteSub.run({ app, client: clientId, raw }));
  }

  enqueue(app: string, clientId: string, d: DeliveryRecord): void {
    const p = deliveryParams(d, { app, client: clientId });
    this.gc.write(() => this.s.enqueue.run(p));
  }

  dequeue(app: string, clientId: string): void {
    this.gen++;
    this.gc.write(() => this.s.dequeue.run({ app, client: clientId }));
  }

  putInflight(app: string, clientId: string, r: InflightRecord): void {
    const p = deliveryParams(r.delivery, { app, client: clientId, id: r.id, phase: r.phase });
    this.gc.write(() => this.s.putInflight.run(p));
  }

  deleteInflight(app: string, clientId: string, id: number): void {
    this.gc.write(() => this.s.deleteInflight.run({ app, client: clientId, id }));
  }

  putInbound(app: string, clientId: string, id: number): void {
    this.gc.write(() => this.s.putInbound.run({ app, client: clientId, id }));
  }

  deleteInbound(app: string, clientId: string, id: number): void {
    this.gc.write(() => this.s.deleteInbound.run({ app, client: clientId, id }));
  }

  putWill(app: string, clientId: string, will: { msg: MessageRecord; delay: number } | null): void {
    if (will === null) {
      this.gc.write(() => this.s.deleteWill.run({ app, client: clientId }));
      return;
    }
    const p = messageParams(will.msg, { app, client: clientId, delay: will.delay });
    this.gc.write(() => this.s.putWill.run(p));
  }
}

function subscriptionOf(r: SubscriptionRow): SubscriptionRecord {
  return {
    raw: r.raw,
    filter: r.filter,
    group: r.share_group,
    qos: qosOf(r.qos),
    noLocal: r.no_local !== 0,
    retainAsPublished: r.retain_as_published !== 0,
    retainHandling: qosOf(r.retain_handling),
    subscriptionId: r.subscription_id,
  };
}
