import { DelayedError, type Job } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { QUEUE, gateJob, jobId, type GateJob } from '../src/queues/catalog.js';
import { isTerminalTask } from '../src/core/dag-state.js';
import { failLostTasks, loadPlan, loadTasks } from '../db/repositories/execution-repository.js';

/** Longest wait between two re-checks of a gate whose source is still open. */
const MAX_RECHECK_MS = 5 * 60_000;

/**
 * The slow path of a dependency gate (docs/architecture.md). A gate is
 * normally removed by its source's processor; this runs only when a gate's
 * delay expired first, i.e. the source is still running or its release was
 * lost. Completing the gate releases its task; re-delaying it waits more.
 */
export function createGateProcessor(deps: Deps) {
  const agents = deps.queues.byName[QUEUE.agents];
  return async function processGate(job: Job<GateJob>, token?: string): Promise<{ released: boolean }> {
    const { planId, from } = gateJob.parse(job.data);
    const plan = await loadPlan(deps.db, planId);
    if (!plan || plan.status !== 'executing') return { released: true };
    const tasks = await loadTasks(deps.db, planId);
    const source = tasks.find((t) => t.taskId === from);
    if (!source || isTerminalTask(source.status)) return { released: true };

    // The source is open. If its job is gone for good while nobody holds it,
    // it can never settle: record it as lost so its dependents are skipped.
    const sourceJob = await agents.getJob(jobId.task(planId, from));
    const held = source.status === 'running' && source.leaseToken !== null && (source.leaseUntil?.getTime() ?? 0) > Date.now();
    if (!held && (!sourceJob || (await sourceJob.isFailed()))) {
      const changed = await failLostTasks(deps.db, planId, [from], 'the task was lost by the workers');
      await deps.publish(changed.events);
      return { released: true };
    }
    // Back off with the gate's age: a long task's gates are looked at rarely.
    const next = Math.min(MAX_RECHECK_MS, Math.max(deps.config.GATE_RECHECK_MS, Math.floor((Date.now() - job.timestamp) / 2)));
    await job.moveToDelayed(Date.now() + next, token);
    throw new DelayedError();
  };
}
