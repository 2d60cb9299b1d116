/**
 * One way to declare an API route: its zod schemas validate the request and describe it in the
 * OpenAPI document (openapi.ts), so the two cannot drift apart. The handler gets the parsed
 * params, query and body and the authenticated caller; it returns the JSON answer or throws an
 * HttpError (errors.ts).
 */
import type { z } from 'zod';
import type { Profile } from '../core/permissions.js';
import type { Caller } from './auth.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType> {
  method: Method;
  /** Fastify path (`:name` parameters). */
  path: string;
  summary: string;
  tag: string;
  /** The lowest profile allowed (ADMIN > SERVICE > SUPER_AGENT > AGENT). */
  profile: Profile;
  params?: P;
  query?: Q;
  body?: B;
  /** The success answer (status 200). */
  response: R;
  handler(req: { params: z.infer<P>; query: z.infer<Q>; body: z.infer<B>; caller: Caller }): z.infer<R> | Promise<z.infer<R>>;
}

/** A route whatever its schemas (the registry's element type). */
export interface AnyRoute {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  profile: Profile;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  handler(req: { params: unknown; query: unknown; body: unknown; caller: Caller }): unknown;
}

export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType>(spec: RouteSpec<P, Q, B, R>): AnyRoute {
  return spec as unknown as AnyRoute;
}
