/**
 * The SQLite schema, versioned with `PRAGMA user_version`: MIGRATIONS[i] takes a database from
 * version i to version i + 1, in one transaction with the version bump. A new version is one more
 * entry at the end (never edit a shipped one). `PRAGMA application_id` marks the file as ours, so
 * a foreign SQLite file is refused rather than written to.
 *
 * Message columns (every table holding a message): topic, payload (BLOB, bytes unchanged),
 * msg_qos, msg_retain, expires_at (ms since epoch, 0 = never), sender_client / sender_app /
 * sender_profile (NULL = no sender), meta (JSON of the MQTT 5 metadata, binary values in base64;
 * NULL = none). Deliveries add: qos, retain (as delivered), subscription_ids (JSON array or NULL),
 * group_filter / group_name (NULL = not through a group), via.
 */

/** 'SWBD': the `PRAGMA application_id` of a Switchboard store. */
export const APPLICATION_ID = 0x53574244;

const MESSAGE = `
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  msg_qos INTEGER NOT NULL,
  msg_retain INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  sender_client TEXT,
  sender_app TEXT,
  sender_profile TEXT,
  meta TEXT`;

const DELIVERY = `${MESSAGE},
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids TEXT,
  group_filter TEXT,
  group_name TEXT,
  via TEXT`;

/** MIGRATIONS[i]: version i -> i + 1. */
export const MIGRATIONS: readonly string[] = [
  // 1: sessions (+ subscriptions, queue, in-flight, inbound ids, will), retained, queues, dead letters.
  `
  CREATE TABLE sessions (
    sid INTEGER PRIMARY KEY,
    app TEXT NOT NULL,
    client_id TEXT NOT NULL,
    login TEXT NOT NULL,
    profile TEXT NOT NULL,
    protocol TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    disconnected_at INTEGER NOT NULL,
    UNIQUE (app, client_id)
  );
  CREATE TABLE subscriptions (
    sid INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
    raw TEXT NOT NULL,
    filter TEXT NOT NULL,
    share_group TEXT,
    qos INTEGER NOT NULL,
    no_local INTEGER NOT NULL,
    retain_as_published INTEGER NOT NULL,
    retain_handling INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL,
    PRIMARY KEY (sid, raw)
  ); -- a rowid table: read back in the order first subscribed (an upsert keeps the rowid)
  -- A session's queue, oldest first by qid (qid increases store-wide).
  CREATE TABLE session_queue (
    qid INTEGER PRIMARY KEY,
    sid INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,${DELIVERY}
  );
  CREATE INDEX session_queue_order ON session_queue (sid, qid);
  CREATE TABLE inflight (
    sid INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    phase TEXT NOT NULL,${DELIVERY},
    PRIMARY KEY (sid, id)
  );
  CREATE TABLE inbound (
    sid INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    PRIMARY KEY (sid, id)
  ) WITHOUT ROWID;
  CREATE TABLE wills (
    sid INTEGER PRIMARY KEY REFERENCES sessions (sid) ON DELETE CASCADE,
    delay INTEGER NOT NULL,${MESSAGE}
  );
  CREATE TABLE retained (
    app TEXT NOT NULL,${MESSAGE},
    PRIMARY KEY (app, topic)
  );
  -- AUTOINCREMENT: ids are never reused, even after the newest rows were deleted and the store reopened.
  CREATE TABLE queue_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    filter TEXT NOT NULL,
    name TEXT NOT NULL,
    attempts INTEGER NOT NULL,${MESSAGE}
  );
  CREATE INDEX queue_entries_by_queue ON queue_entries (app, name, filter, id);
  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    reason TEXT NOT NULL,
    to_client TEXT,
    time INTEGER NOT NULL,${MESSAGE}
  );
  CREATE INDEX dead_letters_by_app ON dead_letters (app, id);
  CREATE INDEX dead_letters_by_age ON dead_letters (app, time);
  -- Dead letters per application, kept by triggers, so the count bound costs no COUNT(*).
  CREATE TABLE dead_letter_counts (
    app TEXT PRIMARY KEY,
    n INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TRIGGER dead_letters_counted AFTER INSERT ON dead_letters BEGIN
    INSERT INTO dead_letter_counts (app, n) VALUES (NEW.app, 1)
      ON CONFLICT (app) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER dead_letters_uncounted AFTER DELETE ON dead_letters BEGIN
    UPDATE dead_letter_counts SET n = n - 1 WHERE app = OLD.app;
  END;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The tables, in the order `switchboard store stats` lists them. */
export const TABLES = ['sessions', 'subscriptions', 'session_queue', 'inflight', 'inbound', 'wills', 'retained', 'queue_entries', 'dead_letters'] as const;
