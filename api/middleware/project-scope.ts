import type { MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../db/schema.js';
import { notFound } from '../../src/core/errors.js';
import type { AppEnv } from '../context.js';
import { validationError } from '../errors.js';

const uuid = z.uuid();

/**
 * Loads `{projectId}` for the authenticated user into `c.get('project')`.
 * Another user's project is indistinguishable from a missing one: 404. A
 * malformed id is a 400 naming the path parameter, like every other id.
 */
export function projectScope(db: Kysely<Database>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const projectId = c.req.param('projectId');
    if (projectId === undefined) return next();
    if (!uuid.safeParse(projectId).success) {
      throw validationError([{ field: 'projectId', in: 'path', message: 'must be a UUID' }]);
    }
    const project = await db
      .selectFrom('user_projects')
      .selectAll()
      .where('id', '=', projectId)
      .where('user_id', '=', c.get('user').id)
      .executeTakeFirst();
    if (!project) throw notFound('project');
    c.set('project', project);
    await next();
  };
}
