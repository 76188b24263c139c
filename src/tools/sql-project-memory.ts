import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { MemoryHit, ProjectMemoryPort } from './project-memory.js';

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Project memory over the `project_memory` table alone: PostgreSQL full-text
 * ranking (`ts_rank`), then a case-insensitive substring match when the query
 * has no searchable word (stop words only, symbols, identifiers the English
 * parser splits differently) or the full-text search finds nothing.
 */
export function createSqlProjectMemory(db: Kysely<Database>): ProjectMemoryPort {
  return {
    async write({ userId, projectId, content, kind, source }) {
      await db.insertInto('project_memory').values({ user_id: userId, project_id: projectId, content, kind, source }).execute();
    },

    async search({ userId, projectId, query, k }): Promise<MemoryHit[]> {
      const ranked = await db
        .selectFrom('project_memory')
        .select([
          'content',
          sql<number>`ts_rank(to_tsvector('english', content), plainto_tsquery('english', ${query}))`.as('score'),
        ])
        .where('user_id', '=', userId)
        .where('project_id', '=', projectId)
        .where(sql<boolean>`to_tsvector('english', content) @@ plainto_tsquery('english', ${query})`)
        .orderBy('score', 'desc')
        .orderBy('created_at', 'desc')
        .limit(k)
        .execute();
      if (ranked.length > 0) return ranked.map((r) => ({ content: r.content, score: Number(r.score) }));

      // A substring hit has no rank; newest first, with a score below any ts_rank hit.
      const matched = await db
        .selectFrom('project_memory')
        .select('content')
        .where('user_id', '=', userId)
        .where('project_id', '=', projectId)
        .where(sql<boolean>`content ILIKE ${`%${escapeLike(query)}%`}`)
        .orderBy('created_at', 'desc')
        .limit(k)
        .execute();
      return matched.map((r) => ({ content: r.content, score: 0 }));
    },
  };
}
