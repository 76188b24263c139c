/**
 * The vector-store port. Implementations: `src/vector/postgres-vector-store.ts`
 * (default) and `src/vector/qdrant-vector-store.ts` (when QDRANT_URL is set).
 *
 * Isolation is part of the type: every search and delete names both a user and
 * a project, so a vector can never be served across users or projects.
 */

/** What every stored point carries; extra fields travel with it. */
export interface VectorPayload {
  user_id: string;
  project_id: string;
  kind: string;
  [key: string]: unknown;
}

export interface VectorPoint {
  /** Caller-chosen id, unique within a collection; upserting it again replaces the point. */
  id: string;
  vector: number[];
  payload: VectorPayload;
}

/** Scope of a search or delete. `user_id` and `project_id` are mandatory by design. */
export interface VectorFilter {
  user_id: string;
  project_id: string;
  kind?: string;
}

export interface VectorSearchOptions {
  filter: VectorFilter;
  limit: number;
  /** Cosine similarity below which a point is not returned. */
  minScore?: number;
}

export interface VectorHit {
  id: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
  payload: VectorPayload;
}

export interface VectorStore {
  /** Creates the collection if missing; idempotent. Dimensions are fixed per collection. */
  ensureCollection(name: string, dims: number): Promise<void>;
  upsert(collection: string, points: VectorPoint[]): Promise<void>;
  /** Nearest points by cosine similarity, best first, within the filter only. */
  search(collection: string, vector: number[], opts: VectorSearchOptions): Promise<VectorHit[]>;
  /** Deletes every point matching the filter; returns how many when the backend knows. */
  deleteByFilter(collection: string, filter: VectorFilter): Promise<void>;
  /** Releases what the store created (not connections it was given). Idempotent. */
  close?(): Promise<void>;
}

/** Rejects a filter missing its user or project at run time too (JS callers, `as` casts). */
export function assertScoped(filter: VectorFilter): void {
  if (!filter || typeof filter.user_id !== 'string' || !filter.user_id || typeof filter.project_id !== 'string' || !filter.project_id) {
    throw new Error('vector filter must name user_id and project_id');
  }
}
