import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Deps } from '../../src/deps.js';
import type { ProjectSettings } from '../../db/schema.js';
import { notFound } from '../../src/core/errors.js';
import { starterPack } from '../../src/agents/starter-pack.js';
import { afterCursor, cursorAt, decodeCursor, pageOf, pageQuerySchema, toPage } from '../pagination.js';
import { projectJson, projectSchema } from '../resources.js';
import { bearerAuth, bodyErrors, commonErrors, createRouter, jsonBody, jsonResponse, projectParams } from '../router.js';

const settingsInput = z.strictObject({
  approval_threshold_usd: z.number().min(0).max(1_000_000).nullable().optional(),
  approval_timeout_s: z.number().int().min(1).max(30 * 86_400).nullable().optional(),
  max_parallel_tasks: z.number().int().min(1).max(1_000).nullable().optional(),
}).openapi({ description: 'Overrides of the deployment defaults; `null` resets a setting to its default.' });

const projectName = z.string().trim().min(1).max(200);
const createBody = z.strictObject({ name: projectName, settings: settingsInput.optional() }).openapi('CreateProject');
const patchBody = z.strictObject({ name: projectName.optional(), settings: settingsInput.optional() }).openapi('PatchProject');

/** Splits a settings patch into the overrides to set and the ones to reset. */
function settingsChange(input: z.infer<typeof settingsInput> | undefined): { set: ProjectSettings; reset: string[] } {
  const set: Record<string, number> = {};
  const reset: string[] = [];
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value === null) reset.push(key);
    else if (value !== undefined) set[key] = value;
  }
  return { set, reset };
}

const tags = ['projects'];

export function projectRoutes(deps: Deps) {
  const { db, config } = deps;
  const router = createRouter();

  router.openapi(
    createRoute({
      method: 'post', path: '/v1/projects', tags, security: bearerAuth,
      summary: 'Create a project (with the starter pack of agents)',
      request: { body: jsonBody(createBody) },
      responses: { 201: jsonResponse(projectSchema, 'The project'), ...commonErrors, ...bodyErrors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = c.get('user');
      // The project and its starter agents exist together or not at all.
      const project = await db.transaction().execute(async (tx) => {
        const row = await tx
          .insertInto('user_projects')
          .values({ user_id: user.id, name: body.name, settings: JSON.stringify(settingsChange(body.settings).set) })
          .returningAll()
          .executeTakeFirstOrThrow();
        await tx
          .insertInto('user_agents')
          .values(starterPack(config.LLM_PROVIDER).map((a) => ({
            user_id: user.id, project_id: row.id, name: a.name, config: JSON.stringify(a.config), status: 'active' as const, starter_pack: true,
          })))
          .execute();
        return row;
      });
      c.get('logger').info({ projectId: project.id }, 'project created');
      return c.json(projectJson(config, project), 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects', tags, security: bearerAuth,
      summary: 'List your projects, newest first',
      request: { query: pageQuerySchema },
      responses: { 200: jsonResponse(pageOf(projectSchema), 'A page of projects'), ...commonErrors },
    }),
    async (c) => {
      const { limit, cursor: raw } = c.req.valid('query');
      const cursor = decodeCursor(raw);
      let q = db
        .selectFrom('user_projects')
        .select(['id', 'name', 'settings', 'created_at', cursorAt().as('cursor_at')])
        .where('user_id', '=', c.get('user').id);
      if (cursor) q = q.where(afterCursor(cursor, 'before'));
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      return c.json(toPage(rows, limit, (r) => projectJson(config, r)), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}', tags, security: bearerAuth,
      summary: 'Get a project with its effective settings',
      request: { params: projectParams },
      responses: { 200: jsonResponse(projectSchema, 'The project'), ...commonErrors },
    }),
    (c) => c.json(projectJson(config, c.get('project')), 200),
  );

  router.openapi(
    createRoute({
      method: 'patch', path: '/v1/projects/{projectId}', tags, security: bearerAuth,
      summary: 'Rename a project or change its settings',
      request: { params: projectParams, body: jsonBody(patchBody) },
      responses: { 200: jsonResponse(projectSchema, 'The updated project'), ...commonErrors, ...bodyErrors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { set, reset } = settingsChange(body.settings);
      // Merged in SQL so that two concurrent PATCHes of different settings both survive.
      const row = await db
        .updateTable('user_projects')
        .set({
          ...(body.name === undefined ? {} : { name: body.name }),
          settings: sql<string>`(settings || ${JSON.stringify(set)}::jsonb) - ${reset}::text[]`,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', c.get('project').id)
        .where('user_id', '=', c.get('user').id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound('project'); // deleted since the scope loaded it
      return c.json(projectJson(config, row), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete', path: '/v1/projects/{projectId}', tags, security: bearerAuth,
      summary: 'Delete a project and everything in it',
      request: { params: projectParams },
      responses: { 204: { description: 'Deleted' }, ...commonErrors },
    }),
    async (c) => {
      await db.deleteFrom('user_projects').where('id', '=', c.get('project').id).where('user_id', '=', c.get('user').id).execute();
      return c.body(null, 204);
    },
  );

  return router;
}
