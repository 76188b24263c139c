import type { ModelPlan, PlanTaskSpec } from './plan-schema.js';

/** Why a plan was rejected. Stable codes: tests, the repair prompt and the stored error rely on them. */
export type PlanIssueCode =
  | 'INVALID_JSON'
  | 'INVALID_SHAPE'
  | 'EMPTY_PLAN'
  | 'TOO_MANY_TASKS'
  | 'DUPLICATE_TASK_ID'
  | 'UNKNOWN_DEPENDENCY'
  | 'SELF_DEPENDENCY'
  | 'CYCLE'
  | 'UNKNOWN_AGENT';

/** One problem of a plan, written so that both a user and the planning model can act on it. */
export interface PlanIssue {
  code: PlanIssueCode;
  message: string;
  /** The task concerned, when there is one. */
  taskId?: string;
  /** For CYCLE: the ids around the cycle, first id repeated at the end. */
  cycle?: string[];
}

export interface ValidateOptions {
  /** Names of the project's active agents. */
  activeAgents: readonly string[];
  /** Names of agents that exist but are disabled, for a more helpful message. */
  disabledAgents?: readonly string[];
  maxTasks: number;
}

/**
 * Checks a parsed plan against the rules of a runnable DAG and returns every
 * problem found (empty when valid), so one repair round can fix them all.
 */
export function validatePlan(plan: ModelPlan, opts: ValidateOptions): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const { tasks } = plan;
  if (tasks.length === 0) {
    issues.push({ code: 'EMPTY_PLAN', message: 'the plan has no tasks; it needs at least one' });
    return issues;
  }
  if (tasks.length > opts.maxTasks) {
    issues.push({
      code: 'TOO_MANY_TASKS',
      message: `the plan has ${tasks.length} tasks; at most ${opts.maxTasks} are allowed`,
    });
  }

  const byId = new Map<string, PlanTaskSpec>();
  for (const t of tasks) {
    if (byId.has(t.id)) {
      issues.push({ code: 'DUPLICATE_TASK_ID', taskId: t.id, message: `task id ${t.id} is used by more than one task` });
    } else {
      byId.set(t.id, t);
    }
  }

  const active = new Set(opts.activeAgents);
  const disabled = new Set(opts.disabledAgents ?? []);
  for (const t of tasks) {
    if (!active.has(t.agent)) {
      const why = disabled.has(t.agent) ? 'is disabled' : 'does not exist';
      issues.push({
        code: 'UNKNOWN_AGENT',
        taskId: t.id,
        message: `task ${t.id} uses agent "${t.agent}", which ${why}; available agents: ${[...active].join(', ') || '(none)'}`,
      });
    }
    for (const d of t.dependencies) {
      if (d === t.id) {
        issues.push({ code: 'SELF_DEPENDENCY', taskId: t.id, message: `task ${t.id} depends on itself` });
      } else if (!byId.has(d)) {
        issues.push({
          code: 'UNKNOWN_DEPENDENCY',
          taskId: t.id,
          message: `task ${t.id} depends on ${d}, which is not a task of this plan`,
        });
      }
    }
  }

  for (const cycle of findCycles(tasks, byId)) {
    issues.push({ code: 'CYCLE', taskId: cycle[0], cycle, message: `dependency cycle: ${cycle.join(' → ')}` });
  }
  return issues;
}

/**
 * One cycle per strongly connected component with more than one task (Tarjan),
 * written in the direction dependency → dependent so it reads in execution
 * order. Self-loops and dangling ids are reported elsewhere and ignored here.
 */
function findCycles(tasks: readonly PlanTaskSpec[], byId: Map<string, PlanTaskSpec>): string[][] {
  const order = new Map<string, number>();
  tasks.forEach((t, i) => { if (!order.has(t.id)) order.set(t.id, i); });
  // Edges dependency → dependent, in plan order, so results are deterministic.
  const next = new Map<string, string[]>([...byId.keys()].map((id) => [id, []]));
  for (const t of byId.values()) {
    for (const d of t.dependencies) if (d !== t.id && byId.has(d)) next.get(d)!.push(t.id);
  }

  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  // Iterative Tarjan: plans are small, but a recursive version could still blow the stack on a 500-task chain.
  for (const root of byId.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ id: string; edge: number }> = [{ id: root, edge: 0 }];
    index.set(root, counter); low.set(root, counter++); stack.push(root); onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const succ = next.get(frame.id)!;
      if (frame.edge < succ.length) {
        const w = succ[frame.edge++]!;
        if (!index.has(w)) {
          index.set(w, counter); low.set(w, counter++); stack.push(w); onStack.add(w);
          work.push({ id: w, edge: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const comp: string[] = [];
        let w: string;
        do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== frame.id);
        if (comp.length > 1) components.push(comp);
      }
    }
  }

  return components
    .map((comp) => cycleWithin(new Set(comp), next, order))
    .sort((a, b) => order.get(a[0]!)! - order.get(b[0]!)!);
}

/** A shortest cycle through the component's first task (plan order), found by BFS inside the component. */
function cycleWithin(comp: Set<string>, next: Map<string, string[]>, order: Map<string, number>): string[] {
  const start = [...comp].sort((a, b) => order.get(a)! - order.get(b)!)[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of next.get(v)!) {
      if (!comp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) path.push(x);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
    }
  }
  // Unreachable for a strongly connected component; kept total for the type checker.
  return [start, start];
}
