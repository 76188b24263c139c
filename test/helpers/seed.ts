import { sql, type Kysely } from 'kysely';
import type { Database, SimOptions } from '../../db/schema.js';
import { starterPack } from '../../src/agents/starter-pack.js';

/** Rows a test needs, inserted directly (the API has its own tests). */
export async function seedUser(db: Kysely<Database>, subject: string): Promise<string> {
  const r = await db.insertInto('users').values({ subject, email: null, username: subject }).returning('id').executeTakeFirstOrThrow();
  return r.id;
}

export async function seedProject(
  db: Kysely<Database>,
  userId: string,
  settings: Record<string, unknown> = {},
): Promise<{ projectId: string; agents: Map<string, string> }> {
  const p = await db
    .insertInto('user_projects')
    .values({ user_id: userId, name: 'test project', settings: JSON.stringify(settings) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const agents = new Map<string, string>();
  for (const a of starterPack('simulated')) {
    const row = await db
      .insertInto('user_agents')
      .values({ user_id: userId, project_id: p.id, name: a.name, config: JSON.stringify(a.config), status: 'active', starter_pack: true })
      .returning('id')
      .executeTakeFirstOrThrow();
    agents.set(a.name, row.id);
  }
  return { projectId: p.id, agents };
}

export interface SeedTask {
  id: string;
  description?: string;
  deps?: string[];
  agent?: string;
  sim?: SimOptions;
}

/** A plan in status `created`, as the planner leaves it. */
export async function seedPlan(
  db: Kysely<Database>,
  owner: { userId: string; projectId: string; agents: Map<string, string> },
  tasks: SeedTask[],
  opts: { requiresApproval?: boolean; request?: string } = {},
): Promise<string> {
  const session = await db
    .insertInto('chat_sessions')
    .values({ user_id: owner.userId, project_id: owner.projectId, topic: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const plan = await db
    .insertInto('task_plans')
    .values({
      user_id: owner.userId,
      project_id: owner.projectId,
      session_id: session.id,
      original_request: opts.request ?? 'test request',
      status: 'created',
      critical_path: JSON.stringify([]),
      requires_approval: opts.requiresApproval ?? false,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (tasks.length) {
    await db
      .insertInto('task_plan_tasks')
      .values(
        tasks.map((t) => {
          const agent = t.agent ?? 'researcher';
          return {
            plan_id: plan.id,
            task_id: t.id,
            description: t.description ?? `do ${t.id}`,
            agent_id: owner.agents.get(agent) ?? null,
            agent_name: agent,
            dependencies: JSON.stringify(t.deps ?? []),
            estimated_cost: 0,
            estimated_duration: 0,
            estimated_input_tokens: 0,
            estimated_output_tokens: 0,
            risk_level: 'low' as const,
            status: 'pending' as const,
            level: 0,
            sim: t.sim ? JSON.stringify(t.sim) : null,
          };
        }),
      )
      .execute();
  }
  return plan.id;
}

const TERMINAL = ['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled'];

/** Polls the plan's status until it is terminal (or `until` matches), with a deadline. */
export async function waitForPlan(
  db: Kysely<Database>,
  planId: string,
  opts: { timeoutMs?: number; until?: (status: string) => boolean } = {},
): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const done = opts.until ?? ((s: string) => TERMINAL.includes(s));
  for (;;) {
    const r = await db.selectFrom('task_plans').select('status').where('id', '=', planId).executeTakeFirstOrThrow();
    if (done(r.status)) return r.status;
    if (Date.now() > deadline) throw new Error(`plan ${planId} still ${r.status} after ${opts.timeoutMs ?? 30_000} ms`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Polls until `check` returns a truthy value, with a deadline. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

export async function taskRows(db: Kysely<Database>, planId: string) {
  return db.selectFrom('task_plan_tasks').selectAll().where('plan_id', '=', planId).orderBy('task_id').execute();
}

export async function eventRows(db: Kysely<Database>, planId: string) {
  return db.selectFrom('plan_events').selectAll().where('plan_id', '=', planId).orderBy('seq').execute();
}

export { sql };
