/**
 * Package-internal entry: the core objects behind a Broker, for tests and the bench. Not part of
 * the public API (package.json exports only src/index.ts) and free to change with the core.
 */
import type { Broker } from './broker.js';
import type { Application } from './core/application.js';
import type { Router } from './core/router.js';

export type { Application } from './core/application.js';
export type { Router, RouterStats } from './core/router.js';
export type { Session } from './core/session.js';

/** The application `app`, or the first one ('default' in development mode). */
export function applicationOf(broker: Broker, app?: string): Application {
  const a = app === undefined ? broker.applications.values().next().value : broker.applications.get(app);
  if (a === undefined) throw new Error(`unknown application "${app ?? ''}"`);
  return a;
}

/** The router of the application `app`, or of the first one. */
export function routerOf(broker: Broker, app?: string): Router {
  return applicationOf(broker, app).router;
}
