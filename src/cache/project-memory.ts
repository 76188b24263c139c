import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Embedder } from '../core/embedding.js';
import type { VectorStore } from '../core/vector-store.js';

export const PROJECT_MEMORY_COLLECTION = 'project_memory';
const VECTOR_KIND = 'memory';

export interface MemoryEntry {
  id: string;
  kind: string;
  content: string;
  source: string | null;
  /** Cosine similarity to the query. */
  score: number;
  /** Estimated tokens of `content`: ceil(characters / 4), the usual English approximation. */
  tokens: number;
  createdAt: Date;
}

export interface ProjectMemory {
  /** Stores a fact, decision or result of the project and indexes it for search. Returns the row id. */
  write(entry: { userId: string; projectId: string; kind?: string; content: string; source?: string | null }): Promise<string>;
  /**
   * The most relevant entries of this project only, best first, at most `k`,
   * whose estimated tokens fit in `tokenBudget` together (an entry that does
   * not fit is skipped, a smaller less relevant one may still fit).
   */
  search(query: { userId: string; projectId: string; query: string; k?: number; tokenBudget?: number; minScore?: number }): Promise<MemoryEntry[]>;
}

/** ~4 characters per token: cheap, tokenizer-free, good enough for a budget. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export function createProjectMemory(opts: { db: Kysely<Database>; embedder: Embedder; vectorStore: VectorStore }): ProjectMemory {
  const { db, embedder, vectorStore } = opts;
  let ready: Promise<void> | undefined;
  const ensure = () =>
    (ready ??= vectorStore.ensureCollection(PROJECT_MEMORY_COLLECTION, embedder.dimensions).catch((err) => {
      ready = undefined;
      throw err;
    }));

  return {
    async write({ userId, projectId, kind = 'note', content, source = null }) {
      if (!content.trim()) throw new Error('project memory: content is empty');
      await ensure();
      // Embed first: a failed embedding leaves no row without a vector.
      const [vector] = (await embedder.embed([content], { userId, projectId })).vectors;
      const row = await db
        .insertInto('project_memory')
        .values({ user_id: userId, project_id: projectId, kind, content, source })
        .returning('id')
        .executeTakeFirstOrThrow();
      try {
        await vectorStore.upsert(PROJECT_MEMORY_COLLECTION, [
          { id: row.id, vector: vector!, payload: { user_id: userId, project_id: projectId, kind: VECTOR_KIND, memory_kind: kind } },
        ]);
      } catch (err) {
        await db.deleteFrom('project_memory').where('id', '=', row.id).execute();
        throw err;
      }
      return row.id;
    },

    async search({ userId, projectId, query, k = 5, tokenBudget = 2000, minScore }) {
      if (k <= 0 || tokenBudget <= 0 || !query.trim()) return [];
      await ensure();
      const [vector] = (await embedder.embed([query], { userId, projectId })).vectors;
      // Over-fetch: entries too large for the budget are skipped, not truncated.
      const hits = await vectorStore.search(PROJECT_MEMORY_COLLECTION, vector!, {
        filter: { user_id: userId, project_id: projectId, kind: VECTOR_KIND },
        limit: k * 4,
        minScore,
      });
      if (hits.length === 0) return [];
      // The rows are read with the same user and project: isolation does not rest on the vector store alone.
      const rows = await db
        .selectFrom('project_memory')
        .select(['id', 'kind', 'content', 'source', 'created_at'])
        .where('user_id', '=', userId)
        .where('project_id', '=', projectId)
        .where('id', 'in', hits.map((h) => h.id))
        .execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      const out: MemoryEntry[] = [];
      let left = tokenBudget;
      for (const h of hits) {
        const r = byId.get(h.id);
        if (!r) continue;
        const tokens = estimateTokens(r.content);
        if (tokens > left) continue;
        left -= tokens;
        out.push({ id: r.id, kind: r.kind, content: r.content, source: r.source, score: h.score, tokens, createdAt: r.created_at });
        if (out.length === k) break;
      }
      return out;
    },
  };
}
