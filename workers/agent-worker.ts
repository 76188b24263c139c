import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { DelayedError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Deps } from '../src/deps.js';
import type { Engine } from '../src/engine/engine.js';
import { QUEUE, taskJob, type TaskJob } from '../src/queues/catalog.js';
import { isRetryable, taskBackoff } from '../src/engine/retry.js';
import { isTerminalTask } from '../src/core/dag-state.js';
import { outgoingGateIds } from '../src/engine/plan-flow.js';
import { releaseGates } from '../src/engine/gate-release.js';
import { runTask } from '../src/engine/run-task.js';
import { PlanCancelledError } from '../src/engine/cancel-bus.js';
import {
  cancelRunningTask, claimTasks, completeTasks, extendLease, failTask, loadPlanForTasks, markQueued, skipTask,
  releaseClaim, releaseForRetry, type Changed, type Claim, type Completion, type TaskRow,
} from '../db/repositories/execution-repository.js';
import { keyedBatcher } from '../src/util/batcher.js';

/** How long a task that was not admitted waits before re-checking by itself. */
const PARK_MS = 2_000;
/** How many parked tasks of the user a finishing task promotes. */
const PROMOTE = 2;

export class ShutdownError extends Error {
  constructor() {
    super('worker shutting down');
    this.name = 'ShutdownError';
  }
}
class LeaseLostError extends Error {
  constructor() {
    super('task claim lost');
    this.name = 'LeaseLostError';
  }
}

export interface AgentProcessorState {
  /** Set on shutdown: running tasks are aborted and handed to another worker. */
  shutdownController: AbortController;
}

/**
 * The processor of the `agents` queue: one task of one plan. See
 * docs/architecture.md for the life of a task job.
 */
export function createAgentProcessor(deps: Deps, engine: Engine, state: AgentProcessorState) {
  const { db, redis, queues, config, logger } = deps;
  const gates = queues.byName[QUEUE.gates];
  const agents = queues.byName[QUEUE.agents];
  // Publishing never throws and one connection keeps its commands in order,
  // so the hot path does not wait for it.
  const publish = (c: Changed) => void deps.publish(c.events);

  // The hot path's three statements, batched per plan (group commit): the
  // dependents a fan-out releases at once load, claim and complete together
  // instead of queueing one by one for pool connections and the plan row.
  const load = keyedBatcher(async (planId: string, taskIds: string[]) => {
    const r = await loadPlanForTasks(db, planId, [...new Set(taskIds)]);
    return taskIds.map((id) => ({ plan: r.plan, tasks: r.tasks, inputs: r.inputs.get(id) }));
  });
  const claim = keyedBatcher((planId: string, claims: Claim[]) => claimTasks(db, planId, claims, config.TASK_LEASE_MS));
  const complete = keyedBatcher((planId: string, items: Completion[]) => completeTasks(db, planId, items));

  const release = async (planId: string, tasks: TaskRow[], from: string) =>
    releaseGates(gates, outgoingGateIds(planId, tasks, from));

  /** Moves the job back to delayed and tells BullMQ so (no attempt consumed). */
  const delay = async (job: Job, token: string, ms: number): Promise<never> => {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  };

  return async function processTask(job: Job<TaskJob>, token?: string): Promise<{ status: string }> {
    const data = taskJob.parse(job.data);
    const attempt = job.attemptsMade + 1;
    const lastAttempt = attempt >= (job.opts.attempts ?? 1);
    const log = logger.child({ plan_id: data.planId, task_id: data.taskId, job_id: job.id, attempt });

    const { plan, tasks, inputs } = await load(data.planId, data.taskId);
    if (!plan) return { status: 'gone' };
    const task = tasks.find((t) => t.taskId === data.taskId);
    if (!task || !inputs) return { status: 'gone' };

    // Already settled (a retry after a crash, a cancelled plan, a skipped task):
    // make sure its dependents were released, and nothing else.
    if (isTerminalTask(task.status) || plan.status !== 'executing') {
      await release(plan.id, tasks, task.taskId);
      return { status: task.status };
    }

    const status = new Map(tasks.map((t) => [t.taskId, t.status]));
    if (task.dependencies.some((d) => !isTerminalTask(status.get(d) ?? 'completed'))) {
      // Released before its dependencies settled (only after a rebuild race): re-check soon.
      log.warn('task released before its dependencies settled');
      return delay(job, token!, 500);
    }
    // Settlement by the dependencies' transactions can race; this task's own
    // processor is the final word (every dependency has committed by now).
    const blocker = task.dependencies.find((d) => status.get(d) !== 'completed');
    if (blocker !== undefined) {
      publish(await skipTask(db, plan.id, task, `dependency ${blocker} ${status.get(blocker) ?? 'is missing'}`));
      await release(plan.id, tasks, task.taskId);
      return { status: 'skipped' };
    }

    // Our claim token: the BullMQ lock token, prefixed with host:pid so an
    // operator (and the crash test) can tell which process holds a task.
    const lease = `${hostname()}:${process.pid}:${token!}`;
    const slot = { userId: plan.userId, projectId: plan.projectId, member: job.id! };
    const admitted = await engine.admission.acquire(slot, {
      user: config.USER_MAX_RUNNING_TASKS,
      project: plan.maxParallelTasks ?? config.DEFAULT_MAX_PARALLEL_TASKS,
    });
    if (!admitted) {
      // Ready but waiting for a slot: that is what `queued` means.
      if (task.status === 'pending') publish(await markQueued(db, plan.id, task));
      await engine.admission.park(slot);
      return delay(job, token!, PARK_MS);
    }

    const controller = new AbortController();
    const untrack = engine.cancelBus.track(plan.id, controller);
    const onShutdown = () => controller.abort(new ShutdownError());
    state.shutdownController.signal.addEventListener('abort', onShutdown);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const claimed = await claim(plan.id, { task, token: lease, attempt });
      if (!claimed.ok) {
        // Another live worker holds it (a stalled job re-delivered early): look again after its lease.
        return await delay(job, token!, Math.min(config.TASK_LEASE_MS, 5_000));
      }
      publish(claimed);
      heartbeat = setInterval(() => {
        void Promise.all([extendLease(db, task.id, lease, config.TASK_LEASE_MS), engine.admission.extend(slot)]).then(
          ([held]) => {
            if (!held) controller.abort(new LeaseLostError());
          },
          () => undefined,
        );
      }, Math.max(250, Math.floor(config.TASK_LEASE_MS / 3)));

      try {
        const out = await runTask(deps, engine, { plan, task, tasks, inputs, attempt, signal: controller.signal });
        const done = await complete(plan.id, { task, token: lease, out });
        if (!done.ok) log.warn('completion refused: the task is no longer held by this worker');
        // Release first: the dependents can start now. Each becomes queued
        // when its own job claims it, or when it waits for a slot (parked).
        await release(plan.id, tasks, task.taskId);
        publish(done);
        if (done.ok && config.MEMORY_WRITE) {
          // Off the critical path: the result joins the project's memory for later tasks.
          void deps.memory
            .write({ userId: plan.userId, projectId: plan.projectId, kind: 'result', content: `${task.description}\n${out.text}`, source: `plan:${plan.id}/${task.taskId}` })
            .catch((err: unknown) => log.warn({ err }, 'could not write the result to project memory'));
        }
        return { status: 'completed' };
      } catch (err) {
        const reason = controller.signal.aborted ? controller.signal.reason : undefined;
        if (reason instanceof PlanCancelledError) {
          publish(await cancelRunningTask(db, plan.id, task, lease, 0));
          await release(plan.id, tasks, task.taskId);
          return { status: 'cancelled' };
        }
        if (reason instanceof ShutdownError) {
          await releaseClaim(db, task.id, lease);
          return await delay(job, token!, 0);
        }
        if (reason instanceof LeaseLostError) throw reason;
        const message = err instanceof Error ? err.message : String(err);
        if (isRetryable(err) && !lastAttempt) {
          log.warn({ err: message }, 'task attempt failed, will retry');
          publish(await releaseForRetry(db, plan.id, task, lease, message, attempt, 0));
          throw err; // BullMQ schedules the retry with taskBackoff (a provider's Retry-After first)
        }
        log.warn({ err: message }, 'task failed');
        publish(await failTask(db, plan.id, task, lease, message, attempt, 0));
        await release(plan.id, tasks, task.taskId);
        return { status: 'failed' };
      }
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      untrack();
      state.shutdownController.signal.removeEventListener('abort', onShutdown);
      // Off the critical path: free the slot and wake the user's oldest parked tasks.
      void engine.admission
        .release(slot, PROMOTE)
        .then((parked) => Promise.all(parked.map((id) => agents.getJob(id).then((j) => j?.promote()))))
        .catch(() => undefined);
    }
  };
}

export interface AgentWorkerOptions {
  /** Number of Worker instances in this process (see docs/architecture.md: fetch loop). */
  instances: number;
  concurrency: number;
  connection: Redis;
}

/** The agent workers of one process and their shared shutdown signal. */
export function createAgentWorkers(deps: Deps, engine: Engine, opts: AgentWorkerOptions) {
  const state: AgentProcessorState = { shutdownController: new AbortController() };
  // One listener per running task: as many as the process has slots.
  setMaxListeners(0, state.shutdownController.signal);
  const processor = createAgentProcessor(deps, engine, state);
  const workers = Array.from({ length: opts.instances }, () =>
    new Worker(QUEUE.agents, processor, {
      connection: opts.connection,
      prefix: deps.prefix,
      concurrency: opts.concurrency,
      lockDuration: deps.config.TASK_LEASE_MS,
      stalledInterval: Math.max(500, Math.floor(deps.config.TASK_LEASE_MS / 2)),
      maxStalledCount: 3,
      autorun: true,
      settings: { backoffStrategy: taskBackoff(deps.config.TASK_BACKOFF_MS) },
    }),
  );
  for (const w of workers) w.on('error', (err) => deps.logger.warn({ err: err.message }, 'agent worker error'));
  return { workers, state };
}
