/** What the application holds (ADMIN): statistics, queues and shared groups, subscribed filters, subscriptions. */
import { z } from 'zod';
import { route } from '../route.js';
import type { AnyRoute } from '../route.js';
import { defined, page, PageQuery } from '../schemas.js';
import { Subscription } from './clients.js';
import type { ApplicationAdmin } from '../../core/admin.js';

const QueueInfo = z.object({
  name: z.string(),
  topicFilter: z.string(),
  kind: z.enum(['queue', 'shared']),
  consumers: z.number().int(),
  online: z.number().int(),
  depth: z.number().int(),
  depthBytes: z.number().int(),
});

const Stats = z.object({
  app: z.string(),
  clients: z.object({ sessions: z.number().int(), online: z.number().int(), persistent: z.number().int() }),
  subscriptions: z.number().int(),
  retained: z.number().int(),
  storedBytes: z.number().int(),
  messages: z.record(z.string(), z.unknown()).describe('Message counters (in, out, dropped by reason...)'),
  deadLetters: z.object({ total: z.number().int(), kept: z.number().int() }),
});

const BrokerInfo = z.object({
  version: z.string(),
  uptimeMs: z.number(),
  memory: z.object({ rss: z.number(), heapUsed: z.number() }),
  connections: z.number().int().nullable().describe('Open network connections, every application'),
});
export type BrokerInfo = z.infer<typeof BrokerInfo>;

export function brokerRoutes(adminOf: (app: string) => ApplicationAdmin, info: () => BrokerInfo): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/broker',
      summary: 'The broker process: version, uptime, memory, open connections',
      tag: 'broker',
      profile: 'ADMIN',
      response: BrokerInfo,
      handler: () => info(),
    }),
    route({
      method: 'GET',
      path: '/api/v1/stats',
      summary: "The application's counters: clients, subscriptions, retained messages, messages, dead letters",
      tag: 'broker',
      profile: 'ADMIN',
      response: Stats,
      handler: ({ caller }) => adminOf(caller.app.id).stats() as unknown as z.infer<typeof Stats>,
    }),
    route({
      method: 'GET',
      path: '/api/v1/queues',
      summary: 'Queues (STOMP /queue, $queue) and MQTT shared groups: depth and consumers',
      tag: 'broker',
      profile: 'ADMIN',
      query: PageQuery.extend({ kind: z.enum(['queue', 'shared']).optional(), prefix: z.string().optional() }),
      response: page(QueueInfo),
      handler: ({ query, caller }) => adminOf(caller.app.id).listQueues(defined(query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/topics',
      summary: 'Subscribed topic filters and how many sessions hold each',
      tag: 'broker',
      profile: 'ADMIN',
      query: PageQuery.extend({ prefix: z.string().optional() }),
      response: page(z.object({ topicFilter: z.string(), group: z.string().nullable(), subscribers: z.number().int() })),
      handler: ({ query, caller }) => adminOf(caller.app.id).listTopics(defined(query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/subscriptions',
      summary: "Subscriptions: a client's, a filter's, or those a topic would reach",
      tag: 'broker',
      profile: 'ADMIN',
      query: PageQuery.extend({ clientId: z.string().optional(), filter: z.string().optional(), topic: z.string().optional() }),
      response: page(Subscription.extend({ clientId: z.string(), online: z.boolean() })),
      handler: ({ query, caller }) => adminOf(caller.app.id).listSubscriptions(defined(query)),
    }),
  ];
}
