import type { Deps } from '../deps.js';
import { QUEUE, jobId, jobOptions, type ApprovalTimeoutJob } from '../queues/catalog.js';
import {
  cancelPlan, closeApproval, loadPlan, loadTasks, requestApproval, startPlan,
} from '../../db/repositories/execution-repository.js';
import { buildPlanFlow, type FlowOptions } from './plan-flow.js';
import { cancelChannel } from './cancel-bus.js';
import type { PlanStatus, ProjectSettings } from '../../db/schema.js';

/**
 * The decisions about a plan's life that the API and the workers share:
 * start, approve, reject, cancel. Each is a compare-and-set in PostgreSQL
 * followed by queue work; none blocks on a worker. The API uses this alone;
 * worker processes add admission, tools and the cancel subscription (engine.ts).
 */
export interface PlanControl {
  flowOptions: FlowOptions;
  /**
   * What happens to a `created` plan: it starts, or waits for approval until
   * its expiry (a delayed job enforces it). Re-arms the timer of a
   * `pending_approval` plan. Idempotent.
   */
  dispatch(planId: string): Promise<void>;
  /** created | pending_approval → executing, then adds the flow; false when not startable. */
  startExecution(planId: string, from?: PlanStatus[]): Promise<boolean>;
  /** Adds the flow of the plan's open tasks (first start and rebuilds). */
  addFlow(planId: string): Promise<void>;
  /** pending_approval → executing; false when the plan was not pending. */
  approve(planId: string, userId: string): Promise<boolean>;
  /** pending_approval → rejected; false when the plan was not pending. */
  reject(planId: string, userId: string, reason?: string): Promise<boolean>;
  /** Any non-terminal plan → cancelled; false when it was already terminal. */
  cancel(planId: string): Promise<boolean>;
}

export function createPlanControl(deps: Deps): PlanControl {
  const { db, queues, config } = deps;
  const timers = queues.byName[QUEUE.approvals];
  const flowOptions: FlowOptions = {
    taskAttempts: config.TASK_ATTEMPTS,
    taskBackoffMs: config.TASK_BACKOFF_MS,
    gateRecheckMs: config.GATE_RECHECK_MS,
  };

  const addFlow = async (planId: string) => {
    const plan = await loadPlan(db, planId);
    if (!plan || plan.status !== 'executing') return;
    const tasks = await loadTasks(db, planId);
    await queues.flows.add(buildPlanFlow({ planId, userId: plan.userId, projectId: plan.projectId }, tasks, flowOptions));
  };
  const arm = async (planId: string, expiresAt: Date) => {
    await timers.add('expire', { planId } satisfies ApprovalTimeoutJob, {
      ...jobOptions.approvalTimeout(),
      jobId: jobId.approvalTimeout(planId),
      delay: Math.max(0, expiresAt.getTime() - Date.now()),
    });
    // A decision may have landed (and disarmed) between our read and the add:
    // look again, so no stale timer outlives its plan's decision.
    const now = await db.selectFrom('task_plans').select('status').where('id', '=', planId).executeTakeFirst();
    if (now?.status !== 'pending_approval') await disarm(planId);
  };
  const disarm = (planId: string) => timers.remove(jobId.approvalTimeout(planId)).catch(() => 0);

  const startExecution = async (planId: string, from?: PlanStatus[]) => {
    const changed = await startPlan(db, planId, from);
    if (!changed.ok) return false;
    await deps.publish(changed.events);
    await addFlow(planId);
    deps.logger.info({ plan_id: planId }, 'plan executing');
    return true;
  };

  return {
    flowOptions,
    addFlow,
    startExecution,
    async dispatch(planId) {
      const plan = await db
        .selectFrom('task_plans as p')
        .innerJoin('user_projects as pr', 'pr.id', 'p.project_id')
        .select(['p.status', 'p.requires_approval', 'p.approval_expires_at', 'pr.settings'])
        .where('p.id', '=', planId)
        .executeTakeFirst();
      if (!plan) return;
      if (plan.status === 'created' && !plan.requires_approval) {
        await startExecution(planId, ['created']);
      } else if (plan.status === 'created') {
        const timeoutS = (plan.settings as ProjectSettings).approval_timeout_s ?? config.APPROVAL_TIMEOUT_S;
        const changed = await requestApproval(db, planId, timeoutS);
        await deps.publish(changed.events);
        if (changed.ok && changed.expiresAt) await arm(planId, changed.expiresAt);
      } else if (plan.status === 'pending_approval' && plan.approval_expires_at) {
        await arm(planId, plan.approval_expires_at);
      }
    },
    async approve(planId, userId) {
      const changed = await startPlan(db, planId, ['pending_approval'], { userId });
      if (!changed.ok) return false;
      await deps.publish(changed.events);
      await disarm(planId);
      await addFlow(planId);
      return true;
    },
    async reject(planId, userId, reason) {
      const changed = await closeApproval(db, planId, 'rejected', { userId, reason });
      if (!changed.ok) return false;
      await deps.publish(changed.events);
      await disarm(planId);
      return true;
    },
    async cancel(planId) {
      const changed = await cancelPlan(db, planId);
      if (!changed.ok) return false;
      await deps.publish(changed.events);
      // Running tasks are aborted by their worker processes, which subscribe.
      await deps.redis.publish(cancelChannel(deps.prefix), planId);
      // Jobs not yet started go now, with their gates.
      const tasks = await loadTasks(db, planId);
      await Promise.all([
        ...tasks.map((t) => queues.byName[QUEUE.agents].remove(jobId.task(planId, t.taskId), { removeChildren: true }).catch(() => 0)),
        queues.byName[QUEUE.planner].remove(jobId.planner(planId)).catch(() => 0),
        disarm(planId),
      ]);
      deps.logger.info({ plan_id: planId }, 'plan cancelled');
      return true;
    },
  };
}
