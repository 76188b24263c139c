import { sql, type Kysely } from 'kysely';

/**
 * Indexes for the foreign-key actions that the API's DELETE routes trigger.
 * Without them, deleting one agent scans all of llm_calls (ON DELETE SET
 * NULL on agent_id: the existing index is partial on outcome = 'ok', which
 * the FK query cannot use), and deleting a project scans all of
 * chat_messages (project_id) and llm_calls (task_id, via its plans' tasks).
 * Measured with EXPLAIN ANALYZE on 72k llm_calls / 60k chat_messages:
 * DELETE agent 102 ms, DELETE project 311 ms, almost all in those triggers.
 * Partial on NOT NULL: the FK query's `= $1` implies it, and the many NULLs
 * (planning calls have no agent or task) stay out of the index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX ix_llm_calls_agent_id ON llm_calls (agent_id) WHERE agent_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX ix_llm_calls_task_id ON llm_calls (task_id) WHERE task_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX ix_chat_messages_project_id ON chat_messages (project_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS ix_chat_messages_project_id`.execute(db);
  await sql`DROP INDEX IF EXISTS ix_llm_calls_task_id`.execute(db);
  await sql`DROP INDEX IF EXISTS ix_llm_calls_agent_id`.execute(db);
}
