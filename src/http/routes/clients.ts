/** Clients and their sessions (ADMIN): list, one client's details, kick. */
import { z } from 'zod';
import { adminError, HttpError } from '../errors.js';
import { route } from '../route.js';
import type { AnyRoute } from '../route.js';
import { defined, page, PageQuery, Profile, QoS, QueryBool } from '../schemas.js';
import type { ApplicationAdmin } from '../../core/admin.js';

export const ClientSummary = z.object({
  clientId: z.string(),
  app: z.string(),
  online: z.boolean(),
  profile: Profile,
  login: z.string().nullable(),
  protocol: z.enum(['mqtt', 'stomp', 'mqttsn']),
  transport: z.string().nullable(),
  remoteAddress: z.string().nullable(),
  connectedAt: z.number().nullable(),
  disconnectedAt: z.number().nullable(),
  since: z.number().nullable(),
  persistent: z.boolean(),
  subscriptions: z.number().int(),
  queued: z.number().int(),
  inflight: z.number().int(),
  dropped: z.number().int(),
});

export const Subscription = z.object({
  filter: z.string(),
  topicFilter: z.string(),
  group: z.string().nullable(),
  qos: QoS,
  noLocal: z.boolean(),
  retainAsPublished: z.boolean(),
  retainHandling: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  subscriptionId: z.number().int(),
});

const ClientDetails = ClientSummary.extend({
  session: z.object({
    expiryInterval: z.number(),
    expiresAt: z.number().nullable(),
    subscriptions: z.array(Subscription),
    queued: z.number().int(),
    queuedBytes: z.number().int(),
    inflight: z.number().int(),
    inbound: z.number().int(),
    will: z.object({ topic: z.string(), qos: QoS, retain: z.boolean(), delay: z.number(), bytes: z.number().int() }).nullable(),
  }),
  credentialsExpireAt: z.number().nullable(),
  monitored: z.boolean(),
});

const ClientQuerySchema = PageQuery.extend({
  online: QueryBool.optional(),
  persistent: QueryBool.optional().describe('Sessions that outlive their connection (expiry > 0), or not'),
  profile: Profile.optional(),
  protocol: z.enum(['mqtt', 'stomp', 'mqttsn']).optional(),
  transport: z.string().optional(),
  prefix: z.string().optional().describe('Client ids starting with this'),
  login: z.string().optional(),
  remoteAddress: z.string().optional(),
});

const ClientParams = z.object({ clientId: z.string().min(1) });

export function clientRoutes(adminOf: (app: string) => ApplicationAdmin): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/clients',
      summary: 'List clients (online and parked sessions), filtered and paged',
      tag: 'clients',
      profile: 'ADMIN',
      query: ClientQuerySchema,
      response: page(ClientSummary),
      handler: ({ query, caller }) => adminOf(caller.app.id).listClients(defined(query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/clients/:clientId',
      summary: "One client: its session, subscriptions and counters",
      tag: 'clients',
      profile: 'ADMIN',
      params: ClientParams,
      response: ClientDetails,
      handler({ params, caller }) {
        const c = adminOf(caller.app.id).getClient(params.clientId);
        if (c === null) throw new HttpError('SB_ERR_UNKNOWN_CLIENT', `no session has the client id "${params.clientId}"`);
        return c;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/sessions',
      summary: 'Persistent sessions (online or parked), paged: the clients listing with persistent=true',
      tag: 'clients',
      profile: 'ADMIN',
      query: ClientQuerySchema.omit({ persistent: true }),
      response: page(ClientSummary),
      handler: ({ query, caller }) => adminOf(caller.app.id).listClients({ ...defined(query), persistent: true }),
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/sessions/:clientId',
      summary: "End a client's session (subscriptions, queue, in-flight messages); a connected client is disconnected (0x98)",
      tag: 'clients',
      profile: 'ADMIN',
      params: ClientParams,
      response: z.object({ disconnected: z.boolean(), sessionEnded: z.boolean() }),
      handler({ params, caller }) {
        const r = adminOf(caller.app.id).kick(params.clientId, { discardSession: true });
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { disconnected: r.disconnected, sessionEnded: r.sessionEnded };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/presence',
      summary: 'Presence as $presence shows it to an ADMIN: who is online, and who left recently and why (cluster-wide)',
      tag: 'clients',
      profile: 'ADMIN',
      query: z.object({ online: QueryBool.optional() }),
      response: z.object({
        items: z.array(
          z.object({
            client: z.string(),
            online: z.boolean(),
            profile: z.string(),
            since: z.string().describe('ISO 8601'),
            protocol: z.string(),
            transport: z.string(),
            reason: z.string().optional().describe('Why it went offline'),
          }),
        ),
      }),
      handler({ query, caller }) {
        const all = adminOf(caller.app.id).presence();
        return { items: query.online === undefined ? all : all.filter((p) => p.online === query.online) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/clients/:clientId',
      summary: 'Kick a client: its connection is closed (MQTT 0x98, STOMP ERROR); with discardSession its session ends too',
      tag: 'clients',
      profile: 'ADMIN',
      params: ClientParams,
      query: z.object({ discardSession: QueryBool.optional(), publishWill: QueryBool.optional() }),
      response: z.object({ disconnected: z.boolean(), sessionEnded: z.boolean() }),
      handler({ params, query, caller }) {
        const r = adminOf(caller.app.id).kick(params.clientId, defined(query));
        if (!r.ok) throw adminError(r.reason, r.detail);
        return { disconnected: r.disconnected, sessionEnded: r.sessionEnded };
      },
    }),
  ];
}
