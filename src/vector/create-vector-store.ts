import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../../db/schema.js';
import type { VectorStore } from '../core/vector-store.js';
import { createPostgresVectorStore } from './postgres-vector-store.js';
import { createQdrantVectorStore } from './qdrant-vector-store.js';

/** Qdrant when QDRANT_URL is set, otherwise vectors are kept in PostgreSQL (runtime.md). */
export function createVectorStore(config: Pick<Config, 'QDRANT_URL' | 'QDRANT_API_KEY'>, db: Kysely<Database>): VectorStore {
  return config.QDRANT_URL
    ? createQdrantVectorStore({ url: config.QDRANT_URL, apiKey: config.QDRANT_API_KEY })
    : createPostgresVectorStore({ db });
}
