import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../src/deps.js';
import { notFound } from '../../src/core/errors.js';
import { afterCursor, cursorAt, decodeCursor, pageOf, pageQuerySchema, toPage } from '../pagination.js';
import { messageSchema, sessionJson, sessionSchema } from '../resources.js';
import { bearerAuth, bodyErrors, commonErrors, createRouter, jsonBody, jsonResponse, projectParams } from '../router.js';

const sessionParams = projectParams.extend({ sessionId: z.uuid().openapi({ param: { name: 'sessionId', in: 'path' } }) });
const createBody = z.strictObject({ topic: z.string().trim().min(1).max(500).optional() }).openapi('CreateSession');

const tags = ['sessions'];

export function sessionRoutes(deps: Deps) {
  const { db } = deps;
  const router = createRouter();

  router.openapi(
    createRoute({
      method: 'post', path: '/v1/projects/{projectId}/sessions', tags, security: bearerAuth,
      summary: 'Start a chat session (the body is optional)',
      request: { params: projectParams, body: jsonBody(createBody, false) },
      responses: { 201: jsonResponse(sessionSchema, 'The session'), ...commonErrors, ...bodyErrors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const row = await db
        .insertInto('chat_sessions')
        .values({ user_id: c.get('user').id, project_id: c.get('project').id, topic: body.topic ?? null })
        .returning(['id', 'project_id', 'topic', 'created_at'])
        .executeTakeFirstOrThrow();
      return c.json(sessionJson(row), 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/sessions', tags, security: bearerAuth,
      summary: "List the project's sessions, newest first",
      request: { params: projectParams, query: pageQuerySchema },
      responses: { 200: jsonResponse(pageOf(sessionSchema), 'A page of sessions'), ...commonErrors },
    }),
    async (c) => {
      const { limit, cursor: raw } = c.req.valid('query');
      const cursor = decodeCursor(raw);
      let q = db
        .selectFrom('chat_sessions')
        .select(['id', 'project_id', 'topic', 'created_at', cursorAt().as('cursor_at')])
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id);
      if (cursor) q = q.where(afterCursor(cursor, 'before'));
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      return c.json(toPage(rows, limit, sessionJson), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/sessions/{sessionId}/messages', tags, security: bearerAuth,
      summary: "A session's chat messages, oldest first",
      request: { params: sessionParams, query: pageQuerySchema },
      responses: { 200: jsonResponse(pageOf(messageSchema), 'A page of messages'), ...commonErrors },
    }),
    async (c) => {
      const { sessionId } = c.req.valid('param');
      const { limit, cursor: raw } = c.req.valid('query');
      const cursor = decodeCursor(raw);
      const session = await db
        .selectFrom('chat_sessions')
        .select('id')
        .where('id', '=', sessionId)
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .executeTakeFirst();
      if (!session) throw notFound('session');
      let q = db
        .selectFrom('chat_messages')
        .select(['id', 'role', 'content', 'plan_id', 'created_at', cursorAt().as('cursor_at')])
        .where('session_id', '=', session.id);
      if (cursor) q = q.where(afterCursor(cursor, 'after'));
      const rows = await q.orderBy('created_at', 'asc').orderBy('id', 'asc').limit(limit + 1).execute();
      return c.json(
        toPage(rows, limit, (m) => ({ id: m.id, role: m.role, content: m.content, plan_id: m.plan_id, created_at: m.created_at.toISOString() })),
        200,
      );
    },
  );

  return router;
}
