/** Messages in from a backend: publish to a topic, send a direct message (SERVICE and ADMIN). */
import { z } from 'zod';
import { adminError } from '../errors.js';
import { route } from '../route.js';
import type { AnyRoute } from '../route.js';
import { MessageOptions, Payload, payloadBytes } from '../schemas.js';
import type { ApplicationAdmin, PublishOptions } from '../../core/admin.js';

const PublishBody = z.object({
  topic: z.string().min(1).max(65535),
  ...Payload,
  ...MessageOptions,
  retain: z.boolean().optional(),
});

const DirectBody = z.object({
  to: z.string().min(1).max(65535).describe('The receiving client id'),
  subtopic: z.string().max(65535).optional().describe('Levels below the inbox: $inbox/<to>/<subtopic>'),
  ...Payload,
  ...MessageOptions,
});

function options(b: z.infer<typeof DirectBody> | z.infer<typeof PublishBody>): PublishOptions {
  const o: PublishOptions = {};
  if (b.qos !== undefined) o.qos = b.qos;
  if (b.contentType !== undefined) o.contentType = b.contentType;
  if (b.responseTopic !== undefined) o.responseTopic = b.responseTopic;
  if (b.correlationData !== undefined) o.correlationData = Buffer.from(b.correlationData, 'base64');
  if (b.userProperties !== undefined) o.userProperties = b.userProperties;
  if (b.expiryInterval !== undefined) o.expiryInterval = b.expiryInterval;
  if (b.from !== undefined) o.from = b.from;
  return o;
}

export function messageRoutes(adminOf: (app: string) => ApplicationAdmin): AnyRoute[] {
  return [
    route({
      method: 'POST',
      path: '/api/v1/publish',
      summary: 'Publish a message to a topic, as MQTT and STOMP clients do (authorised as a SERVICE of the application)',
      tag: 'messages',
      profile: 'SERVICE',
      body: PublishBody,
      response: z.object({ deliveries: z.number().int().describe('Subscribers it was delivered or queued to on this node') }),
      handler({ body, caller }) {
        const r = adminOf(caller.app.id).publish(body.topic, payloadBytes(body), { ...options(body), ...(body.retain !== undefined ? { retain: body.retain } : {}) });
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { deliveries: r.deliveries };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/direct',
      summary: 'Send a direct message to one client ($inbox): delivered, queued in its session, or dead-lettered',
      tag: 'messages',
      profile: 'SERVICE',
      body: DirectBody,
      response: z.object({ deliveries: z.number().int(), outcome: z.enum(['delivered', 'queued', 'dead-lettered']) }),
      handler({ body, caller }) {
        const r = adminOf(caller.app.id).sendDirect(body.to, payloadBytes(body), { ...options(body), ...(body.subtopic !== undefined ? { subtopic: body.subtopic } : {}) });
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { deliveries: r.deliveries, outcome: r.outcome };
      },
    }),
  ];
}
