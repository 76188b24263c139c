/** The shape of a plan as far as its graph is concerned. */
export interface DagTask {
  id: string;
  dependencies: readonly string[];
}

export interface PlanAnalysis {
  /** Tasks grouped by level: level 0 has no dependencies, level n waits for something at level n-1. Plan order within a level. */
  levels: string[][];
  levelOf: Map<string, number>;
  /** Task ids of the longest path by estimated duration, in execution order. */
  criticalPath: string[];
  /** Sum of the estimated durations along the critical path (seconds): the plan's duration with unlimited parallelism. */
  criticalPathDuration: number;
  /**
   * The largest level: how many tasks are ready together when each level
   * starts at once. (A lower bound of the true maximum antichain; it is what
   * the scheduler can actually exploit level by level.)
   */
  maxParallelWidth: number;
  /** Tasks in an order where every task comes after its dependencies. */
  topologicalOrder: string[];
}

/**
 * Levels, critical path and width of a validated plan. Throws on a cycle or an
 * unknown dependency: callers validate first, so that is a programming error.
 *
 * @param durationOf estimated duration of a task in seconds (missing = 0)
 */
export function analysePlan(tasks: readonly DagTask[], durationOf: (id: string) => number): PlanAnalysis {
  const position = new Map(tasks.map((t, i) => [t.id, i]));
  const dependents = new Map<string, string[]>(tasks.map((t) => [t.id, []]));
  const missing = new Map<string, number>();
  for (const t of tasks) {
    for (const d of t.dependencies) {
      const list = dependents.get(d);
      if (!list) throw new Error(`task ${t.id} depends on unknown task ${d}`);
      list.push(t.id);
    }
    missing.set(t.id, t.dependencies.length);
  }

  // Kahn's algorithm, taking ready tasks in plan order so results are stable.
  const order: string[] = [];
  let ready = tasks.filter((t) => t.dependencies.length === 0).map((t) => t.id);
  while (ready.length > 0) {
    order.push(...ready);
    const next: string[] = [];
    for (const id of ready) {
      for (const w of dependents.get(id)!) {
        const left = missing.get(w)! - 1;
        missing.set(w, left);
        if (left === 0) next.push(w);
      }
    }
    ready = next.sort((a, b) => position.get(a)! - position.get(b)!);
  }
  if (order.length !== tasks.length) throw new Error('the plan has a dependency cycle');

  const byId = new Map(tasks.map((t) => [t.id, t]));
  const levelOf = new Map<string, number>();
  // finish = longest duration of a path ending with this task; via = the dependency it came through.
  const finish = new Map<string, number>();
  const via = new Map<string, string>();
  for (const id of order) {
    let level = 0;
    let start = 0;
    let from: string | undefined;
    for (const d of byId.get(id)!.dependencies) {
      level = Math.max(level, levelOf.get(d)! + 1);
      const f = finish.get(d)!;
      // Ties go to the dependency listed first, for determinism.
      if (from === undefined || f > start) {
        start = f;
        from = d;
      }
    }
    levelOf.set(id, level);
    finish.set(id, start + Math.max(0, durationOf(id) || 0));
    if (from !== undefined) via.set(id, from);
  }

  const levels: string[][] = [];
  for (const t of tasks) (levels[levelOf.get(t.id)!] ??= []).push(t.id);

  let end: string | undefined;
  for (const t of tasks) if (end === undefined || finish.get(t.id)! > finish.get(end)!) end = t.id;
  const criticalPath: string[] = [];
  for (let x = end; x !== undefined; x = via.get(x)) criticalPath.unshift(x);

  return {
    levels,
    levelOf,
    criticalPath,
    criticalPathDuration: end === undefined ? 0 : finish.get(end)!,
    maxParallelWidth: levels.reduce((m, l) => Math.max(m, l.length), 0),
    topologicalOrder: order,
  };
}
