import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Deps } from '../../src/deps.js';
import type { Lifecycle } from '../../src/ops/lifecycle.js';
import { createRouter, jsonResponse } from '../router.js';

/** A health check must answer quickly even when a dependency hangs. */
const CHECK_TIMEOUT_MS = 1_500;

type Check = 'ok' | 'down' | 'disabled';

/** Connected, or still making its first connection (a fresh process); not reconnecting or closed. */
const LIVE_REDIS_STATES = new Set(['ready', 'connect', 'connecting', 'wait']);

const healthSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.object({ postgres: z.enum(['ok', 'down']), redis: z.enum(['ok', 'down']), vector: z.enum(['ok', 'down', 'disabled']) }),
  })
  .openapi('Health');

async function probe(run: () => Promise<unknown>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(), timeout]);
    return 'ok';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

type Checks = z.infer<typeof healthSchema>['checks'];

/** Real round trips to PostgreSQL, Redis and (when configured) Qdrant, each bounded by CHECK_TIMEOUT_MS. */
async function checkDependencies({ db, redis, config }: Deps): Promise<{ ok: boolean; checks: Checks }> {
  const [postgres, redisCheck, vector] = await Promise.all([
    probe(() => sql`SELECT 1`.execute(db)),
    // A client that lost its connection would queue the PING until Redis returns: answer "down" at once.
    LIVE_REDIS_STATES.has(redis.status) ? probe(() => redis.ping()) : Promise.resolve<Check>('down'),
    config.QDRANT_URL
      ? probe(async () => {
          const res = await fetch(new URL('/readyz', config.QDRANT_URL), { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
          if (!res.ok) throw new Error(`qdrant ${res.status}`);
        })
      : Promise.resolve<Check>('disabled'),
  ]);
  const checks = { postgres, redis: redisCheck, vector } as Checks;
  return { ok: Object.values(checks).every((v) => v !== 'down'), checks };
}

const readySchema = z
  .object({ status: z.enum(['ready', 'unavailable', 'draining']), checks: healthSchema.shape.checks.optional() })
  .openapi('Readiness');

/**
 * `GET /health`: liveness and dependency checks. `GET /health/live`: the
 * process answers (restart it when not). `GET /health/ready`: dependencies
 * answer and the process is not draining (route traffic to it only then).
 */
export function healthRoutes(deps: Deps, opts: { lifecycle?: Lifecycle } = {}) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: 'get', path: '/health', tags: ['health'],
      summary: 'Liveness and dependency checks (no auth)',
      responses: { 200: jsonResponse(healthSchema, 'Every dependency answers'), 503: jsonResponse(healthSchema, 'A dependency is down') },
    }),
    async (c) => {
      const { ok, checks } = await checkDependencies(deps);
      if (!ok) c.get('logger').warn({ checks }, 'health check failed');
      return ok ? c.json({ status: 'ok' as const, checks }, 200) : c.json({ status: 'unavailable' as const, checks }, 503);
    },
  );
  router.openapi(
    createRoute({
      method: 'get', path: '/health/live', tags: ['health'],
      summary: 'Liveness: the process answers (no dependency checked, no auth)',
      responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'The process is up') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  router.openapi(
    createRoute({
      method: 'get', path: '/health/ready', tags: ['health'],
      summary: 'Readiness: dependencies answer and the process is not shutting down (no auth)',
      responses: { 200: jsonResponse(readySchema, 'Ready for traffic'), 503: jsonResponse(readySchema, 'Draining, or a dependency is down') },
    }),
    async (c) => {
      if (opts.lifecycle?.draining) return c.json({ status: 'draining' as const }, 503);
      const { ok, checks } = await checkDependencies(deps);
      return ok ? c.json({ status: 'ready' as const, checks }, 200) : c.json({ status: 'unavailable' as const, checks }, 503);
    },
  );
  return router;
}
