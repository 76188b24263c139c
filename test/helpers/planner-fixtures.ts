import type { Kysely } from 'kysely';
import type { AgentConfig, Database } from '../../db/schema.js';
import { appendEvents } from '../../src/events/event-log.js';

/** Rows the planner tests need, inserted directly (the API is built elsewhere). */
export interface PlannerFixture {
  userId: string;
  projectId: string;
  sessionId: string;
  agentIds: Record<string, string>;
}

export const agentConfig = (over: Partial<AgentConfig> = {}): AgentConfig => ({
  role: 'Does the work',
  system_prompt: 'You are a careful specialist. Answer precisely.',
  provider: 'simulated',
  model: 'gpt-4o-mini',
  temperature: 0.2,
  max_output_tokens: 1000,
  tools: [],
  capabilities: [],
  ...over,
});

let counter = 0;

/** A user with one project, a session and the given agents (all active unless `status` says otherwise). */
export async function createFixture(
  db: Kysely<Database>,
  agents: Array<{ name: string; config?: Partial<AgentConfig>; status?: 'active' | 'disabled' }>,
  settings: Record<string, unknown> = {},
): Promise<PlannerFixture> {
  const user = await db
    .insertInto('users')
    .values({ subject: `planner-${process.pid}-${++counter}-${Date.now()}`, email: null, username: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const project = await db
    .insertInto('user_projects')
    .values({ user_id: user.id, name: 'p', settings: JSON.stringify(settings) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const session = await db
    .insertInto('chat_sessions')
    .values({ user_id: user.id, project_id: project.id, topic: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const agentIds: Record<string, string> = {};
  for (const a of agents) {
    const row = await db
      .insertInto('user_agents')
      .values({
        user_id: user.id,
        project_id: project.id,
        name: a.name,
        config: JSON.stringify(agentConfig(a.config)),
        status: a.status ?? 'active',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    agentIds[a.name] = row.id;
  }
  return { userId: user.id, projectId: project.id, sessionId: session.id, agentIds };
}

/** What `POST …/chat` does before enqueueing: a plan in `planning` with its `plan.planning` event. */
export async function createPlanningPlan(db: Kysely<Database>, f: PlannerFixture, request: string): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const plan = await trx
      .insertInto('task_plans')
      .values({
        user_id: f.userId,
        project_id: f.projectId,
        session_id: f.sessionId,
        original_request: request,
        status: 'planning',
        total_estimated_cost: null,
        total_estimated_duration: null,
        approval_reason: null,
        critical_path: '[]',
        summary: null,
        error: null,
        error_code: null,
        llm_provider: null,
        decided_by: null,
        decision_reason: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await appendEvents(trx, plan.id, [{ type: 'plan.planning' }]);
    return plan.id;
  });
}

/** A request carrying scripted plans for the simulated provider, one ```plan block per planning call. */
export function scripted(intro: string, ...plans: unknown[]): string {
  return [intro, ...plans.map((p) => '```plan\n' + JSON.stringify(p) + '\n```')].join('\n\n');
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 25));
  }
}
