import type { Deps } from '../deps.js';
import type { PlanCache as PlannerPlanCache } from '../core/plan/plan-cache.js';
import { agentSetVersion } from './plan-cache.js';

/**
 * Where the plan cache meets the planner and the engine. Plans are looked up
 * before the planning call and stored only when a plan completed: a plan that
 * failed or half-succeeded is never served again. Scripted requests (a
 * ```plan block, for tests and demos) are neither served nor stored: the
 * script is the plan.
 */
const isScripted = (request: string) => /```plan\b/.test(request);

async function versionOf(deps: Deps, projectId: string): Promise<string> {
  const agents = await deps.db.selectFrom('user_agents').select(['name', 'config', 'status']).where('project_id', '=', projectId).execute();
  return agentSetVersion(agents);
}

/** The planner's view of the cache. */
export function plannerPlanCache(deps: Deps): PlannerPlanCache {
  return {
    async lookup(q) {
      if (isScripted(q.request)) return null;
      const hit = await deps.planCache.lookup({
        userId: q.userId,
        projectId: q.projectId,
        agentSetVersion: await versionOf(deps, q.projectId),
        request: q.request,
      });
      return hit ? { plan: { tasks: hit.plan.tasks } } : null;
    },
  };
}

/** Called by the finaliser when a plan completed: its structure is reusable. */
export async function cacheCompletedPlan(deps: Deps, planId: string): Promise<boolean> {
  const plan = await deps.db
    .selectFrom('task_plans')
    .select(['user_id', 'project_id', 'original_request', 'status'])
    .where('id', '=', planId)
    .executeTakeFirst();
  if (!plan || plan.status !== 'completed' || isScripted(plan.original_request)) return false;
  const tasks = await deps.db
    .selectFrom('task_plan_tasks')
    .select(['task_id', 'description', 'agent_name', 'dependencies'])
    .where('plan_id', '=', planId)
    .orderBy('level')
    .orderBy('task_id')
    .execute();
  await deps.planCache.store({
    userId: plan.user_id,
    projectId: plan.project_id,
    agentSetVersion: await versionOf(deps, plan.project_id),
    request: plan.original_request,
    plan: { tasks: tasks.map((t) => ({ id: t.task_id, description: t.description, agent: t.agent_name, dependencies: t.dependencies })) },
  });
  return true;
}
