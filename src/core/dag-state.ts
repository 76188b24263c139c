/**
 * Pure rules of a running plan's task graph: which tasks become runnable or
 * skipped when one settles, and what a finished plan's outcome is.
 * No I/O: the execution repository applies the result inside a transaction.
 */
export type TaskState = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';

export interface TaskNode {
  taskId: string;
  dependencies: string[];
  status: TaskState;
}

const TERMINAL: ReadonlySet<TaskState> = new Set(['completed', 'failed', 'skipped', 'cancelled']);
const BLOCKING: ReadonlySet<TaskState> = new Set(['failed', 'skipped', 'cancelled']);

export const isTerminalTask = (s: TaskState): boolean => TERMINAL.has(s);

export interface Settlement {
  /** Pending tasks whose dependencies all completed: now queued. */
  queued: string[];
  /** Pending or queued tasks that can never run, with the dependency that blocked them. */
  skipped: Array<{ taskId: string; reason: string }>;
}

/**
 * Given the plan's tasks (statuses already updated for the task that just
 * settled), returns the tasks to move to `queued` and, transitively, the tasks
 * to `skip` because a dependency failed, was skipped or was cancelled.
 * A task is skipped as soon as one dependency blocks it, without waiting for
 * the others: it can never run.
 */
export function settle(tasks: readonly TaskNode[]): Settlement {
  const status = new Map(tasks.map((t) => [t.taskId, t.status]));
  const skipped: Settlement['skipped'] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of tasks) {
      const s = status.get(t.taskId)!;
      if (s !== 'pending' && s !== 'queued') continue;
      const blocker = t.dependencies.find((d) => BLOCKING.has(status.get(d) ?? 'failed'));
      if (blocker !== undefined) {
        status.set(t.taskId, 'skipped');
        skipped.push({ taskId: t.taskId, reason: `dependency ${blocker} ${status.get(blocker) ?? 'is missing'}` });
        changed = true;
      }
    }
  }
  const queued = tasks
    .filter((t) => status.get(t.taskId) === 'pending' && t.dependencies.every((d) => status.get(d) === 'completed'))
    .map((t) => t.taskId);
  return { queued, skipped };
}

export type PlanOutcome = 'completed' | 'failed' | 'partial_success';

/** api.md: every task completed → completed; none → failed; otherwise partial_success. */
export function planOutcome(tasks: readonly Pick<TaskNode, 'status'>[]): PlanOutcome {
  const done = tasks.filter((t) => t.status === 'completed').length;
  if (tasks.length > 0 && done === tasks.length) return 'completed';
  return done === 0 ? 'failed' : 'partial_success';
}

/** Tasks that list `taskId` among their dependencies. */
export function dependentsOf(tasks: readonly TaskNode[], taskId: string): string[] {
  return tasks.filter((t) => t.dependencies.includes(taskId)).map((t) => t.taskId);
}
