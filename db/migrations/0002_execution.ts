import { sql, type Kysely } from 'kysely';

/**
 * What the planner and the execution engine record: every LLM call, the
 * per-plan event log (also the audit trail), chat messages and agent messages.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE llm_calls (
      id bigserial PRIMARY KEY,
      user_id uuid REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid REFERENCES user_projects(id) ON DELETE CASCADE,
      plan_id uuid REFERENCES task_plans(id) ON DELETE SET NULL,
      task_id uuid REFERENCES task_plan_tasks(id) ON DELETE SET NULL,
      agent_id uuid REFERENCES user_agents(id) ON DELETE SET NULL,
      agent_name varchar(64),
      purpose varchar(16) NOT NULL,
      provider varchar(32) NOT NULL,
      model varchar(128) NOT NULL,
      input_tokens integer NOT NULL DEFAULT 0,
      output_tokens integer NOT NULL DEFAULT 0,
      cost double precision NOT NULL DEFAULT 0,
      estimated_cost double precision,
      latency_ms integer NOT NULL DEFAULT 0,
      ttft_ms integer,
      outcome varchar(16) NOT NULL,
      error text,
      attempt integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_llm_calls_purpose CHECK (purpose IN ('plan', 'task', 'synthesis', 'embedding', 'other')),
      CONSTRAINT ck_llm_calls_outcome CHECK (outcome IN ('ok', 'error', 'timeout', 'rate_limited', 'aborted'))
    )`.execute(db);
  await sql`CREATE INDEX ix_llm_calls_project_id_created_at ON llm_calls (project_id, created_at)`.execute(db);
  await sql`CREATE INDEX ix_llm_calls_agent_id_created_at ON llm_calls (agent_id, created_at DESC) WHERE outcome = 'ok'`.execute(db);
  await sql`CREATE INDEX ix_llm_calls_plan_id ON llm_calls (plan_id)`.execute(db);
  await sql`CREATE INDEX ix_llm_calls_provider_model_created_at ON llm_calls (provider, model, created_at DESC) WHERE outcome = 'ok'`.execute(db);

  await sql`
    CREATE TABLE plan_events (
      id bigserial PRIMARY KEY,
      plan_id uuid NOT NULL REFERENCES task_plans(id) ON DELETE CASCADE,
      session_id uuid NOT NULL,
      seq integer NOT NULL,
      type varchar(32) NOT NULL,
      task_id varchar(64),
      payload jsonb NOT NULL DEFAULT '{}'::jsonb,
      at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT uq_plan_events_plan_id_seq UNIQUE (plan_id, seq)
    )`.execute(db);
  await sql`CREATE INDEX ix_plan_events_session_id_id ON plan_events (session_id, id)`.execute(db);

  await sql`
    CREATE TABLE chat_messages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      session_id uuid NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid NOT NULL REFERENCES user_projects(id) ON DELETE CASCADE,
      role varchar(16) NOT NULL,
      content text NOT NULL,
      plan_id uuid REFERENCES task_plans(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_chat_messages_role CHECK (role IN ('user', 'assistant'))
    )`.execute(db);
  await sql`CREATE INDEX ix_chat_messages_session_id_created_at ON chat_messages (session_id, created_at, id)`.execute(db);
  await sql`CREATE UNIQUE INDEX uq_chat_messages_plan_id_role ON chat_messages (plan_id, role) WHERE plan_id IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE agent_messages (
      id bigserial PRIMARY KEY,
      plan_id uuid NOT NULL REFERENCES task_plans(id) ON DELETE CASCADE,
      from_task_id varchar(64) NOT NULL,
      from_agent varchar(64) NOT NULL,
      to_agent varchar(64) NOT NULL,
      text text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX ix_agent_messages_plan_id_to_agent ON agent_messages (plan_id, to_agent)`.execute(db);

  await sql`
    CREATE TABLE project_memory (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid NOT NULL REFERENCES user_projects(id) ON DELETE CASCADE,
      kind varchar(32) NOT NULL DEFAULT 'note',
      content text NOT NULL,
      source varchar(128),
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX ix_project_memory_project_id_created_at ON project_memory (project_id, created_at DESC)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['project_memory', 'agent_messages', 'chat_messages', 'plan_events', 'llm_calls']) {
    await sql`DROP TABLE IF EXISTS ${sql.raw(t)} CASCADE`.execute(db);
  }
}
