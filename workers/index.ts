import { Worker } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { createRedis } from '../src/redis.js';
import { ALL_QUEUES, QUEUE, type QueueName } from '../src/queues/catalog.js';
import { createEngine, type Engine } from '../src/engine/engine.js';
import { createReconciler } from '../src/engine/reconciler.js';
import { createAgentWorkers } from './agent-worker.js';
import { createGateProcessor } from './gate-worker.js';
import { createFinalizeProcessor } from './finalize-worker.js';
import { createPlannerWorker } from './planner.js';
import { plannerPlanCache } from '../src/cache/plan-cache-seams.js';
import { createApprovalTimeoutProcessor } from './approval-worker.js';
import { observeWorker } from '../src/metrics/job-metrics.js';
import { isUnexpectedError } from '../src/ops/error-tracker.js';

export interface WorkersOptions {
  /** Queues this process consumes (default: all). */
  queues?: QueueName[];
  /** Agent Worker instances in this process; each has `concurrency` slots. */
  agentInstances?: number;
  /** Whether this process runs the reconciler (default true). */
  reconcile?: boolean;
}

export interface WorkerSet {
  engine: Engine;
  workers: Worker[];
  reconcileOnce(): Promise<unknown>;
  /** Stops taking jobs, lets running tasks finish until the deadline, then hands them back. Idempotent. */
  close(): Promise<void>;
}

export function createWorkers(deps: Deps, opts: WorkersOptions = {}): WorkerSet {
  const wanted = new Set<QueueName>(opts.queues ?? ALL_QUEUES);
  const engine = createEngine(deps);
  const dispatch = (planId: string) => engine.dispatch(planId);
  // Workers share one command connection; each Worker opens its own blocking one.
  const connection = createRedis(deps.config.REDIS_URL, 'codelab:workers');
  connection.on('error', () => undefined);
  // Every queue recovers a killed worker's jobs on the task lease, not BullMQ's
  // 30 s default, and tolerates a few stalls before giving a job up.
  const common = {
    connection,
    prefix: deps.prefix,
    lockDuration: deps.config.TASK_LEASE_MS,
    stalledInterval: Math.max(500, Math.floor(deps.config.TASK_LEASE_MS / 2)),
    maxStalledCount: 3,
  };
  const workers: Worker[] = [];
  let agentState: { shutdownController: AbortController } | undefined;

  if (wanted.has(QUEUE.agents)) {
    const a = createAgentWorkers(deps, engine, {
      connection,
      instances: opts.agentInstances ?? deps.config.AGENT_WORKER_INSTANCES,
      concurrency: deps.config.WORKER_CONCURRENCY,
    });
    workers.push(...a.workers);
    agentState = a.state;
  }
  if (wanted.has(QUEUE.planner)) {
    workers.push(createPlannerWorker(deps, { onPlanCreated: dispatch, planCache: plannerPlanCache(deps) }));
  }
  if (wanted.has(QUEUE.approvals)) {
    workers.push(new Worker(QUEUE.approvals, createApprovalTimeoutProcessor(deps), { ...common, concurrency: 16 }));
  }
  if (wanted.has(QUEUE.gates)) {
    workers.push(new Worker(QUEUE.gates, createGateProcessor(deps), { ...common, concurrency: 16 }));
  }
  if (wanted.has(QUEUE.finalize)) {
    workers.push(new Worker(QUEUE.finalize, createFinalizeProcessor(deps), { ...common, concurrency: 16 }));
  }
  for (const w of workers) w.on('error', (err) => deps.logger.warn({ queue: w.name, err: err.message }, 'worker error'));
  // Job counts and durations per queue; a failed attempt whose error is a bug or an outage (not a user error or a planned retry) is tracked.
  for (const w of workers) {
    observeWorker(deps.metrics, w, (err, job) => {
      if (!isUnexpectedError(err)) return;
      const planId = (job?.data as { planId?: unknown } | undefined)?.planId;
      void deps.errors.capture(err, { source: 'worker', context: { queue: w.name, job_name: job?.name, plan_id: planId } });
    });
  }

  const reconciler = createReconciler(deps, engine, { graceMs: Math.min(10_000, deps.config.RECONCILE_INTERVAL_MS), dispatch });
  if (opts.reconcile !== false) reconciler.start(deps.config.RECONCILE_INTERVAL_MS);

  let closing: Promise<void> | undefined;
  return {
    engine,
    workers,
    reconcileOnce: () => reconciler.reconcileOnce(),
    close() {
      closing ??= (async () => {
        await reconciler.stop();
        const drained = Promise.allSettled(workers.map((w) => w.close()));
        const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), deps.config.SHUTDOWN_TIMEOUT_MS).unref());
        if ((await Promise.race([drained, deadline])) === 'timeout') {
          deps.logger.warn('shutdown deadline reached: handing running tasks back to the queue');
          agentState?.shutdownController.abort();
          await drained;
        }
        await engine.close();
        await connection.quit().catch(() => connection.disconnect());
      })();
      return closing;
    },
  };
}
