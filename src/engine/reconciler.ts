import { sql } from 'kysely';
import type { Deps } from '../deps.js';
import type { Engine } from './engine.js';
import { QUEUE, jobId, jobOptions, type QueueName } from '../queues/catalog.js';

/**
 * PostgreSQL is the system of record; Redis state is rebuilt from it. Runs at
 * worker start and periodically (one process at a time, under a Redis lock):
 * - an `executing` plan whose finaliser job is lost (Redis lost its data, or
 *   BullMQ failed it after too many stalls) gets the flow of its open tasks again;
 * - a `planning` plan whose planner job is lost is enqueued again;
 * - a `created` or `pending_approval` plan is handed to `dispatch` again
 *   (it re-arms approval timers, or starts the plan), idempotently.
 * Plans younger than `graceMs` are left alone: their jobs may be on the way.
 */
export interface ReconcileReport {
  rebuilt: string[];
  replanned: string[];
  redispatched: string[];
}

export interface ReconcilerOptions {
  graceMs: number;
  dispatch: (planId: string) => Promise<void>;
}

export function createReconciler(deps: Deps, engine: Engine, opts: ReconcilerOptions) {
  const { db, redis, queues, prefix } = deps;
  const lockKey = `${prefix}:reconcile:lock`;
  const jobKey = (queue: string, id: string) => `${prefix}:${queue}:${id}`;

  /**
   * Jobs of open plans that will never run again: absent (Redis lost them) or
   * finished while their plan is still open (BullMQ failed them after too
   * many stalls, or they ended without moving the plan). A finished one is
   * removed, so that adding it again under the same id is not a no-op.
   */
  async function lost(queue: QueueName, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const pipe = redis.pipeline();
    for (const id of ids) {
      pipe.exists(jobKey(queue, id));
      pipe.zscore(`${prefix}:${queue}:failed`, id);
      pipe.zscore(`${prefix}:${queue}:completed`, id);
    }
    const res = (await pipe.exec()) ?? [];
    const out = new Set<string>();
    for (const [i, id] of ids.entries()) {
      const exists = res[3 * i]?.[1] === 1;
      const finished = res[3 * i + 1]?.[1] !== null || res[3 * i + 2]?.[1] !== null;
      if (!exists || finished) out.add(id);
      if (exists && finished) await queues.byName[queue].remove(id).catch(() => 0);
    }
    return out;
  }

  async function reconcileOnce(): Promise<ReconcileReport | null> {
    const token = `${process.pid}-${Date.now()}`;
    const got = await redis.set(lockKey, token, 'PX', 60_000, 'NX');
    if (got !== 'OK') return null;
    const report: ReconcileReport = { rebuilt: [], replanned: [], redispatched: [] };
    try {
      const cutoff = sql<Date>`now() - ${`${opts.graceMs} milliseconds`}::interval`;
      const open = await db
        .selectFrom('task_plans')
        .select(['id', 'status'])
        .where('status', 'in', ['planning', 'created', 'pending_approval', 'executing'])
        .where((eb) => eb(eb.fn.coalesce('started_at', 'created_at'), '<', cutoff))
        .execute();

      const executing = open.filter((p) => p.status === 'executing').map((p) => p.id);
      const lostFlows = await lost(QUEUE.finalize, executing.map((id) => jobId.finalize(id)));
      for (const planId of executing) {
        if (!lostFlows.has(jobId.finalize(planId))) continue;
        await engine.addFlow(planId);
        report.rebuilt.push(planId);
      }

      const planning = open.filter((p) => p.status === 'planning').map((p) => p.id);
      const lostPlanners = await lost(QUEUE.planner, planning.map((id) => jobId.planner(id)));
      for (const planId of planning) {
        if (!lostPlanners.has(jobId.planner(planId))) continue;
        await queues.byName[QUEUE.planner].add('plan', { planId }, { ...jobOptions.planner(), jobId: jobId.planner(planId) });
        report.replanned.push(planId);
      }

      const waiting = open.filter((p) => p.status === 'created' || p.status === 'pending_approval').map((p) => p.id);
      const lostTimers = await lost(QUEUE.approvals, waiting.map((id) => jobId.approvalTimeout(id)));
      for (const planId of waiting) {
        if (!lostTimers.has(jobId.approvalTimeout(planId))) continue;
        await opts.dispatch(planId);
        report.redispatched.push(planId);
      }
      if (report.rebuilt.length + report.replanned.length + report.redispatched.length > 0) {
        deps.logger.warn(report, 'reconciler rebuilt queue state from PostgreSQL');
      }
      return report;
    } finally {
      // Release only our own lock.
      await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, lockKey, token);
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  return {
    reconcileOnce,
    start(intervalMs: number) {
      const tick = () => {
        running = reconcileOnce().catch((err: unknown) => deps.logger.warn({ err: err instanceof Error ? err.message : err }, 'reconcile failed'));
      };
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
