/**
 * The OpenAPI 3.1 document of /api/v1, made from the routes' zod schemas (the same ones that
 * validate requests): JSON Schema 2020-12, which OpenAPI 3.1 uses as is.
 */
import { z } from 'zod';
import { ERRORS } from '../errors/catalogue.js';
import type { AnyRoute } from './route.js';

type Json = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const j = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  delete j.$schema;
  return j;
}

function parameters(s: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (s === undefined) return [];
  const j = schema(s, 'input') as { properties?: Record<string, Json & { description?: string }>; required?: string[] };
  return Object.entries(j.properties ?? {}).map(([name, p]) => {
    const { description, ...rest } = p;
    return { name: where === 'path' && name === '*' ? 'topic' : name, in: where, required: where === 'path' || (j.required ?? []).includes(name), schema: rest, ...(description !== undefined ? { description } : {}) };
  });
}

const ErrorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'detail'],
      properties: { code: { type: 'string', enum: Object.keys(ERRORS) }, message: { type: 'string' }, detail: { type: 'string' } },
    },
  },
};

export function openApiDocument(routes: readonly AnyRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{topic}');
    const op: Json = {
      summary: r.summary,
      tags: [r.tag],
      description: `Needs the ${r.profile} profile or higher.`,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: {
        '200': { description: 'Done', content: { 'application/json': { schema: schema(r.response, 'output') } } },
        default: { description: 'An error of the catalogue (docs/errors.md), with its HTTP status', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    if (r.body !== undefined) op.requestBody = { required: true, content: { 'application/json': { schema: schema(r.body, 'input') } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Switchboard HTTP API', version },
    security: [{ basic: [] }, { bearer: [] }],
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: '<app key>:<profile key>' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "A JWT of the application, with its key in X-App-Key" },
      },
      schemas: { Error: ErrorBody },
    },
    paths,
  };
}
