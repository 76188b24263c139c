import type { Deps } from '../deps.js';
import { createRedis } from '../redis.js';
import { publishEvents } from '../events/event-log.js';
import { QUEUE, jobId } from '../queues/catalog.js';
import { cancelPlan, loadPlan, loadTasks, startPlan } from '../../db/repositories/execution-repository.js';
import { buildPlanFlow, type FlowOptions } from './plan-flow.js';
import { createAdmission, type Admission } from './admission.js';
import { createCancelBus, type CancelBus } from './cancel-bus.js';
import type { PlanStatus } from '../../db/schema.js';

/** What starts, cancels and tracks plan executions in one process. */
export interface Engine {
  admission: Admission;
  cancelBus: CancelBus;
  flowOptions: FlowOptions;
  /**
   * created | pending_approval → executing, then adds the plan's flow.
   * False when the plan was not startable (already started, cancelled…).
   */
  startExecution(planId: string, from?: PlanStatus[]): Promise<boolean>;
  /** Adds the flow of the plan's open tasks (first start and rebuilds). */
  addFlow(planId: string): Promise<void>;
  /** Cancels a non-terminal plan; false when it was already terminal. */
  cancel(planId: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createEngine(deps: Deps): Engine {
  const { db, redis, queues, config } = deps;
  const subscriber = createRedis(config.REDIS_URL, 'codelab:cancel-sub');
  subscriber.on('error', () => undefined);
  const cancelBus = createCancelBus(redis, subscriber, deps.prefix);
  const admission = createAdmission(redis, deps.prefix, config.TASK_LEASE_MS);
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

  return {
    admission,
    cancelBus,
    flowOptions,
    addFlow,
    async startExecution(planId, from) {
      const changed = await startPlan(db, planId, from);
      if (!changed.ok) return false;
      await publishEvents(redis, deps.prefix, changed.events);
      await addFlow(planId);
      deps.logger.info({ plan_id: planId }, 'plan executing');
      return true;
    },
    async cancel(planId) {
      const changed = await cancelPlan(db, planId);
      if (!changed.ok) return false;
      await publishEvents(redis, deps.prefix, changed.events);
      await cancelBus.publish(planId);
      // Jobs not yet started go now (with their gates); running ones end by abort.
      const tasks = await loadTasks(db, planId);
      await Promise.all([
        ...tasks.map((t) => queues.byName[QUEUE.agents].remove(jobId.task(planId, t.taskId), { removeChildren: true }).catch(() => 0)),
        queues.byName[QUEUE.planner].remove(jobId.planner(planId)).catch(() => 0),
        queues.byName[QUEUE.approvals].remove(jobId.approvalTimeout(planId)).catch(() => 0),
      ]);
      deps.logger.info({ plan_id: planId }, 'plan cancelled');
      return true;
    },
    close: () => cancelBus.close(),
  };
}
