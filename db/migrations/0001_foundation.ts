import { sql, type Kysely } from 'kysely';

/**
 * The six tables of the design, with the columns the HTTP contract adds.
 * Money is USD and durations are seconds, both double precision: estimates
 * are approximate by nature and JSON numbers are what the API returns.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pgcrypto`.execute(db).catch(() => undefined);
  await sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      subject varchar(255) NOT NULL,
      email varchar(320),
      username varchar(255),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT uq_users_subject UNIQUE (subject)
    )`.execute(db);

  await sql`
    CREATE TABLE user_projects (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      name varchar(200) NOT NULL,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX ix_user_projects_user_id_created_at ON user_projects (user_id, created_at DESC, id DESC)`.execute(db);

  await sql`
    CREATE TABLE user_agents (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid NOT NULL REFERENCES user_projects(id) ON DELETE CASCADE,
      name varchar(64) NOT NULL,
      config jsonb NOT NULL,
      status varchar(16) NOT NULL DEFAULT 'active',
      starter_pack boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_user_agents_status CHECK (status IN ('active', 'disabled')),
      CONSTRAINT uq_user_agents_project_id_name UNIQUE (project_id, name)
    )`.execute(db);
  await sql`CREATE INDEX ix_user_agents_user_id ON user_agents (user_id)`.execute(db);

  await sql`
    CREATE TABLE chat_sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid NOT NULL REFERENCES user_projects(id) ON DELETE CASCADE,
      topic varchar(500),
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX ix_chat_sessions_project_id_created_at ON chat_sessions (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX ix_chat_sessions_user_id ON chat_sessions (user_id)`.execute(db);

  await sql`
    CREATE TABLE task_plans (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      project_id uuid NOT NULL REFERENCES user_projects(id) ON DELETE CASCADE,
      session_id uuid NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
      original_request text NOT NULL,
      status varchar(24) NOT NULL DEFAULT 'planning',
      total_estimated_cost double precision,
      total_estimated_duration double precision,
      total_actual_cost double precision NOT NULL DEFAULT 0,
      requires_approval boolean NOT NULL DEFAULT false,
      approval_reason text,
      approval_expires_at timestamptz,
      cache_hit boolean NOT NULL DEFAULT false,
      critical_path jsonb NOT NULL DEFAULT '[]'::jsonb,
      summary text,
      error text,
      error_code varchar(64),
      llm_provider varchar(32),
      event_seq integer NOT NULL DEFAULT 0,
      decided_by uuid REFERENCES users(id) ON DELETE SET NULL,
      decided_at timestamptz,
      decision_reason text,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      completed_at timestamptz,
      CONSTRAINT ck_task_plans_status CHECK (status IN (
        'planning', 'created', 'pending_approval', 'executing', 'completed', 'failed',
        'partial_success', 'rejected', 'expired', 'cancelled'))
    )`.execute(db);
  await sql`CREATE INDEX ix_task_plans_user_id_project_id ON task_plans (user_id, project_id)`.execute(db);
  await sql`CREATE INDEX ix_task_plans_session_id ON task_plans (session_id)`.execute(db);
  await sql`CREATE INDEX ix_task_plans_status_created_at ON task_plans (status, created_at)`.execute(db);
  await sql`CREATE INDEX ix_task_plans_project_id_created_at ON task_plans (project_id, created_at DESC, id DESC)`.execute(db);

  await sql`
    CREATE TABLE task_plan_tasks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      plan_id uuid NOT NULL REFERENCES task_plans(id) ON DELETE CASCADE,
      task_id varchar(64) NOT NULL,
      description text NOT NULL,
      agent_id uuid REFERENCES user_agents(id) ON DELETE SET NULL,
      agent_name varchar(64) NOT NULL,
      dependencies jsonb NOT NULL DEFAULT '[]'::jsonb,
      estimated_cost double precision NOT NULL DEFAULT 0,
      estimated_duration double precision NOT NULL DEFAULT 0,
      estimated_input_tokens integer NOT NULL DEFAULT 0,
      estimated_output_tokens integer NOT NULL DEFAULT 0,
      actual_cost double precision,
      input_tokens integer NOT NULL DEFAULT 0,
      output_tokens integer NOT NULL DEFAULT 0,
      risk_level varchar(8) NOT NULL DEFAULT 'low',
      status varchar(16) NOT NULL DEFAULT 'pending',
      result jsonb,
      error text,
      attempts integer NOT NULL DEFAULT 0,
      level integer NOT NULL DEFAULT 0,
      sim jsonb,
      lease_token varchar(64),
      lease_until timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      queued_at timestamptz,
      started_at timestamptz,
      completed_at timestamptz,
      CONSTRAINT ck_task_plan_tasks_status CHECK (status IN (
        'pending', 'queued', 'running', 'completed', 'failed', 'skipped', 'cancelled')),
      CONSTRAINT ck_task_plan_tasks_risk_level CHECK (risk_level IN ('low', 'medium', 'high')),
      CONSTRAINT uq_task_plan_tasks_plan_id_task_id UNIQUE (plan_id, task_id)
    )`.execute(db);
  await sql`CREATE INDEX ix_task_plan_tasks_plan_id ON task_plan_tasks (plan_id)`.execute(db);
  await sql`CREATE INDEX ix_task_plan_tasks_agent_id ON task_plan_tasks (agent_id)`.execute(db);
  await sql`CREATE INDEX ix_task_plan_tasks_status ON task_plan_tasks (status)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['task_plan_tasks', 'task_plans', 'chat_sessions', 'user_agents', 'user_projects', 'users']) {
    await sql`DROP TABLE IF EXISTS ${sql.raw(t)} CASCADE`.execute(db);
  }
}
