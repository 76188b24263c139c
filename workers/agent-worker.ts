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
  cancelRunningTask, claimAndLoad, completeTasks, extendLease, failTask, loadProjectMaxParallel, markQueuedIfReady, skipTask,
  releaseClaim, releaseForRetry, type Changed, type ClaimRequest, type Completion, type TaskRow,
} from '../db/repositories/execution-repository.js';
import { keyedBatcher } from '../src/util/batcher.js';

/** How long a task that was not admitted waits before re-checking by itself. */
const PARK_MS = 2_000;
/** How many parked tasks of the user a finishing task promotes. */
const PROMOTE = 2;
/** How long a project's max_parallel_tasks is cached for admission. */
const CAP_TTL_MS = 5_000;

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

  // The hot path's two statements, batched per plan (group commit): the
  // dependents a fan-out releases at once claim (and load) and complete
  // together instead of queueing one by one for pool connections and the
  // plan row. See docs/architecture.md.
  const claimLoad = keyedBatcher(async (planId: string, requests: ClaimRequest[]) => {
    const r = await claimAndLoad(db, planId, requests, config.TASK_LEASE_MS);
    if (r.loaded.plan) caps.set(r.loaded.plan.projectId, { cap: r.loaded.plan.maxParallelTasks, at: Date.now() });
    return requests.map((req, i) => ({ ...r.loaded, inputs: r.loaded.inputs.get(req.taskId), claimed: r.claims[i]! }));
  });
  const complete = keyedBatcher((planId: string, items: Completion[]) => completeTasks(db, planId, items));

  // Each project's max_parallel_tasks, for admission before the claim; a
  // settings change reaches running plans within CAP_TTL_MS.
  const caps = new Map<string, { cap: number | null; at: number }>();
  const projectCap = async (projectId: string): Promise<number> => {
    let hit = caps.get(projectId);
    if (!hit || Date.now() - hit.at > CAP_TTL_MS) {
      hit = { cap: await loadProjectMaxParallel(db, projectId), at: Date.now() };
      caps.set(projectId, hit);
    }
    return hit.cap ?? config.DEFAULT_MAX_PARALLEL_TASKS;
  };

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

    // Admission first (a per-user and a per-project slot, in Redis), so that
    // claiming and loading are one statement. A job that turns out to have
    // nothing to run gives its slot back at once (finally, below).
    const slot = { userId: data.userId, projectId: data.projectId, member: job.id! };
    const admitted = await engine.admission.acquire(slot, { user: config.USER_MAX_RUNNING_TASKS, project: await projectCap(data.projectId) });
    if (!admitted) {
      // Ready but waiting for a slot: that is what `queued` means.
      publish(await markQueuedIfReady(db, data.planId, data.taskId));
      await engine.admission.park(slot);
      return delay(job, token!, PARK_MS);
    }
    const releaseSlot = () =>
      // Off the critical path: free the slot and wake the user's oldest parked tasks.
      void engine.admission
        .release(slot, PROMOTE)
        .then((parked) => Promise.all(parked.map((id) => agents.getJob(id).then((j) => j?.promote()))))
        .catch(() => undefined);

    // Our claim token: the BullMQ lock token, prefixed with host:pid so an
    // operator (and the crash test) can tell which process holds a task.
    const lease = `${hostname()}:${process.pid}:${token!}`;
    let loaded;
    try {
      loaded = await claimLoad(data.planId, { taskId: data.taskId, claim: { token: lease, attempt } });
    } catch (err) {
      releaseSlot();
      throw err;
    }
    const { plan, tasks, inputs, claimed } = loaded;
    const task = tasks.find((t) => t.taskId === data.taskId);
    if (!claimed.ok) {
      releaseSlot();
      if (!plan || !task || !inputs) return { status: 'gone' };
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
      // A dependency failed, was skipped or cancelled: settlement by the
      // dependencies' transactions can race; this processor is the final word.
      const blocker = task.dependencies.find((d) => status.get(d) !== 'completed');
      if (blocker !== undefined) {
        publish(await skipTask(db, plan.id, task, `dependency ${blocker} ${status.get(blocker) ?? 'is missing'}`));
        await release(plan.id, tasks, task.taskId);
        return { status: 'skipped' };
      }
      // Another live worker holds it (a stalled job re-delivered early): look again after its lease.
      return delay(job, token!, Math.min(config.TASK_LEASE_MS, 5_000));
    }
    if (!plan || !task || !inputs) throw new Error(`claimed ${data.taskId} of ${data.planId} but did not load it`); // cannot happen: one statement
    publish(claimed);

    const controller = new AbortController();
    const untrack = engine.cancelBus.track(plan.id, controller);
    const onShutdown = () => controller.abort(new ShutdownError());
    state.shutdownController.signal.addEventListener('abort', onShutdown);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
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
      releaseSlot();
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
