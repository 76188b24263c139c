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
  const key = (queue: string, id: string) => `${deps.prefix}:${queue}:${id}`;

  /**
   * The source task's job (present, missing or failed), read in one MULTI
   * with this gate's own lock. A missing job means "gone for good" only if
   * Redis still holds the state this gate was fetched from: the lock is
   * still our token. If it is not, Redis was wiped (or the lock expired and
   * the gate went back to wait) after the fetch, and what we read from
   * PostgreSQL before cannot be set against what Redis holds now.
   */
  async function sourceJobState(planId: string, from: string, gateId: string, token: string | undefined) {
    const sourceId = jobId.task(planId, from);
    const res = await deps.redis
      .multi()
      .get(`${key(QUEUE.gates, gateId)}:lock`)
      .exists(key(QUEUE.agents, sourceId))
      .zscore(key(QUEUE.agents, 'failed'), sourceId)
      .exec();
    const [lock, exists, failed] = (res ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    if (token === undefined || lock !== token) return 'gate-not-ours' as const;
    if (exists !== 1) return 'missing' as const;
    return failed !== null ? ('failed' as const) : ('present' as const);
  }

  return async function processGate(job: Job<GateJob>, token?: string): Promise<{ released: boolean }> {
    const { planId, from } = gateJob.parse(job.data);
    const plan = await loadPlan(deps.db, planId);
    if (!plan || plan.status !== 'executing') return { released: true };
    const tasks = await loadTasks(deps.db, planId);
    const source = tasks.find((t) => t.taskId === from);
    if (!source || isTerminalTask(source.status)) return { released: true };

    // The source is open. If its job is gone for good while nobody holds it,
    // it can never settle: record it as lost so its dependents are skipped.
    const held = source.status === 'running' && source.leaseToken !== null && (source.leaseUntil?.getTime() ?? 0) > Date.now();
    if (!held) {
      const sourceJob = await sourceJobState(planId, from, job.id!, token);
      // Redis lost this gate since we fetched it (FLUSHDB, a restart without
      // persistence): the source's job is missing only until the reconciler
      // re-adds the plan's flow from PostgreSQL, and the source, taken over
      // by another worker then, is not lost. This gate is gone too (or was
      // re-added for a new check): there is nothing to decide here.
      if (sourceJob === 'gate-not-ours') return { released: false };
      if (sourceJob === 'missing' || sourceJob === 'failed') {
        deps.logger.warn({ plan_id: planId, task_id: from, gate: job.id, source_status: source.status, source_job: sourceJob }, 'gate: source task lost');
        // unlessHeld: a worker may have claimed it since we read it.
        const changed = await failLostTasks(deps.db, planId, [from], 'the task was lost by the workers', { unlessHeld: true });
        await deps.publish(changed.events);
        return { released: true };
      }
    }
    // Back off with the gate's age: a long task's gates are looked at rarely.
    const next = Math.min(MAX_RECHECK_MS, Math.max(deps.config.GATE_RECHECK_MS, Math.floor((Date.now() - job.timestamp) / 2)));
    await job.moveToDelayed(Date.now() + next, token);
    throw new DelayedError();
  };
}
