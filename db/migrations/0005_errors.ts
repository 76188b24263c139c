import { sql, type Kysely } from 'kysely';

/**
 * Unexpected errors grouped by fingerprint (src/ops/error-tracker.ts): one
 * row per (fingerprint, source), upserted on every occurrence. The sample is
 * the latest occurrence, with credentials scrubbed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE errors (
      fingerprint text NOT NULL,
      source text NOT NULL,
      name text NOT NULL,
      count bigint NOT NULL DEFAULT 1,
      first_seen timestamptz NOT NULL DEFAULT now(),
      last_seen timestamptz NOT NULL DEFAULT now(),
      sample_message text NOT NULL,
      sample_stack text NOT NULL,
      PRIMARY KEY (fingerprint, source)
    )`.execute(db);
  await sql`CREATE INDEX ix_errors_last_seen ON errors (last_seen DESC)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS errors`.execute(db);
}
