import { sql, type Kysely } from 'kysely';

/**
 * Indexes of the per-user limits (src/limits):
 * - the daily budget sums a user's llm_calls since midnight UTC: without an
 *   index on user_id it scans every call of every user (EXPLAIN: Seq Scan on
 *   llm_calls); with (user_id, created_at) INCLUDE (cost) it is an index-only
 *   range scan of that user's calls of the day;
 * - the executing-plans cap counts a user's plans in planning/created/
 *   executing: a partial index holds only those, so the count does not read
 *   the user's whole history of finished plans.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX ix_llm_calls_user_id_created_at ON llm_calls (user_id, created_at) INCLUDE (cost)`.execute(db);
  await sql`
    CREATE INDEX ix_task_plans_user_id_active ON task_plans (user_id)
    WHERE status IN ('planning', 'created', 'executing')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS ix_task_plans_user_id_active`.execute(db);
  await sql`DROP INDEX IF EXISTS ix_llm_calls_user_id_created_at`.execute(db);
}
