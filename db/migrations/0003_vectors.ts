import { sql, type Kysely } from 'kysely';

/**
 * Vectors kept in PostgreSQL when no Qdrant is configured (pgvector is not
 * assumed). Each row holds the exact embedding (real[], stored out of line so a
 * scan of the table does not read it) and a 256-bit sign sketch of a random
 * rotation of it; search ranks by the sketch's Hamming distance with the
 * built-in bit_count, then rescores the best candidates exactly.
 * `bench/vector-search.ts` measured the alternatives; see docs/plan-cache.md.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE vector_collections (
      name varchar(64) PRIMARY KEY,
      dims integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_vector_collections_dims CHECK (dims > 0 AND dims <= 16000)
    )`.execute(db);
  await sql`
    CREATE TABLE vectors (
      collection varchar(64) NOT NULL REFERENCES vector_collections(name) ON DELETE CASCADE,
      id varchar(200) NOT NULL,
      user_id varchar(64) NOT NULL,
      project_id varchar(64) NOT NULL,
      kind varchar(32) NOT NULL,
      payload jsonb NOT NULL DEFAULT '{}'::jsonb,
      dims integer NOT NULL,
      sketch bit(256) NOT NULL,
      embedding real[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_vectors PRIMARY KEY (collection, id),
      CONSTRAINT ck_vectors_dims CHECK (array_length(embedding, 1) = dims)
    )`.execute(db);
  await sql`CREATE INDEX ix_vectors_collection_user_id_project_id_kind ON vectors (collection, user_id, project_id, kind)`.execute(db);
  // Out of line and uncompressed: the sketch scan never touches it, the rescoring reads it whole.
  await sql`ALTER TABLE vectors ALTER COLUMN embedding SET STORAGE EXTERNAL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS vectors CASCADE`.execute(db);
  await sql`DROP TABLE IF EXISTS vector_collections CASCADE`.execute(db);
}
