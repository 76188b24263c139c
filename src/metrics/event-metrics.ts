import { Counter, Histogram, type Registry } from 'prom-client';
import type { StoredEvent } from '../events/event-log.js';
import type { Logger } from '../logger.js';

/**
 * Facts about a plan that its events do not carry. Each is one small indexed
 * query, made only for the few events that need it (a plan's end, an
 * approval decision), never per task.
 */
export interface PlanFacts {
  /** The planner's `total_estimated_cost`, null when unknown. */
  estimatedCost(planId: string): Promise<number | null>;
  /** When the plan's `plan.pending_approval` event was written, null when it never waited. */
  pendingSince(planId: string): Promise<Date | null>;
}

const FINAL_PLAN = new Set(['completed', 'failed', 'partial_success', 'cancelled', 'rejected', 'expired']);
const DECISIONS = new Set(['approved', 'rejected', 'expired']);
const TASK_STATUS: Record<string, string> = {
  'task.queued': 'queued',
  'task.started': 'running',
  'task.completed': 'completed',
  'task.skipped': 'skipped',
};

const num = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
};

/**
 * Turns committed events into counters. Events are published once, by the
 * process that committed them, so summing a counter over every process counts
 * each transition once.
 */
export function createEventObserver(registry: Registry, facts: PlanFacts | undefined, logger: Logger | undefined) {
  const registers = [registry];
  const plansCreated = new Counter({
    name: 'codelab_plans_created_total', help: 'Plans the planner produced, by whether the plan cache served them',
    labelNames: ['cache_hit'] as const, registers,
  });
  const plansFinished = new Counter({
    name: 'codelab_plans_finished_total', help: 'Plans that reached a terminal status, by that status',
    labelNames: ['status'] as const, registers,
  });
  const tasks = new Counter({
    name: 'codelab_tasks_total',
    help: 'Task status changes by the status reached (retrying: a failed attempt that will be retried; failed: for good)',
    labelNames: ['status'] as const, registers,
  });
  const taskDuration = new Histogram({
    name: 'codelab_task_duration_seconds', help: 'Duration of completed tasks (the task.completed event)', registers,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  });
  const approvals = new Counter({
    name: 'codelab_approvals_total', help: 'Approval outcomes (approved, rejected, expired)', labelNames: ['outcome'] as const, registers,
  });
  const decisionTime = new Histogram({
    name: 'codelab_approval_decision_seconds', help: 'Time from plan.pending_approval to the decision',
    labelNames: ['outcome'] as const, registers,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86_400],
  });
  const costRatio = new Histogram({
    name: 'codelab_plan_cost_ratio', help: 'Actual / estimated cost of plans that completed or partially succeeded', registers,
    buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 5, 10],
  });

  const pending = new Set<Promise<void>>();
  const later = (what: string, run: () => Promise<void>) => {
    const p = run()
      .catch((err: unknown) => logger?.warn({ err, what }, 'metrics lookup failed'))
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  const observeOne = (e: StoredEvent) => {
    const [kind, name = ''] = e.type.split('.', 2) as [string, string?];
    if (kind === 'task') {
      if (e.type === 'task.failed') {
        tasks.inc({ status: e.data.will_retry === true ? 'retrying' : 'failed' });
        return;
      }
      const status = TASK_STATUS[e.type];
      if (status) tasks.inc({ status });
      const duration = num(e.data.duration);
      if (e.type === 'task.completed' && duration !== null) taskDuration.observe(Math.max(0, duration));
      return;
    }
    if (kind !== 'plan') return;
    if (name === 'created') plansCreated.inc({ cache_hit: String(e.data.cache_hit === true) });
    if (FINAL_PLAN.has(name)) plansFinished.inc({ status: name });
    if (DECISIONS.has(name)) {
      approvals.inc({ outcome: name });
      if (facts) {
        later('approval decision time', async () => {
          const since = await facts.pendingSince(e.planId);
          if (since) decisionTime.observe({ outcome: name }, Math.max(0, (Date.parse(e.at) - since.getTime()) / 1000));
        });
      }
    }
    if (name === 'completed' || name === 'partial_success') {
      const actual = num(e.data.total_actual_cost);
      const carried = num(e.data.total_estimated_cost);
      if (actual === null) return;
      if (carried !== null) {
        if (carried > 0) costRatio.observe(actual / carried);
      } else if (facts) {
        later('plan cost ratio', async () => {
          const estimated = await facts.estimatedCost(e.planId);
          if (estimated !== null && estimated > 0) costRatio.observe(actual / estimated);
        });
      }
    }
  };

  return {
    observe(events: StoredEvent[]): void {
      for (const e of events) observeOne(e);
    },
    async settled(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}
