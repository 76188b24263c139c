import type { MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Project } from '../../db/schema.js';
import { notFound } from '../../src/core/errors.js';
import { keyedBatcher } from '../../src/util/batcher.js';
import type { AppEnv } from '../context.js';
import { validationError } from '../errors.js';

const uuid = z.uuid();

/**
 * Loads `{projectId}` for the authenticated user into `c.get('project')`.
 * Another user's project is indistinguishable from a missing one: 404. A
 * malformed id is a 400 naming the path parameter, like every other id.
 *
 * Nothing is cached: a deleted project is a 404 from the next request on, on
 * every replica. Requests for one project that arrive while its row is being
 * read share the next read (src/util/batcher.ts), which starts after all of
 * them arrived, so each sees the row as fresh as a query of its own would.
 */
export function projectScope(db: Kysely<Database>): MiddlewareHandler<AppEnv> {
  const load = keyedBatcher<null, Project | undefined>(async (projectId, calls) => {
    const row = await db.selectFrom('user_projects').selectAll().where('id', '=', projectId).executeTakeFirst();
    return calls.map(() => row);
  });
  return async (c, next) => {
    const projectId = c.req.param('projectId');
    if (projectId === undefined) return next();
    if (!uuid.safeParse(projectId).success) {
      throw validationError([{ field: 'projectId', in: 'path', message: 'must be a UUID' }]);
    }
    const project = await load(projectId, null);
    if (!project || project.user_id !== c.get('user').id) throw notFound('project');
    c.set('project', project);
    await next();
  };
}
