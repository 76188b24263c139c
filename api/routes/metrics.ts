import { Hono } from 'hono';
import type { Deps } from '../../src/deps.js';
import type { AppEnv } from '../context.js';

/**
 * `GET /metrics`: this process's registry in the Prometheus text format. No
 * auth (Prometheus scrapes it on the private network); keep it off the
 * public load balancer.
 */
export function metricsRoutes(deps: Deps): Hono<AppEnv> {
  const router = new Hono<AppEnv>();
  router.get('/metrics', async (c) => {
    const { contentType, body } = await deps.metrics.scrape();
    return c.body(body, 200, { 'content-type': contentType });
  });
  return router;
}
