import { createHash } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import {
  assertScoped,
  type VectorFilter,
  type VectorHit,
  type VectorPayload,
  type VectorSearchOptions,
  type VectorStore,
} from '../core/vector-store.js';

export interface QdrantVectorStoreOptions {
  url: string;
  apiKey?: string;
  /** Request timeout in ms. */
  timeoutMs?: number;
  /** Skip the client's version probe (tests, proxies that hide `/`). */
  checkCompatibility?: boolean;
}

/** Payload fields that every search and delete filters on, indexed as keywords. */
export const QDRANT_INDEXED_FIELDS = ['user_id', 'project_id', 'kind'] as const;

/** Qdrant ids are integers or UUIDs: a caller's string id maps to a stable UUID; the original rides in the payload. */
export function qdrantPointId(id: string): string {
  const h = createHash('sha256').update(id).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function toQdrantFilter(filter: VectorFilter) {
  assertScoped(filter);
  const must = [
    { key: 'user_id', match: { value: filter.user_id } },
    { key: 'project_id', match: { value: filter.project_id } },
  ];
  if (filter.kind !== undefined) must.push({ key: 'kind', match: { value: filter.kind } });
  return { must };
}

/**
 * Vectors in Qdrant (QDRANT_URL). Collections use Cosine distance and keyword
 * payload indexes on user_id, project_id and kind; every search and delete is
 * filtered by user and project (`must` conditions).
 */
export function createQdrantVectorStore(opts: QdrantVectorStoreOptions): VectorStore {
  const client = new QdrantClient({
    url: opts.url,
    apiKey: opts.apiKey,
    timeout: opts.timeoutMs ?? 30_000,
    checkCompatibility: opts.checkCompatibility ?? true,
  });
  const ready = new Set<string>();

  return {
    async ensureCollection(name, dims) {
      if (ready.has(name)) return;
      const { exists } = await client.collectionExists(name);
      if (!exists) {
        try {
          await client.createCollection(name, { vectors: { size: dims, distance: 'Cosine' } });
        } catch (err) {
          // Another process created it between our check and create: fine if it now exists.
          if (!(await client.collectionExists(name)).exists) throw err;
        }
      }
      const info = await client.getCollection(name);
      const vectors = info.config.params.vectors as { size?: number } | undefined;
      if (vectors?.size !== undefined && vectors.size !== dims) {
        throw new Error(`qdrant collection ${name} has ${vectors.size} dimensions, not ${dims}`);
      }
      const indexed = info.payload_schema ?? {};
      for (const field of QDRANT_INDEXED_FIELDS) {
        if (!(field in indexed)) await client.createPayloadIndex(name, { field_name: field, field_schema: 'keyword', wait: true });
      }
      ready.add(name);
    },

    async upsert(collection, points) {
      if (points.length === 0) return;
      for (const p of points) assertScoped(p.payload);
      await client.upsert(collection, {
        wait: true,
        points: points.map((p) => ({ id: qdrantPointId(p.id), vector: p.vector, payload: { ...p.payload, _id: p.id } })),
      });
    },

    async search(collection, vector, { filter, limit, minScore }: VectorSearchOptions): Promise<VectorHit[]> {
      if (limit <= 0) return [];
      const res = await client.query(collection, {
        query: vector,
        filter: toQdrantFilter(filter),
        limit,
        score_threshold: minScore,
        with_payload: true,
      });
      return res.points.map((p) => {
        const { _id, ...payload } = (p.payload ?? {}) as VectorPayload & { _id?: string };
        return { id: _id ?? String(p.id), score: p.score, payload: payload as VectorPayload };
      });
    },

    async deleteByFilter(collection, filter) {
      await client.delete(collection, { wait: true, filter: toQdrantFilter(filter) });
    },
  };
}
