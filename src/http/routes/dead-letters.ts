/** Dead letters (ADMIN): browse with filters, read one, replay (to the original topic or another), purge. */
import { z } from 'zod';
import { HttpError, adminError } from '../errors.js';
import { route } from '../route.js';
import type { AnyRoute } from '../route.js';
import { Body, bodyOf, defined, Meta, metaOf, page, PageQuery, QoS } from '../schemas.js';
import type { ApplicationAdmin } from '../../core/admin.js';
import type { DropReason } from '../../core/session.js';

const DeadLetterSummary = z.object({
  id: z.number().int(),
  reason: z.string(),
  topic: z.string(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  time: z.number(),
  qos: QoS,
  bytes: z.number().int(),
});

const Filter = z.object({
  reason: z.enum(['queue-full', 'expired', 'slow-consumer', 'offline', 'no-subscribers', 'nack-limit', 'overload'] satisfies DropReason[]).optional().describe('Why it was dead-lettered'),
  topic: z.string().optional().describe('Topic filter on the original topic'),
  to: z.string().optional().describe('The intended receiver'),
  from: z.string().optional().describe("The publisher ('' = the broker)"),
});

export function deadLetterRoutes(adminOf: (app: string) => ApplicationAdmin): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/dead-letters',
      summary: 'Browse dead letters, newest first',
      tag: 'dead-letters',
      profile: 'ADMIN',
      query: PageQuery.extend(Filter.shape),
      response: page(DeadLetterSummary),
      handler: ({ query, caller }) => adminOf(caller.app.id).listDeadLetters(defined(query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/dead-letters/:id',
      summary: 'One dead letter, with its payload',
      tag: 'dead-letters',
      profile: 'ADMIN',
      params: z.object({ id: z.coerce.number().int().min(0) }),
      response: DeadLetterSummary.extend({ meta: Meta }).extend(Body.shape),
      handler({ params, caller }) {
        const d = adminOf(caller.app.id).getDeadLetter(params.id);
        if (d === null) throw new HttpError('SB_ERR_NOT_FOUND', `no dead letter ${params.id}`);
        const { payload, meta, ...rest } = d;
        return { ...rest, meta: metaOf(meta), ...bodyOf(payload) };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/dead-letters/replay',
      summary: 'Publish dead letters again (those matching the filter, or the ids given), to their topic or to targetTopic',
      tag: 'dead-letters',
      profile: 'ADMIN',
      body: Filter.extend({
        ids: z.array(z.number().int().min(0)).max(10_000).optional(),
        targetTopic: z.string().min(1).optional(),
        keep: z.boolean().optional().describe('Keep the replayed letters in the list (default: removed)'),
      }),
      response: z.object({
        replayed: z.number().int(),
        deliveries: z.number().int(),
        failed: z.array(z.object({ id: z.number().int(), reason: z.string(), detail: z.string() })),
      }),
      handler({ body, caller }) {
        const r = adminOf(caller.app.id).replayDeadLetters(defined(body));
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { replayed: r.replayed, deliveries: r.deliveries, failed: r.failed };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/dead-letters',
      summary: 'Purge the dead letters matching the filter (all without one)',
      tag: 'dead-letters',
      profile: 'ADMIN',
      query: Filter,
      response: z.object({ purged: z.number().int() }),
      handler({ query, caller }) {
        return { purged: adminOf(caller.app.id).purgeDeadLetters(defined(query)) };
      },
    }),
  ];
}
