import { Hono } from 'hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import type { Deps } from '../../src/deps.js';
import { ALL_QUEUES } from '../../src/queues/catalog.js';
import type { AppEnv } from '../context.js';
import { adminAuth } from '../middleware/admin-auth.js';

/** Where Bull Board is mounted; its UI builds every link and asset URL from it. */
export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Operator routes, all behind `adminAuth`: Bull Board at `/admin/queues`
 * (every queue of the catalog, gates included so flows render as trees;
 * read-only unless BULL_BOARD_READ_ONLY=false, which Bull Board enforces per
 * queue) and the tracked unexpected errors at `GET /admin/errors`.
 */
export function adminRoutes(deps: Deps): Hono<AppEnv> {
  const router = new Hono<AppEnv>();
  router.use('/admin/*', adminAuth(deps.config));

  // The UI's scripts and styles are files of @bull-board/ui, served from disk by path.
  const board = new HonoAdapter(serveStatic).setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: ALL_QUEUES.map((name) => new BullMQAdapter(deps.queues.byName[name], { readOnlyMode: deps.config.BULL_BOARD_READ_ONLY })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'codelab-core queues' } },
  });
  router.route(BULL_BOARD_PATH, board.registerPlugin());

  router.get('/admin/errors', async (c) => {
    const limit = Number(c.req.query('limit') ?? 100);
    const rows = await deps.errors.list({ limit: Number.isInteger(limit) ? limit : 100 });
    return c.json({
      items: rows.map((r) => ({
        fingerprint: r.fingerprint,
        source: r.source,
        name: r.name,
        count: Number(r.count),
        first_seen: r.first_seen.toISOString(),
        last_seen: r.last_seen.toISOString(),
        sample_message: r.sample_message,
        sample_stack: r.sample_stack,
      })),
    });
  });
  return router;
}
