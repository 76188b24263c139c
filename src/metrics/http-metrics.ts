import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from './metrics.js';

/**
 * The template of the route that handles the request (`/v1/projects/:projectId`),
 * never the raw path, so ids never become labels. Middleware routes (`use`,
 * method ALL) are skipped: a 404 thrown by the project scope still counts
 * under the route it was meant for. No handler matched: `unmatched`.
 */
function routeTemplate(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    if (routes[i]!.method !== 'ALL') return routes[i]!.path;
  }
  return 'unmatched';
}

/** Counts every request and its duration by route template, method and status. */
export function httpMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      metrics.observeHttp(c.req.method, routeTemplate(c), c.res.status, (performance.now() - started) / 1000);
    }
  };
}
