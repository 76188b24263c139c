import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../src/deps.js';
import { notFound } from '../../src/core/errors.js';
import type { StoredEvent } from '../../src/events/event-log.js';
import { QUEUE } from '../../src/queues/catalog.js';
import { tooManyActivePlans } from '../middleware/rate-limit.js';
import { bearerAuth, bodyErrors, commonErrors, createRouter, jsonBody, jsonResponse, projectParams } from '../router.js';
import { createChatCommitter, createPlannerHandOff } from './chat-commit.js';

/** api.md: a message is 1–16,000 characters (code points, so emoji count once). */
export const MAX_MESSAGE_CHARS = 16_000;
/** A new session's topic: the start of its first message. */
const TOPIC_CHARS = 80;
/**
 * How long the request waits for Redis after the commit. The plan is safe in
 * PostgreSQL by then: if Redis is down, the reconciler enqueues `planning`
 * plans whose job is missing, so the client still gets its 202.
 */
const ENQUEUE_WAIT_MS = 1_000;

const chatBody = z
  .strictObject({
    message: z
      .string()
      .min(1)
      .refine((s) => s.trim().length > 0, 'must not be blank')
      .refine((s) => s.length <= MAX_MESSAGE_CHARS || [...s].length <= MAX_MESSAGE_CHARS, `must be at most ${MAX_MESSAGE_CHARS} characters`),
    session_id: z.uuid().optional().openapi({ description: 'A session of this project; a new one is made when absent.' }),
  })
  .openapi('ChatRequest');

const chatAccepted = z
  .object({
    plan_id: z.uuid(),
    session_id: z.uuid(),
    status: z.literal('planning'),
    events_url: z.string().openapi({ example: '/v1/projects/{projectId}/plans/{planId}/events' }),
  })
  .openapi('ChatAccepted');

/** The first ~80 characters of a message, cut at a word boundary when one is near, on one line. */
export function topicOf(message: string): string {
  // Only the start matters: a 16,000-character message is not split into code points.
  const flat = message.trim().slice(0, TOPIC_CHARS * 4).replace(/\s+/g, ' ').replace(/[\uD800-\uDBFF]$/, '').trim();
  const chars = [...flat];
  if (chars.length <= TOPIC_CHARS) return flat;
  const cut = chars.slice(0, TOPIC_CHARS - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${space > TOPIC_CHARS / 2 ? cut.slice(0, space) : cut}…`;
}

/** PostgreSQL's foreign_key_violation: the project (or session) was deleted under the request. */
const FK_VIOLATION = '23503';

/**
 * `POST …/chat`: records the request and a plan in `planning`, then hands it
 * to the planner queue. No LLM call and no slow query here: the planner worker
 * does the work and the client follows the plan's event stream. Concurrent
 * chats are written and handed off in batches (chat-commit.ts).
 */
export function chatRoutes(deps: Deps) {
  const router = createRouter();
  const cap = deps.config.USER_MAX_EXECUTING_PLANS;
  const commit = createChatCommitter(deps.db, cap);
  const handOff = createPlannerHandOff(deps, deps.queues.byName[QUEUE.planner]);

  router.openapi(
    createRoute({
      method: 'post', path: '/v1/projects/{projectId}/chat', tags: ['chat'], security: bearerAuth,
      summary: 'Ask for something: returns at once with a plan in `planning`',
      description:
        'Stores the message and a plan in status `planning` and enqueues its planning; follow `events_url` (SSE) ' +
        'or poll the plan. A new session (topic: the start of the message) is made when `session_id` is absent.',
      request: { params: projectParams, body: jsonBody(chatBody) },
      responses: { 202: jsonResponse(chatAccepted, 'Accepted: planning has been queued'), ...commonErrors, ...bodyErrors },
    }),
    async (c) => {
      const { message, session_id: givenSession } = c.req.valid('json');
      const userId = c.get('user').id;
      const projectId = c.get('project').id;
      const log = c.get('logger');

      let outcome;
      try {
        outcome = await commit({ userId, projectId, sessionId: givenSession ?? null, topic: givenSession ? null : topicOf(message), message });
      } catch (err) {
        // The statement refused a foreign key: the project (or session) was deleted under the request.
        if ((err as { code?: unknown }).code === FK_VIOLATION) throw notFound(givenSession ? 'session' : 'project');
        throw err;
      }
      if (outcome.status === 'no_project') throw notFound('project');
      if (outcome.status === 'no_session') throw notFound('session');
      if (outcome.status === 'at_cap') throw tooManyActivePlans(outcome.active, cap);

      const { planId, sessionId, event } = outcome;
      await afterCommit(planId, event, log);
      log.info({ plan_id: planId, session_id: sessionId }, 'chat accepted');
      return c.json(
        { plan_id: planId, session_id: sessionId, status: 'planning' as const, events_url: `/v1/projects/${projectId}/plans/${planId}/events` },
        202,
      );
    },
  );

  /**
   * Publishes `plan.planning` and enqueues the planner job (its id makes a
   * retried request, or the reconciler, a no-op). Redis commands wait while
   * Redis is unreachable, so this waits ENQUEUE_WAIT_MS at most; the commands
   * still run if Redis comes back. Never throws.
   */
  async function afterCommit(planId: string, event: StoredEvent, log: Deps['logger']): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ENQUEUE_WAIT_MS);
    });
    const outcome = await Promise.race([handOff(planId, event), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      log.warn({ plan_id: planId }, 'redis did not answer; the reconciler will enqueue the plan');
    } else if (!outcome.enqueued) {
      log.warn({ plan_id: planId, err: outcome.err }, 'could not enqueue planning; the reconciler will enqueue the plan');
    }
  }

  return router;
}
