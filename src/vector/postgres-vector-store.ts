import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import {
  assertScoped,
  type VectorFilter,
  type VectorHit,
  type VectorPayload,
  type VectorPoint,
  type VectorSearchOptions,
  type VectorStore,
} from '../core/vector-store.js';
import { SKETCH_BITS, sketchBits } from './sketch.js';

export interface PostgresVectorStoreOptions {
  db: Kysely<Database>;
  /**
   * How many sketch-ranked candidates are rescored exactly (at least
   * `limit` × 4). 400 gave recall@10 ≥ 0.99 at 100,000 vectors in
   * bench/vector-search.ts; 0 means exact search (every row rescored).
   */
  candidates?: number;
  /**
   * Where candidates are rescored: `client` reads them with array_send (binary
   * float4, no text parsing) and computes the dot products here; `sql` does it
   * with unnest in PostgreSQL. See bench/vector-search.ts for the measurement.
   */
  rescore?: 'client' | 'sql';
}

/** Reads array_send's binary form of a one-dimensional real[] (no NULLs). */
function dotWithArraySend(buf: Buffer, q: number[]): number {
  // Header: ndim, has-null flag, element oid, then (length, lower bound) of the one dimension.
  const n = buf.readInt32BE(12);
  let off = 20;
  let dot = 0;
  for (let i = 0; i < n; i++) {
    dot += buf.readFloatBE(off + 4) * q[i]!;
    off += 8;
  }
  return dot;
}

const UPSERT_BATCH = 500;

/**
 * Vectors in PostgreSQL without pgvector: a sketch prefilter with exact
 * cosine rescoring in SQL (vectors are normalised, so cosine is a dot product;
 * non-normalised input is normalised on the way in and out).
 */
export function createPostgresVectorStore(opts: PostgresVectorStoreOptions): VectorStore {
  const { db } = opts;
  const candidates = opts.candidates ?? 400;
  const rescore = opts.rescore ?? 'sql';
  const dimsOf = new Map<string, number>();

  async function dims(collection: string): Promise<number> {
    let d = dimsOf.get(collection);
    if (d === undefined) {
      const row = await db.selectFrom('vector_collections').select('dims').where('name', '=', collection).executeTakeFirst();
      if (!row) throw new Error(`vector collection ${collection} does not exist: call ensureCollection first`);
      d = row.dims;
      dimsOf.set(collection, d);
    }
    return d;
  }

  function unit(vector: number[], expected: number, collection: string): number[] {
    if (vector.length !== expected) throw new Error(`vector of ${vector.length} dimensions for collection ${collection} of ${expected}`);
    let s = 0;
    for (const x of vector) {
      if (!Number.isFinite(x)) throw new Error('vector has a non-finite component');
      s += x * x;
    }
    if (s === 0) return vector;
    const inv = 1 / Math.sqrt(s);
    return vector.map((x) => x * inv);
  }

  return {
    async ensureCollection(name, d) {
      await db.insertInto('vector_collections').values({ name, dims: d }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const existing = await dims(name).catch(() => undefined);
      if (existing === undefined) {
        dimsOf.delete(name);
        throw new Error(`vector collection ${name} could not be created`);
      }
      if (existing !== d) throw new Error(`vector collection ${name} has ${existing} dimensions, not ${d}`);
    },

    async upsert(collection, points: VectorPoint[]) {
      if (points.length === 0) return;
      const d = await dims(collection);
      for (let i = 0; i < points.length; i += UPSERT_BATCH) {
        const rows = points.slice(i, i + UPSERT_BATCH).map((p) => {
          assertScoped(p.payload);
          const v = unit(p.vector, d, collection);
          return {
            collection,
            id: p.id,
            user_id: p.payload.user_id,
            project_id: p.payload.project_id,
            kind: p.payload.kind,
            payload: JSON.stringify(p.payload),
            dims: d,
            sketch: sketchBits(v),
            embedding: v,
          };
        });
        await db
          .insertInto('vectors')
          .values(rows)
          .onConflict((oc) =>
            oc.columns(['collection', 'id']).doUpdateSet((eb) => ({
              user_id: eb.ref('excluded.user_id'),
              project_id: eb.ref('excluded.project_id'),
              kind: eb.ref('excluded.kind'),
              payload: eb.ref('excluded.payload'),
              sketch: eb.ref('excluded.sketch'),
              embedding: eb.ref('excluded.embedding'),
              created_at: sql`now()`,
            })),
          )
          .execute();
      }
    },

    async search(collection, vector, { filter, limit, minScore }: VectorSearchOptions): Promise<VectorHit[]> {
      assertScoped(filter);
      if (limit <= 0) return [];
      const d = await dims(collection);
      const q = unit(vector, d, collection);
      const scope = sql`collection = ${collection} AND user_id = ${filter.user_id} AND project_id = ${filter.project_id}${
        filter.kind === undefined ? sql`` : sql` AND kind = ${filter.kind}`
      }`;
      const score = sql`(SELECT sum(a * b)::float8 FROM unnest(c.embedding, ${q}::real[]) AS t(a, b))`;
      const floor = minScore === undefined ? sql`` : sql`WHERE score >= ${minScore}`;
      const n = candidates === 0 ? 0 : Math.max(candidates, limit * 4);
      // Stage one in a materialised CTE: the candidates' embeddings travel as TOAST pointers
      // and are read only for the rows rescored. Without the fence the planner may push the
      // score filter into a scan and compute it for every row of the collection.
      const stage1 =
        n === 0
          ? sql`SELECT id, payload, embedding FROM vectors WHERE ${scope}`
          : sql`SELECT id, payload, embedding FROM vectors WHERE ${scope}
                ORDER BY bit_count(sketch # ${sketchBits(q)}::bit(${sql.lit(SKETCH_BITS)})) LIMIT ${n}`;
      if (n > 0 && rescore === 'client') {
        const rows = await sql<{ id: string; payload: VectorPayload; emb: Buffer }>`
          WITH c AS MATERIALIZED (${stage1}) SELECT id, payload, array_send(embedding) AS emb FROM c`.execute(db);
        return rows.rows
          .map((r) => ({ id: r.id, score: dotWithArraySend(r.emb, q), payload: r.payload }))
          .filter((h) => minScore === undefined || h.score >= minScore)
          .sort((a, b) => b.score - a.score)
          .slice(0, limit);
      }
      const result = await sql<{ id: string; score: number; payload: VectorPayload }>`
        WITH c AS MATERIALIZED (${stage1}),
        s AS MATERIALIZED (SELECT c.id, c.payload, ${score} AS score FROM c)
        SELECT id, score, payload FROM s ${floor} ORDER BY score DESC LIMIT ${limit}`.execute(db);
      return result.rows.map((r) => ({ id: r.id, score: Number(r.score), payload: r.payload }));
    },

    async deleteByFilter(collection, filter: VectorFilter) {
      assertScoped(filter);
      let q = db
        .deleteFrom('vectors')
        .where('collection', '=', collection)
        .where('user_id', '=', filter.user_id)
        .where('project_id', '=', filter.project_id);
      if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
      await q.execute();
    },
  };
}
