/**
 * The HTTP side of the ws:// and wss:// listeners: the JSON API (/api/v1), its OpenAPI document,
 * health (/healthz, /readyz) and Prometheus metrics (/metrics). Plain HTTP requests on those
 * ports come here; WebSocket upgrades never do (transports/listeners.ts routes them first).
 *
 * Fastify: schema-driven routing, a tested body parser with size limits, and `serverFactory`,
 * which hands us its request handler instead of a server of its own, so it serves the very
 * HTTP server the WebSocket listeners share (no second port, no proxying). Requests are
 * validated with the zod schemas of each route (route.ts), which also make the OpenAPI document.
 *
 * Every /api/v1 route needs credentials (auth.ts) and a minimum profile; state-changing calls
 * are logged at info with who made them.
 */
import http from 'node:http';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Authenticator } from '../auth/authenticate.js';
import type { ApplicationAdmin, BrokerAdmin } from '../core/admin.js';
import { safeEqual } from '../auth/passwords.js';
import { authenticate, requireProfile } from './auth.js';
import { loadConsole } from './console.js';
import { HttpError } from './errors.js';
import { registerStatic } from './static.js';
import type { StaticOptions } from './static.js';
import { openApiDocument } from './openapi.js';
import type { AnyRoute } from './route.js';
import { brokerRoutes } from './routes/broker.js';
import type { BrokerInfo } from './routes/broker.js';
import { clientRoutes } from './routes/clients.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { messageRoutes } from './routes/messages.js';
import { retainedRoutes } from './routes/retained.js';

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface HttpApiOptions {
  admin: BrokerAdmin;
  auth: Authenticator;
  logger: Logger;
  version: string;
  /** What /readyz reports: listeners bound, store writable, cluster bus connected. */
  readiness(): Readiness;
  /** /metrics in the Prometheus text format; absent: 404. */
  metrics?: { contentType: string; text(): Promise<string> };
  /** When set, /metrics needs `Authorization: Bearer <token>` (http.metricsToken). */
  metricsToken?: string;
  /** Largest request body, bytes. */
  bodyLimit?: number;
  /** `http.staticDir` served under `http.staticPath` (static.ts); absent: none. */
  static?: StaticOptions;
}

export interface HttpApi {
  handler: HttpHandler;
  routes: readonly AnyRoute[];
  close(): Promise<void>;
}

export async function createHttpApi(o: HttpApiOptions): Promise<HttpApi> {
  let handler: HttpHandler | null = null;
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit ?? 1024 * 1024,
    serverFactory: (h) => {
      handler = h;
      return http.createServer(); // never listens: the listeners' servers call `handler`
    },
  });
  const adminOf = (id: string): ApplicationAdmin => {
    const a = o.admin.app(id);
    if (a === undefined) throw new HttpError('SB_ERR_NOT_FOUND', `unknown application "${id}"`);
    return a;
  };
  const startedAt = Date.now();
  const info = (): BrokerInfo => {
    const m = process.memoryUsage();
    return { version: o.version, uptimeMs: Date.now() - startedAt, memory: { rss: m.rss, heapUsed: m.heapUsed }, connections: o.admin.stats().connections };
  };
  const routes: AnyRoute[] = [...messageRoutes(adminOf), ...clientRoutes(adminOf), ...retainedRoutes(adminOf), ...deadLetterRoutes(adminOf), ...brokerRoutes(adminOf, info)];
  const doc = openApiDocument(routes, o.version);

  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    else if (err instanceof z.ZodError) e = new HttpError('SB_ERR_INVALID_REQUEST', err.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; '));
    else if ('code' in err && err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new HttpError('SB_ERR_TOO_LARGE', err.message);
    else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) e = new HttpError('SB_ERR_INVALID_REQUEST', err.message);
    else {
      o.logger.error({ err, method: req.method, url: req.url }, 'http: request failed');
      e = new HttpError('SB_ERR_INTERNAL', 'internal error');
    }
    void reply.status(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new HttpError('SB_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.status(e.status).send(e.body());
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = o.readiness();
    return reply.status(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
  });
  const metrics = o.metrics;
  if (metrics !== undefined) {
    const token = o.metricsToken;
    app.get('/metrics', async (req, reply) => {
      if (token !== undefined && !safeEqual(req.headers.authorization ?? '', `Bearer ${token}`)) {
        throw new HttpError('SB_ERR_BAD_CREDENTIALS', '/metrics needs Authorization: Bearer <http.metricsToken>');
      }
      return reply.header('content-type', metrics.contentType).send(await metrics.text());
    });
  }
  app.get('/api/v1/openapi.json', async () => doc);

  // The web console: static files (console.ts), and the API behind them.
  const files = loadConsole();
  const page = (name: string, reply: FastifyReply): FastifyReply => {
    const f = files.get(name);
    if (f === undefined) {
      const e = new HttpError('SB_ERR_NOT_FOUND', files.size === 0 ? 'the console is not built (npm run build)' : `no console file ${name}`);
      return reply.status(e.status).send(e.body());
    }
    return reply.header('content-type', f.type).header('cache-control', 'no-cache').send(f.body);
  };
  app.get('/console', async (_req, reply) => page('index.html', reply));
  app.get('/console/:file', async (req, reply) => page((req.params as { file: string }).file, reply));
  if (o.static !== undefined) await registerStatic(app, o.static);

  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.path,
      handler: async (req, reply) => {
        const caller = await authenticate(o.auth, req.raw);
        requireProfile(caller, r.profile);
        const params = r.params !== undefined ? r.params.parse(req.params) : {};
        const query = r.query !== undefined ? r.query.parse(req.query) : {};
        const body = r.body !== undefined ? r.body.parse(req.body ?? {}) : {};
        const out = await r.handler({ params, query, body, caller });
        if (r.method !== 'GET') o.logger.info({ app: caller.app.id, login: caller.login, profile: caller.profile, remoteAddress: caller.remoteAddress, method: r.method, path: req.url.split('?')[0] }, 'http: api action');
        return reply.send(out);
      },
    });
  }
  await app.ready();
  const h = handler as HttpHandler | null;
  if (h === null) throw new Error('fastify did not call serverFactory');
  return { handler: h, routes, close: () => app.close() };
}
