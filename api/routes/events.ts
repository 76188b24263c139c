import type { ServerResponse } from 'node:http';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Deps } from '../../src/deps.js';
import { notFound } from '../../src/core/errors.js';
import { channels } from '../../src/events/event-log.js';
import { EventStream, type StreamTarget } from '../../src/events/event-stream.js';
import { sseBody } from '../../src/events/sse.js';
import type { StreamManager } from '../../src/events/stream-manager.js';
import type { AppEnv } from '../context.js';
import { errorBodySchema, validationError } from '../errors.js';
import { bearerAuth, commonErrors, createRouter, projectParams } from '../router.js';

const TERMINAL_STATUSES = new Set(['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled']);

const planParams = projectParams.extend({ planId: z.uuid().openapi({ param: { name: 'planId', in: 'path' } }) });
const sessionParams = projectParams.extend({ sessionId: z.uuid().openapi({ param: { name: 'sessionId', in: 'path' } }) });
const streamQuery = z.object({
  last_event_id: z.string().optional().openapi({ description: 'Resume after this id (the `Last-Event-ID` header wins when both are sent)' }),
  access_token: z.string().optional().openapi({ description: 'The JWT, for clients that cannot send headers (EventSource); never logged' }),
});
const streamHeaders = z.object({ 'last-event-id': z.string().optional() });

const sseResponses = (what: string) => ({
  200: {
    description: `text/event-stream of ${what} (events.md): replay after Last-Event-ID, then live; \`: ping\` on idle streams`,
    content: { 'text/event-stream': { schema: z.string() } },
  },
  ...commonErrors,
  429: { description: 'Too many open streams for this user (`Retry-After`)', content: { 'application/json': { schema: errorBodySchema } } },
  503: { description: 'Live events unavailable (Redis); retry', content: { 'application/json': { schema: errorBodySchema } } },
});

const tags = ['events'];

/** `Last-Event-ID` (header first, then `?last_event_id=`): a non-negative integer, 0 when absent. */
function lastEventId(c: Context<AppEnv>, maxDigits: number): bigint {
  const header = c.req.header('last-event-id')?.trim();
  const raw = header || c.req.query('last_event_id')?.trim();
  if (!raw) return 0n;
  if (!new RegExp(`^\\d{1,${maxDigits}}$`).test(raw)) {
    throw validationError([{ field: header ? 'Last-Event-ID' : 'last_event_id', in: header ? 'header' : 'query', message: 'must be an event id sent by this stream' }]);
  }
  return BigInt(raw);
}

/**
 * GET …/plans/{planId}/events and …/sessions/{sessionId}/events. Ownership
 * is checked first (404, never 403), then the user's stream cap (429), then
 * the stream is subscribed to its channel and only then replayed.
 */
export function eventRoutes(deps: Deps, manager: StreamManager) {
  const { db } = deps;
  const router = createRouter();

  const open = async (c: Context<AppEnv>, target: StreamTarget, channel: string) => {
    const logger = c.get('logger');
    const stream = new EventStream({ db, manager, logger }, target);
    const detach = await manager.attach(c.get('user').id, channel, stream);
    const { body, sink } = sseBody(() => stream.stop('client'));
    c.req.raw.signal.addEventListener('abort', () => stream.stop('client'), { once: true });
    // Cutting a too-slow client: on Node, destroy its socket (erroring the body would also work, but
    // @hono/node-server prints every body error to the console).
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const cut = outgoing ? { ...sink, abort: () => outgoing.destroy() } : sink;
    void stream.run(cut, detach).finally(() => {
      sink.close();
      logger.debug({ reason: stream.reason }, 'sse stream ended');
    });
    return c.newResponse(body, 200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      // chunked from the first byte: the server must not wait for the body to guess a length
      'Transfer-Encoding': 'chunked',
      // nginx and friends must not buffer the stream
      'X-Accel-Buffering': 'no',
    });
  };

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/plans/{planId}/events', tags, security: bearerAuth,
      summary: "A plan's events: replay after Last-Event-ID (seq), then live; closes after the terminal event",
      request: { params: planParams, query: streamQuery, headers: streamHeaders },
      responses: sseResponses('one plan, `id:` = seq'),
    }),
    async (c) => {
      const { planId } = c.req.valid('param');
      const plan = await db
        .selectFrom('task_plans')
        .select(['id', 'status'])
        .where('id', '=', planId)
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .executeTakeFirst();
      if (!plan) throw notFound('plan');
      const afterSeq = Number(lastEventId(c, 9));
      // The status is read before the replay: a plan terminal now has all its events in what the replay reads.
      const target: StreamTarget = { kind: 'plan', planId, terminal: TERMINAL_STATUSES.has(plan.status), afterSeq };
      return open(c, target, channels.plan(deps.prefix, planId)) as never;
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/sessions/{sessionId}/events', tags, security: bearerAuth,
      summary: "Every plan's events of a session: replay after Last-Event-ID (global id), then live; stays open",
      request: { params: sessionParams, query: streamQuery, headers: streamHeaders },
      responses: sseResponses('the plans of a session, `id:` = global event id'),
    }),
    async (c) => {
      const { sessionId } = c.req.valid('param');
      const session = await db
        .selectFrom('chat_sessions')
        .select('id')
        .where('id', '=', sessionId)
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .executeTakeFirst();
      if (!session) throw notFound('session');
      const afterId = lastEventId(c, 18);
      return open(c, { kind: 'session', sessionId, afterId }, channels.session(deps.prefix, sessionId)) as never;
    },
  );

  return router;
}
