/**
 * Folds a plan's events onto its last snapshot. Statuses only move forward
 * (by rank), so replaying old events over a newer snapshot, or a snapshot
 * fetched while events arrive, never shows a task going back in time.
 */
import type { Plan, PlanEvent, PlanStatus, Task, TaskStatus } from '../types.js';

export interface PlanView extends Plan {
  /** Streamed output (`task.delta`) per task, until its result arrives. */
  deltas: Record<string, string>;
  /** Highest `seq` applied. */
  lastSeq: number;
}

const TASK_RANK: Record<TaskStatus, number> = { pending: 0, queued: 1, running: 2, completed: 3, failed: 3, skipped: 3, cancelled: 3 };
const PLAN_RANK: Record<PlanStatus, number> = {
  planning: 0, created: 1, pending_approval: 2, executing: 3,
  completed: 4, failed: 4, partial_success: 4, rejected: 4, expired: 4, cancelled: 4,
};

const laterTask = (a: TaskStatus, b: TaskStatus): TaskStatus => (TASK_RANK[b] > TASK_RANK[a] ? b : a);
const laterPlan = (a: PlanStatus, b: PlanStatus): PlanStatus => (PLAN_RANK[b] > PLAN_RANK[a] ? b : a);

export function fromSnapshot(plan: Plan): PlanView {
  return { ...plan, deltas: {}, lastSeq: 0 };
}

/**
 * A fresh snapshot over the current view: the snapshot's fields, the
 * further-along statuses. A snapshot fetched before an event arrived can be
 * older than the view: what events already set (e.g. the approval expiry of
 * `plan.pending_approval`) is not erased by its nulls.
 */
export function mergeSnapshot(view: PlanView, snap: Plan): PlanView {
  const current = new Map(view.tasks.map((t) => [t.task_id, t]));
  return {
    ...view,
    ...snap,
    approval_expires_at: snap.approval_expires_at ?? view.approval_expires_at,
    approval_reason: snap.approval_reason ?? view.approval_reason,
    summary: snap.summary ?? view.summary,
    status: laterPlan(view.status, snap.status),
    tasks: snap.tasks.map((t) => {
      const mine = current.get(t.task_id);
      return mine ? { ...t, status: laterTask(mine.status, t.status) } : t;
    }),
    deltas: view.deltas,
    lastSeq: view.lastSeq,
  };
}

function newTask(e: { id: string; description?: string; agent?: string; dependencies?: string[] }): Task {
  return {
    id: e.id, task_id: e.id, description: e.description ?? '', agent_id: null, agent_name: e.agent ?? '',
    dependencies: e.dependencies ?? [], estimated_cost: 0, estimated_duration: 0, actual_cost: null, risk_level: 'low',
    status: 'pending', result: null, error: null, attempts: 0, started_at: null, completed_at: null,
  };
}

function updateTask(view: PlanView, taskId: string | undefined, change: (t: Task) => Task): PlanView {
  if (!taskId) return view;
  return { ...view, tasks: view.tasks.map((t) => (t.task_id === taskId ? change(t) : t)) };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Applies one event; an event already applied (same or lower seq) changes nothing. */
export function applyEvent(view: PlanView, e: PlanEvent): PlanView {
  if (e.seq !== undefined) {
    if (e.seq <= view.lastSeq) return view;
    view = { ...view, lastSeq: e.seq };
  }
  const toPlan = (s: PlanStatus) => ({ ...view, status: laterPlan(view.status, s) });
  switch (e.type) {
    case 'plan.created': {
      const tasks = Array.isArray(e.tasks) ? (e.tasks as Array<{ id: string }>) : [];
      const known = new Set(view.tasks.map((t) => t.task_id));
      return {
        ...toPlan('created'),
        tasks: [...view.tasks, ...tasks.filter((t) => !known.has(t.id)).map(newTask)],
        critical_path: Array.isArray(e.critical_path) ? (e.critical_path as string[]) : view.critical_path,
        total_estimated_cost: num(e.total_estimated_cost) ?? view.total_estimated_cost,
        total_estimated_duration: num(e.total_estimated_duration) ?? view.total_estimated_duration,
        requires_approval: typeof e.requires_approval === 'boolean' ? e.requires_approval : view.requires_approval,
      };
    }
    case 'plan.pending_approval':
      return {
        ...toPlan('pending_approval'),
        approval_reason: str(e.approval_reason) ?? view.approval_reason,
        approval_expires_at: str(e.approval_expires_at) ?? view.approval_expires_at,
      };
    case 'plan.approved':
    case 'plan.executing':
      return toPlan('executing');
    case 'plan.rejected':
    case 'plan.expired':
      return toPlan(e.type === 'plan.rejected' ? 'rejected' : 'expired');
    case 'plan.completed':
    case 'plan.failed':
    case 'plan.partial_success':
    case 'plan.cancelled':
      return {
        ...toPlan(e.type.slice(5) as PlanStatus),
        total_actual_cost: num(e.total_actual_cost) ?? view.total_actual_cost,
        summary: str(e.summary) ?? view.summary,
        error: str(e.error) ?? view.error,
      };
    case 'task.queued':
    case 'task.started':
      return updateTask(view, e.task_id, (t) => ({
        ...t,
        status: laterTask(t.status, e.type === 'task.queued' ? 'queued' : 'running'),
        attempts: num(e.attempt) ?? t.attempts,
      }));
    case 'task.delta': {
      const id = e.task_id;
      if (!id || typeof e.text !== 'string') return view;
      return { ...view, deltas: { ...view.deltas, [id]: (view.deltas[id] ?? '') + e.text } };
    }
    case 'task.completed':
      return updateTask(view, e.task_id, (t) => ({
        ...t, status: 'completed', result: str(e.result) ?? t.result, actual_cost: num(e.actual_cost) ?? t.actual_cost,
      }));
    case 'task.failed':
      // A failure that will be retried leaves the task running.
      return updateTask(view, e.task_id, (t) => ({ ...t, status: e.will_retry ? t.status : laterTask(t.status, 'failed'), error: str(e.error) ?? t.error }));
    case 'task.skipped':
      return updateTask(view, e.task_id, (t) => ({ ...t, status: laterTask(t.status, 'skipped'), error: str(e.reason) ?? t.error }));
    default:
      return view;
  }
}
