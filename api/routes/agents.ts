import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Deps } from '../../src/deps.js';
import type { AgentConfig } from '../../db/schema.js';
import { conflict, notFound } from '../../src/core/errors.js';
import type { PriceTable } from '../../src/llm/prices.js';
import {
  agentConfigInputSchema, agentConfigPatchSchema, agentNameSchema, mergeAgentConfig, validateAgentConfig,
} from '../../src/agents/agent-config.js';
import { afterCursor, cursorAt, decodeCursor, pageOf, pageQuerySchema, toPage } from '../pagination.js';
import { agentJson, agentSchema } from '../resources.js';
import {
  bearerAuth, bodyErrors, commonErrors, conflictError, createRouter, jsonBody, jsonResponse, projectParams,
} from '../router.js';

const agentParams = projectParams.extend({ agentId: z.uuid().openapi({ param: { name: 'agentId', in: 'path' } }) });
const createBody = z.strictObject({ name: agentNameSchema, config: agentConfigInputSchema }).openapi('CreateAgent');
const patchBody = z
  .strictObject({ name: agentNameSchema.optional(), config: agentConfigPatchSchema.optional(), status: z.enum(['active', 'disabled']).optional() })
  .openapi('PatchAgent');

/** Turns the name's unique violation into the contract's 409; anything else is rethrown. */
function duplicateName(err: unknown, name: string | undefined): never {
  if ((err as { constraint?: string } | null)?.constraint === 'uq_user_agents_project_id_name') {
    throw conflict(`an agent named "${name}" already exists in this project`, [{ field: 'name', in: 'body', message: 'already taken' }]);
  }
  throw err;
}

const tags = ['agents'];
const columns = ['id', 'project_id', 'name', 'config', 'status', 'starter_pack', 'created_at'] as const;

export function agentRoutes(deps: Deps, prices: PriceTable) {
  const { db, config } = deps;
  const router = createRouter();

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/agents', tags, security: bearerAuth,
      summary: "List the project's agents, starter pack included, newest first",
      request: { params: projectParams, query: pageQuerySchema },
      responses: { 200: jsonResponse(pageOf(agentSchema), 'A page of agents'), ...commonErrors },
    }),
    async (c) => {
      const { limit, cursor: raw } = c.req.valid('query');
      const cursor = decodeCursor(raw);
      let q = db
        .selectFrom('user_agents')
        .select([...columns, cursorAt().as('cursor_at')])
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id);
      if (cursor) q = q.where(afterCursor(cursor, 'before'));
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      return c.json(toPage(rows, limit, agentJson), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post', path: '/v1/projects/{projectId}/agents', tags, security: bearerAuth,
      summary: 'Add an agent to the project',
      request: { params: projectParams, body: jsonBody(createBody) },
      responses: { 201: jsonResponse(agentSchema, 'The agent'), ...commonErrors, ...conflictError, ...bodyErrors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const agentConfig = validateAgentConfig(prices, { ...body.config, provider: body.config.provider ?? config.LLM_PROVIDER });
      const row = await db
        .insertInto('user_agents')
        .values({
          user_id: c.get('user').id, project_id: c.get('project').id, name: body.name,
          config: JSON.stringify(agentConfig), status: 'active', starter_pack: false,
        })
        .returning(columns)
        .executeTakeFirstOrThrow()
        .catch((err: unknown) => duplicateName(err, body.name));
      return c.json(agentJson(row), 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/agents/{agentId}', tags, security: bearerAuth,
      summary: 'Get an agent',
      request: { params: agentParams },
      responses: { 200: jsonResponse(agentSchema, 'The agent'), ...commonErrors },
    }),
    async (c) => {
      const row = await db
        .selectFrom('user_agents')
        .select(columns)
        .where('id', '=', c.req.valid('param').agentId)
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .executeTakeFirst();
      if (!row) throw notFound('agent');
      return c.json(agentJson(row), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'patch', path: '/v1/projects/{projectId}/agents/{agentId}', tags, security: bearerAuth,
      summary: 'Rename, reconfigure (partial merge) or disable an agent',
      request: { params: agentParams, body: jsonBody(patchBody) },
      responses: { 200: jsonResponse(agentSchema, 'The updated agent'), ...commonErrors, ...conflictError, ...bodyErrors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { agentId } = c.req.valid('param');
      // Locked while merging, so concurrent partial PATCHes of the config compose instead of overwriting.
      const row = await db.transaction().execute(async (tx) => {
        const current = await tx
          .selectFrom('user_agents')
          .select(['id', 'config'])
          .where('id', '=', agentId)
          .where('project_id', '=', c.get('project').id)
          .where('user_id', '=', c.get('user').id)
          .forUpdate()
          .executeTakeFirst();
        if (!current) throw notFound('agent');
        const merged: AgentConfig | undefined = body.config ? mergeAgentConfig(prices, current.config, body.config) : undefined;
        return tx
          .updateTable('user_agents')
          .set({
            ...(body.name === undefined ? {} : { name: body.name }),
            ...(body.status === undefined ? {} : { status: body.status }),
            ...(merged ? { config: JSON.stringify(merged) } : {}),
            updated_at: sql<Date>`now()`,
          })
          .where('id', '=', current.id)
          .returning(columns)
          .executeTakeFirstOrThrow();
      }).catch((err: unknown) => duplicateName(err, body.name));
      return c.json(agentJson(row), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete', path: '/v1/projects/{projectId}/agents/{agentId}', tags, security: bearerAuth,
      summary: 'Delete an agent (past plans keep its name)',
      request: { params: agentParams },
      responses: { 204: { description: 'Deleted' }, ...commonErrors },
    }),
    async (c) => {
      const res = await db
        .deleteFrom('user_agents')
        .where('id', '=', c.req.valid('param').agentId)
        .where('project_id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .executeTakeFirst();
      if (res.numDeletedRows === 0n) throw notFound('agent');
      return c.body(null, 204);
    },
  );

  return router;
}
