import type { FlowJob } from 'bullmq';
import { QUEUE, jobId, type TaskJob, type GateJob, type FinalizeJob } from '../queues/catalog.js';
import { isTerminalTask, type TaskNode } from '../core/dag-state.js';

/**
 * Maps a plan's DAG onto one BullMQ flow (a tree). See docs/architecture.md.
 *
 *   finalize(plan)                       ← runs once every task job is done
 *   ├── task(t1)                         ← every task is a native child of the finaliser
 *   ├── task(t2)
 *   │   └── gate(t1 → t2)                ← one gate child per dependency edge
 *   └── task(t3)
 *       ├── gate(t1 → t3)
 *       └── gate(t2 → t3)
 *
 * A task job is parent-gated by its gates: BullMQ moves it to `wait` when its
 * last gate leaves its dependency set. The fast path releases a gate by
 * REMOVING it, from the processor of its source task right after the source's
 * state committed in PostgreSQL (removeJob → removeParentDependencyKey moves
 * the parent to wait in the same Lua call): no gate worker hop. The gates are
 * added delayed by `gateRecheckMs`, so a release lost to a crash is made by
 * the slow path: the gate worker re-checks the source's status in PostgreSQL.
 */
export interface FlowOptions {
  taskAttempts: number;
  taskBackoffMs: number;
  gateRecheckMs: number;
}

export interface FlowContext {
  planId: string;
  userId: string;
  projectId: string;
}

const done = { removeOnComplete: true, removeOnFail: true } as const;

/**
 * The flow of the plan's non-terminal tasks. Edges from tasks that are
 * already terminal get no gate, so the same function serves the first start
 * and a rebuild after Redis lost its data.
 */
export function buildPlanFlow(ctx: FlowContext, tasks: readonly TaskNode[], opts: FlowOptions): FlowJob {
  const status = new Map(tasks.map((t) => [t.taskId, t.status]));
  const open = tasks.filter((t) => !isTerminalTask(t.status));
  return {
    name: 'finalize',
    queueName: QUEUE.finalize,
    data: { planId: ctx.planId } satisfies FinalizeJob,
    opts: { jobId: jobId.finalize(ctx.planId), attempts: 5, backoff: { type: 'exponential', delay: 1000 }, ...done },
    children: open.map((t) => ({
      name: 'task',
      queueName: QUEUE.agents,
      data: { planId: ctx.planId, taskId: t.taskId, userId: ctx.userId, projectId: ctx.projectId } satisfies TaskJob,
      opts: {
        jobId: jobId.task(ctx.planId, t.taskId),
        attempts: opts.taskAttempts,
        backoff: { type: 'task', delay: opts.taskBackoffMs },
        // A task job that BullMQ itself gives up on (stalled too often) must not
        // block the finaliser: it records the task as lost instead.
        ignoreDependencyOnFailure: true,
        ...done,
      },
      children: t.dependencies
        .filter((d) => !isTerminalTask(status.get(d) ?? 'completed'))
        .map((d) => ({
          name: 'gate',
          queueName: QUEUE.gates,
          data: { planId: ctx.planId, from: d, to: t.taskId } satisfies GateJob,
          opts: {
            jobId: jobId.gate(ctx.planId, d, t.taskId),
            delay: opts.gateRecheckMs,
            attempts: 50,
            backoff: { type: 'fixed', delay: 5000 },
            ...done,
          },
        })),
    })),
  };
}

/** Job ids of the gates that wait on `from`. */
export function outgoingGateIds(planId: string, tasks: readonly TaskNode[], from: string): string[] {
  return tasks.filter((t) => t.dependencies.includes(from)).map((t) => jobId.gate(planId, from, t.taskId));
}
