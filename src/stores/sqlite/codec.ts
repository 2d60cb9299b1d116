/**
 * Records <-> rows. A message is spread over the message columns of schema.ts (bound as named
 * parameters of the same names); the MQTT 5 metadata is one JSON column with binary values in
 * base64. Only keys present in a record come back, so a record reads back deep-equal.
 */
import type { DeliveryRecord, MessageRecord, MetaRecord, SenderRecord } from '../types.js';

export interface MessageRow {
  topic: string;
  payload: Buffer;
  msg_qos: number;
  msg_retain: number;
  expires_at: number;
  sender_client: string | null;
  sender_app: string | null;
  sender_profile: string | null;
  meta: string | null;
}

export interface DeliveryRow extends MessageRow {
  qos: number;
  retain: number;
  subscription_ids: string | null;
  group_filter: string | null;
  group_name: string | null;
  via: string | null;
}

/** The column list of a message, as used in SELECTs. */
export const MESSAGE_COLUMNS = 'topic, payload, msg_qos, msg_retain, expires_at, sender_client, sender_app, sender_profile, meta';
export const DELIVERY_COLUMNS = `${MESSAGE_COLUMNS}, qos, retain, subscription_ids, group_filter, group_name, via`;
/** The same, as named parameters (`@topic, @payload, ...`), for INSERTs. */
export const MESSAGE_PARAMS = MESSAGE_COLUMNS.split(', ').map((c) => `@${c}`).join(', ');
export const DELIVERY_PARAMS = DELIVERY_COLUMNS.split(', ').map((c) => `@${c}`).join(', ');
/** `col = excluded.col, ...` for upserts. */
export const DELIVERY_UPDATE = DELIVERY_COLUMNS.split(', ').map((c) => `${c} = excluded.${c}`).join(', ');
export const MESSAGE_UPDATE = MESSAGE_COLUMNS.split(', ').map((c) => `${c} = excluded.${c}`).join(', ');

export function qosOf(n: number): 0 | 1 | 2 {
  return n === 2 ? 2 : n === 1 ? 1 : 0;
}

interface MetaJson {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  /** base64 */
  correlationData?: string;
  userProperties?: Array<[string, string]>;
}

function encodeMeta(m: MetaRecord | null): string | null {
  if (m === null) return null;
  const j: MetaJson = {};
  if (m.payloadFormatIndicator !== undefined) j.payloadFormatIndicator = m.payloadFormatIndicator;
  if (m.contentType !== undefined) j.contentType = m.contentType;
  if (m.responseTopic !== undefined) j.responseTopic = m.responseTopic;
  if (m.correlationData !== undefined) j.correlationData = m.correlationData.toString('base64');
  if (m.userProperties !== undefined) j.userProperties = m.userProperties;
  return JSON.stringify(j);
}

function decodeMeta(s: string | null): MetaRecord | null {
  if (s === null) return null;
  const j = JSON.parse(s) as MetaJson;
  const m: MetaRecord = {};
  if (j.payloadFormatIndicator !== undefined) m.payloadFormatIndicator = j.payloadFormatIndicator;
  if (j.contentType !== undefined) m.contentType = j.contentType;
  if (j.responseTopic !== undefined) m.responseTopic = j.responseTopic;
  if (j.correlationData !== undefined) m.correlationData = Buffer.from(j.correlationData, 'base64');
  if (j.userProperties !== undefined) m.userProperties = j.userProperties;
  return m;
}

/**
 * The message columns of `m`, added to `into` (the statement's other parameters) one by one: no
 * object spread, which made V8 build these 15-key objects in dictionary mode (17 us each).
 */
export function messageParams<T extends object>(m: MessageRecord, into: T): T & MessageRow {
  const o = into as T & MessageRow;
  o.topic = m.topic;
  o.payload = m.payload;
  o.msg_qos = m.qos;
  o.msg_retain = m.retain ? 1 : 0;
  o.expires_at = m.expiresAt;
  o.sender_client = m.sender?.clientId ?? null;
  o.sender_app = m.sender?.app ?? null;
  o.sender_profile = m.sender?.profile ?? null;
  o.meta = encodeMeta(m.meta);
  return o;
}

/** The delivery columns of `d`, added to `into`. */
export function deliveryParams<T extends object>(d: DeliveryRecord, into: T): T & DeliveryRow {
  const o = messageParams(d.msg, into) as T & DeliveryRow;
  o.qos = d.qos;
  o.retain = d.retain ? 1 : 0;
  o.subscription_ids = d.subscriptionIds === null ? null : JSON.stringify(d.subscriptionIds);
  o.group_filter = d.group?.filter ?? null;
  o.group_name = d.group?.name ?? null;
  o.via = d.via ?? null;
  return o;
}

export function messageOf(r: MessageRow): MessageRecord {
  const sender: SenderRecord | null =
    r.sender_client === null ? null : { clientId: r.sender_client, app: r.sender_app ?? '', profile: r.sender_profile ?? '' };
  return {
    topic: r.topic,
    payload: r.payload ?? Buffer.alloc(0),
    qos: qosOf(r.msg_qos),
    retain: r.msg_retain !== 0,
    meta: decodeMeta(r.meta),
    expiresAt: r.expires_at,
    sender,
  };
}

export function deliveryOf(r: DeliveryRow): DeliveryRecord {
  const d: DeliveryRecord = {
    msg: messageOf(r),
    qos: qosOf(r.qos),
    retain: r.retain !== 0,
    subscriptionIds: r.subscription_ids === null ? null : (JSON.parse(r.subscription_ids) as number[]),
    group: r.group_filter === null || r.group_name === null ? null : { filter: r.group_filter, name: r.group_name },
  };
  if (r.via !== null) d.via = r.via;
  return d;
}
