/** Retained messages (ADMIN): list, read one, delete one. The topic is the rest of the path, URL-encoded. */
import { z } from 'zod';
import { adminError, HttpError } from '../errors.js';
import { route } from '../route.js';
import type { AnyRoute } from '../route.js';
import { Body, bodyOf, defined, Meta, metaOf, page, PageQuery, QoS } from '../schemas.js';
import type { ApplicationAdmin } from '../../core/admin.js';

const RetainedSummary = z.object({
  topic: z.string(),
  bytes: z.number().int(),
  qos: QoS,
  from: z.string().nullable(),
  contentType: z.string().nullable(),
  expiresAt: z.number().nullable(),
});

const TopicParam = z.object({ '*': z.string().min(1).describe('The topic (URL-encoded, slashes allowed)') });

export function retainedRoutes(adminOf: (app: string) => ApplicationAdmin): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/retained',
      summary: 'List retained messages whose topic matches a filter (default #)',
      tag: 'retained',
      profile: 'ADMIN',
      query: PageQuery.extend({ filter: z.string().optional() }),
      response: page(RetainedSummary),
      handler: ({ query, caller }) => adminOf(caller.app.id).listRetained(defined(query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/retained/*',
      summary: 'The retained message of one topic, with its payload',
      tag: 'retained',
      profile: 'ADMIN',
      params: TopicParam,
      response: RetainedSummary.extend({ meta: Meta }).extend(Body.shape),
      handler({ params, caller }) {
        const m = adminOf(caller.app.id).getRetained(params['*']);
        if (m === null) throw new HttpError('SB_ERR_NOT_FOUND', `no retained message on "${params['*']}"`);
        const { payload, meta, ...rest } = m;
        return { ...rest, meta: metaOf(meta), ...bodyOf(payload) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/retained/*',
      summary: 'Delete the retained message of one topic',
      tag: 'retained',
      profile: 'ADMIN',
      params: TopicParam,
      response: z.object({ existed: z.boolean() }),
      handler({ params, caller }) {
        const r = adminOf(caller.app.id).deleteRetained(params['*']);
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { existed: r.existed };
      },
    }),
  ];
}
