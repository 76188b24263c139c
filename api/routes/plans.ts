import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { Deps } from '../../src/deps.js';
import type { Database, Plan, PlanStatus } from '../../db/schema.js';
import { conflict, notFound } from '../../src/core/errors.js';
import { createPlanControl, type PlanControl } from '../../src/engine/plan-control.js';
import type { AppEnv } from '../context.js';
import { afterCursor, cursorAt, decodeCursor, pageOf, pageQuerySchema, toPage } from '../pagination.js';
import {
  bearerAuth, bodyErrors, commonErrors, conflictError, createRouter, jsonBody, jsonResponse, projectParams,
} from '../router.js';

const PLAN_STATUSES = [
  'planning', 'created', 'pending_approval', 'executing', 'completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled',
] as const satisfies readonly PlanStatus[];
const TASK_STATUSES = ['pending', 'queued', 'running', 'completed', 'failed', 'skipped', 'cancelled'] as const;

const id = z.uuid();
const time = z.iso.datetime();

export const taskSchema = z
  .object({
    id,
    task_id: z.string(),
    description: z.string(),
    agent_id: id.nullable(),
    agent_name: z.string(),
    dependencies: z.array(z.string()),
    estimated_cost: z.number(),
    estimated_duration: z.number(),
    actual_cost: z.number().nullable(),
    risk_level: z.enum(['low', 'medium', 'high']),
    status: z.enum(TASK_STATUSES),
    result: z.string().nullable().openapi({ description: "The agent's answer (text) once the task completed." }),
    error: z.string().nullable(),
    attempts: z.number().int(),
    created_at: time,
    started_at: time.nullable(),
    completed_at: time.nullable(),
    llm_provider: z.string().nullable().openapi({ description: "Extension: the provider of the task's agent (`simulated` when simulated)." }),
  })
  .openapi('Task');

export const planSchema = z
  .object({
    id,
    project_id: id,
    session_id: id,
    original_request: z.string(),
    status: z.enum(PLAN_STATUSES),
    total_estimated_cost: z.number().nullable(),
    total_estimated_duration: z.number().nullable(),
    total_actual_cost: z.number(),
    requires_approval: z.boolean(),
    approval_reason: z.string().nullable(),
    approval_expires_at: time.nullable(),
    cache_hit: z.boolean(),
    critical_path: z.array(z.string()),
    summary: z.string().nullable(),
    error: z.string().nullable(),
    created_at: time,
    started_at: time.nullable(),
    completed_at: time.nullable(),
    tasks: z.array(taskSchema),
    llm_provider: z.string().nullable().openapi({
      description: 'Extension: the provider that planned (`simulated` when simulated; the deployment default while planning; null for a cached plan).',
    }),
    decided_by: id.nullable().openapi({ description: 'Extension: the user who approved or rejected the plan.' }),
    decided_at: time.nullable().openapi({ description: 'Extension: when the plan was approved or rejected.' }),
    decision_reason: z.string().nullable().openapi({ description: 'Extension: the reason given with a rejection.' }),
    events_url: z.string().openapi({ description: "Extension: the plan's event stream." }),
  })
  .openapi('Plan');

type PlanJson = z.infer<typeof planSchema>;
type TaskJson = z.infer<typeof taskSchema>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const PLAN_COLUMNS = [
  'id', 'project_id', 'session_id', 'original_request', 'status', 'total_estimated_cost', 'total_estimated_duration',
  'total_actual_cost', 'requires_approval', 'approval_reason', 'approval_expires_at', 'cache_hit', 'critical_path', 'summary',
  'error', 'llm_provider', 'decided_by', 'decided_at', 'decision_reason', 'created_at', 'started_at', 'completed_at',
] as const;
type PlanRow = Pick<Plan, (typeof PLAN_COLUMNS)[number]>;

function planJson(p: PlanRow, tasks: TaskJson[], defaultProvider: string): PlanJson {
  return {
    id: p.id,
    project_id: p.project_id,
    session_id: p.session_id,
    original_request: p.original_request,
    status: p.status,
    total_estimated_cost: p.total_estimated_cost,
    total_estimated_duration: p.total_estimated_duration,
    total_actual_cost: p.total_actual_cost,
    requires_approval: p.requires_approval,
    approval_reason: p.approval_reason,
    approval_expires_at: iso(p.approval_expires_at),
    cache_hit: p.cache_hit,
    critical_path: p.critical_path,
    summary: p.summary,
    error: p.error,
    created_at: p.created_at.toISOString(),
    started_at: iso(p.started_at),
    completed_at: iso(p.completed_at),
    tasks,
    llm_provider: p.llm_provider ?? (p.status === 'planning' ? defaultProvider : null),
    decided_by: p.decided_by,
    decided_at: iso(p.decided_at),
    decision_reason: p.decision_reason,
    events_url: `/v1/projects/${p.project_id}/plans/${p.id}/events`,
  };
}

/** The tasks of the given plans, grouped by plan, in execution order (level, then id). */
async function loadTasksOf(db: Kysely<Database>, planIds: string[]): Promise<Map<string, TaskJson[]>> {
  const byPlan = new Map<string, TaskJson[]>(planIds.map((pid) => [pid, []]));
  if (planIds.length === 0) return byPlan;
  const rows = await db
    .selectFrom('task_plan_tasks as t')
    .leftJoin('user_agents as a', 'a.id', 't.agent_id')
    .select([
      't.id', 't.plan_id', 't.task_id', 't.description', 't.agent_id', 't.agent_name', 't.dependencies', 't.estimated_cost',
      't.estimated_duration', 't.actual_cost', 't.risk_level', 't.status', 't.result', 't.error', 't.attempts', 't.created_at',
      't.started_at', 't.completed_at', 'a.config',
    ])
    .where('t.plan_id', 'in', planIds)
    .orderBy('t.plan_id')
    .orderBy('t.level')
    .orderBy('t.task_id')
    .execute();
  for (const t of rows) {
    const text = (t.result as { text?: unknown } | null)?.text;
    byPlan.get(t.plan_id)?.push({
      id: t.id,
      task_id: t.task_id,
      description: t.description,
      agent_id: t.agent_id,
      agent_name: t.agent_name,
      dependencies: t.dependencies,
      estimated_cost: t.estimated_cost,
      estimated_duration: t.estimated_duration,
      actual_cost: t.actual_cost,
      risk_level: t.risk_level,
      status: t.status,
      result: typeof text === 'string' ? text : null,
      error: t.error,
      attempts: t.attempts,
      created_at: t.created_at.toISOString(),
      started_at: iso(t.started_at),
      completed_at: iso(t.completed_at),
      llm_provider: (t.config as { provider?: string } | null)?.provider ?? null,
    });
  }
  return byPlan;
}

/** One plan of the caller's project, with its tasks; 404 when it is not theirs. */
export async function loadPlanResource(deps: Deps, scope: { userId: string; projectId: string }, planId: string): Promise<PlanJson> {
  const plan = await deps.db
    .selectFrom('task_plans')
    .select(PLAN_COLUMNS)
    .where('id', '=', planId)
    .where('project_id', '=', scope.projectId)
    .where('user_id', '=', scope.userId)
    .executeTakeFirst();
  if (!plan) throw notFound('plan');
  const tasks = await loadTasksOf(deps.db, [plan.id]);
  return planJson(plan, tasks.get(plan.id) ?? [], deps.config.LLM_PROVIDER);
}

const planParams = projectParams.extend({ planId: z.uuid().openapi({ param: { name: 'planId', in: 'path' } }) });
const listQuery = pageQuerySchema.extend({
  status: z.enum(PLAN_STATUSES).optional().openapi({ description: 'Only plans in this status.' }),
  session_id: z.uuid().optional().openapi({ description: 'Only plans of this session.' }),
});
const rejectBody = z.strictObject({ reason: z.string().trim().min(1).max(2000).optional() }).openapi('RejectPlan');

const tags = ['plans'];

/**
 * Plans of a project: list, read, and the user's decisions (approve, reject,
 * cancel). Decisions are compare-and-set transitions in plan control; a plan
 * not in the right state is a 409 that names its current status.
 */
export function planRoutes(deps: Deps, control: PlanControl = createPlanControl(deps)) {
  const { db } = deps;
  const router = createRouter();
  const scopeOf = (c: Context<AppEnv>) => ({
    userId: c.get('user').id,
    projectId: c.get('project').id,
  });

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/plans', tags, security: bearerAuth,
      summary: "List the project's plans (with their tasks), newest first",
      request: { params: projectParams, query: listQuery },
      responses: { 200: jsonResponse(pageOf(planSchema), 'A page of plans'), ...commonErrors },
    }),
    async (c) => {
      const { limit, cursor: raw, status, session_id } = c.req.valid('query');
      const cursor = decodeCursor(raw);
      const scope = scopeOf(c);
      let q = db
        .selectFrom('task_plans')
        .select([...PLAN_COLUMNS, cursorAt().as('cursor_at')])
        .where('project_id', '=', scope.projectId)
        .where('user_id', '=', scope.userId);
      if (status) q = q.where('status', '=', status);
      if (session_id) q = q.where('session_id', '=', session_id);
      if (cursor) q = q.where(afterCursor(cursor, 'before'));
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      const tasks = await loadTasksOf(db, rows.slice(0, limit).map((r) => r.id));
      return c.json(toPage(rows, limit, (p) => planJson(p, tasks.get(p.id) ?? [], deps.config.LLM_PROVIDER)), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/plans/{planId}', tags, security: bearerAuth,
      summary: 'A plan with its tasks',
      request: { params: planParams },
      responses: { 200: jsonResponse(planSchema, 'The plan'), ...commonErrors },
    }),
    async (c) => c.json(await loadPlanResource(deps, scopeOf(c), c.req.valid('param').planId), 200),
  );

  /** Status of a plan of the caller's; 404 when it is not theirs (checked before any decision is tried). */
  const statusOf = async (scope: { userId: string; projectId: string }, planId: string): Promise<PlanStatus> => {
    const row = await db
      .selectFrom('task_plans')
      .select('status')
      .where('id', '=', planId)
      .where('project_id', '=', scope.projectId)
      .where('user_id', '=', scope.userId)
      .executeTakeFirst();
    if (!row) throw notFound('plan');
    return row.status;
  };

  /** Runs a decision on a plan of the caller's; 409 naming the current status when it does not apply. */
  const decide = async (
    c: Context<AppEnv>,
    planId: string,
    action: 'approve' | 'reject' | 'cancel',
    run: (userId: string) => Promise<boolean>,
  ): Promise<PlanJson> => {
    const scope = scopeOf(c);
    await statusOf(scope, planId);
    if (!(await run(scope.userId))) {
      const status = await statusOf(scope, planId);
      throw conflict(`cannot ${action} a plan that is ${status}`, { status });
    }
    c.get('logger').info({ plan_id: planId, action }, 'plan decision');
    return loadPlanResource(deps, scope, planId);
  };

  const decisionRoute = <B extends object>(action: 'approve' | 'reject' | 'cancel', summary: string, description: string, body: B) =>
    createRoute({
      method: 'post', path: `/v1/projects/{projectId}/plans/{planId}/${action}`, tags, security: bearerAuth,
      summary, description,
      request: { params: planParams, ...body },
      responses: { 200: jsonResponse(planSchema, 'The plan after the decision'), ...commonErrors, ...conflictError, ...bodyErrors },
    });

  router.openapi(
    decisionRoute('approve', 'Approve a plan waiting for approval', 'pending_approval → executing. 409 in any other status.', {}),
    async (c) => {
      const { planId } = c.req.valid('param');
      return c.json(await decide(c, planId, 'approve', (userId) => control.approve(planId, userId)), 200);
    },
  );

  router.openapi(
    decisionRoute(
      'reject', 'Reject a plan waiting for approval', 'pending_approval → rejected, with an optional reason (the body is optional). 409 in any other status.',
      { body: jsonBody(rejectBody, false) },
    ),
    async (c) => {
      const { planId } = c.req.valid('param');
      const { reason } = c.req.valid('json') ?? {};
      return c.json(await decide(c, planId, 'reject', (userId) => control.reject(planId, userId, reason)), 200);
    },
  );

  router.openapi(
    decisionRoute('cancel', 'Cancel a plan', 'Any non-terminal status → cancelled; running tasks are aborted. 409 when the plan already ended.', {}),
    async (c) => {
      const { planId } = c.req.valid('param');
      return c.json(await decide(c, planId, 'cancel', () => control.cancel(planId)), 200);
    },
  );

  return router;
}
