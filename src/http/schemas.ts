/** The API's shared zod schemas (request validation and the OpenAPI document both use them). */
import { z } from 'zod';
import type { MessageMeta } from '../core/message.js';

export const Profile = z.enum(['AGENT', 'SUPER_AGENT', 'SERVICE', 'ADMIN']);
export const QoS = z.union([z.literal(0), z.literal(1), z.literal(2)]);

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('At most this many items (default 100, at most 1,000)'),
  cursor: z.string().optional().describe('The `next` of the previous page'),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next: z.string().nullable().describe('Cursor of the following page; null at the end'),
    total: z.number().int().nullable().describe('Entries in the whole collection before filters; null when unknown'),
  });
}

/** The fields of a parsed request that are present (the admin facade's options are all optional). */
export function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** A query-string boolean ("true"/"false", "1"/"0"). */
export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A payload in a request: text (default) or base64 bytes. */
export const Payload = {
  payload: z.string().describe('The message body: UTF-8 text, or base64 with encoding "base64"'),
  encoding: z.enum(['utf8', 'base64']).optional().describe('How `payload` is written (default utf8)'),
};

export function payloadBytes(b: { payload: string; encoding?: 'utf8' | 'base64' | undefined }): Buffer {
  return Buffer.from(b.payload, b.encoding === 'base64' ? 'base64' : 'utf8');
}

/** Message options shared by publish and direct messages (MQTT 5 properties, STOMP headers). */
export const MessageOptions = {
  qos: QoS.optional().describe('Default 0'),
  contentType: z.string().max(256).optional(),
  responseTopic: z.string().max(65535).optional(),
  correlationData: z.string().optional().describe('base64'),
  userProperties: z.array(z.tuple([z.string(), z.string()])).max(64).optional(),
  expiryInterval: z.number().int().min(0).max(0xffffffff).optional().describe('Seconds until it expires while queued; 0: never'),
  from: z.string().max(256).optional().describe('Shown to receivers as the sender, as a SERVICE of this application; default: the broker'),
};

/** Bytes as the API shows them: UTF-8 text when they are valid UTF-8, else base64. */
export const Body = z.object({
  payload: z.string(),
  encoding: z.enum(['utf8', 'base64']),
});

export function bodyOf(buf: Buffer): z.infer<typeof Body> {
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf) ? { payload: text, encoding: 'utf8' } : { payload: buf.toString('base64'), encoding: 'base64' };
}

export const Meta = z
  .object({
    contentType: z.string().optional(),
    responseTopic: z.string().optional(),
    correlationData: z.string().optional().describe('base64'),
    userProperties: z.array(z.tuple([z.string(), z.string()])).optional(),
    payloadFormatIndicator: z.number().optional(),
  })
  .nullable();

export function metaOf(m: MessageMeta | null): z.infer<typeof Meta> {
  if (m === null) return null;
  const out: NonNullable<z.infer<typeof Meta>> = {};
  if (m.contentType !== undefined) out.contentType = m.contentType;
  if (m.responseTopic !== undefined) out.responseTopic = m.responseTopic;
  if (m.correlationData !== undefined) out.correlationData = m.correlationData.toString('base64');
  if (m.userProperties !== undefined) out.userProperties = m.userProperties.map(([k, v]) => [k, v] as [string, string]);
  if (m.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = m.payloadFormatIndicator;
  return out;
}
