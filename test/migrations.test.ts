import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestContext, type TestContext } from './helpers/context.js';
import { migrateDown, migrateUp } from '../db/migrate.js';
import { migrations } from '../db/migrations/index.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('migrations');
});
afterAll(() => ctx.cleanup());

const schemaOf = () => ctx.config.DATABASE_SCHEMA;

async function tables(): Promise<string[]> {
  const r = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = ${schemaOf()} ORDER BY table_name`.execute(ctx.deps.db);
  return r.rows.map((x) => x.table_name);
}

async function indexes(): Promise<string[]> {
  const r = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = ${schemaOf()}`.execute(ctx.deps.db);
  return r.rows.map((x) => x.indexname);
}

async function constraints(): Promise<Array<{ conname: string; contype: string; def: string }>> {
  const r = await sql<{ conname: string; contype: string; def: string }>`
    SELECT c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = ${schemaOf()}`.execute(ctx.deps.db);
  return r.rows;
}

describe('migrations', () => {
  it('create the six tables of the design and the execution tables', async () => {
    expect(await tables()).toEqual(
      expect.arrayContaining([
        'users', 'user_projects', 'user_agents', 'chat_sessions', 'task_plans', 'task_plan_tasks',
        'llm_calls', 'plan_events', 'chat_messages', 'agent_messages', 'kysely_migration',
      ]),
    );
  });

  it('create the named indexes', async () => {
    expect(await indexes()).toEqual(
      expect.arrayContaining([
        'ix_task_plans_user_id_project_id', 'ix_task_plans_session_id', 'ix_task_plans_status_created_at',
        'ix_task_plan_tasks_plan_id', 'ix_task_plan_tasks_agent_id', 'ix_task_plan_tasks_status',
      ]),
    );
  });

  it('guard every status column with exactly the contract statuses', async () => {
    const all = await constraints();
    const def = (name: string) => all.find((c) => c.conname === name)?.def ?? '';
    const statusesIn = (d: string) => [...d.matchAll(/'([a-z_]+)'::/g)].map((m) => m[1]).sort();
    expect(statusesIn(def('ck_task_plans_status'))).toEqual(
      ['cancelled', 'completed', 'created', 'executing', 'expired', 'failed', 'partial_success', 'pending_approval', 'planning', 'rejected'],
    );
    expect(statusesIn(def('ck_task_plan_tasks_status'))).toEqual(
      ['cancelled', 'completed', 'failed', 'pending', 'queued', 'running', 'skipped'],
    );
    expect(statusesIn(def('ck_user_agents_status'))).toEqual(['active', 'disabled']);
    expect(def('uq_user_agents_project_id_name')).toBe('UNIQUE (project_id, name)');
    expect(def('uq_task_plan_tasks_plan_id_task_id')).toBe('UNIQUE (plan_id, task_id)');
    expect(def('uq_users_subject')).toBe('UNIQUE (subject)');
  });

  it('cascade deletes from a project to its children', async () => {
    const fks = (await constraints()).filter((c) => c.contype === 'f').map((c) => c.def);
    expect(fks).toEqual(expect.arrayContaining([
      'FOREIGN KEY (project_id) REFERENCES user_projects(id) ON DELETE CASCADE',
      'FOREIGN KEY (plan_id) REFERENCES task_plans(id) ON DELETE CASCADE',
      'FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE',
    ]));
  });

  it('roll every migration down, then up again, idempotently', async () => {
    for (let i = 0; i < Object.keys(migrations).length; i++) await migrateDown(ctx.deps.db, schemaOf());
    expect((await tables()).filter((t) => t !== 'kysely_migration' && t !== 'kysely_migration_lock')).toEqual([]);
    await migrateUp(ctx.deps.db, schemaOf());
    const again = await migrateUp(ctx.deps.db, schemaOf());
    expect(again.results).toEqual([]);
    expect(await tables()).toContain('task_plan_tasks');
  });

  it('reject a status outside the contract', async () => {
    const user = await ctx.deps.db.insertInto('users').values({ subject: 'ck-user', email: null, username: null }).returning('id').executeTakeFirstOrThrow();
    await expect(
      sql`INSERT INTO user_projects (user_id, name) VALUES (${user.id}, 'p')`.execute(ctx.deps.db).then(() =>
        sql`UPDATE user_agents SET status = 'paused'`.execute(ctx.deps.db)),
    ).resolves.toBeDefined();
    await expect(
      sql`INSERT INTO user_agents (user_id, project_id, name, config, status)
          SELECT ${user.id}, id, 'a', '{}'::jsonb, 'paused' FROM user_projects LIMIT 1`.execute(ctx.deps.db),
    ).rejects.toThrow(/ck_user_agents_status/);
  });
});
