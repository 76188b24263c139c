/**
 * Lays a task DAG out in columns by dependency level (a task's level is the
 * longest chain of dependencies before it), rows ordered so that a task sits
 * near its dependencies. Pure: positions in SVG user units.
 */

export interface GraphInput {
  task_id: string;
  dependencies: string[];
}

export interface NodeBox {
  id: string;
  level: number;
  x: number;
  y: number;
}

export interface GraphLayout {
  nodes: NodeBox[];
  edges: Array<{ from: string; to: string }>;
  width: number;
  height: number;
}

export const NODE_W = 176;
export const NODE_H = 58;
const COL_GAP = 72;
const ROW_GAP = 22;
const PAD = 12;

/** Level of every task; dependencies on unknown tasks are ignored, and a cycle cannot hang the page. */
export function levelsOf(tasks: GraphInput[]): Map<string, number> {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let l = 0;
    for (const d of byId.get(id)?.dependencies ?? []) if (byId.has(d)) l = Math.max(l, visit(d) + 1);
    visiting.delete(id);
    level.set(id, l);
    return l;
  };
  for (const t of tasks) visit(t.task_id);
  return level;
}

export function layoutGraph(tasks: GraphInput[]): GraphLayout {
  const level = levelsOf(tasks);
  const columns: string[][] = [];
  for (const t of tasks) (columns[level.get(t.task_id) ?? 0] ??= []).push(t.task_id);
  const row = new Map<string, number>();
  const deps = new Map(tasks.map((t) => [t.task_id, t.dependencies]));
  columns.forEach((col, i) => {
    if (i > 0) {
      // Barycentre of the dependencies' rows keeps edges short and mostly uncrossed.
      const centre = (id: string) => {
        const rs = (deps.get(id) ?? []).map((d) => row.get(d)).filter((r): r is number => r !== undefined);
        return rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : 0;
      };
      col.sort((a, b) => centre(a) - centre(b) || a.localeCompare(b));
    }
    col.forEach((id, r) => row.set(id, r));
  });
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  const nodes: NodeBox[] = [];
  columns.forEach((col, i) => {
    const colHeight = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    const top = (height - colHeight) / 2;
    col.forEach((id, r) => nodes.push({ id, level: i, x: PAD + i * (NODE_W + COL_GAP), y: top + r * (NODE_H + ROW_GAP) }));
  });
  const edges = tasks.flatMap((t) => t.dependencies.filter((d) => deps.has(d)).map((d) => ({ from: d, to: t.task_id })));
  const width = PAD * 2 + Math.max(1, columns.length) * NODE_W + Math.max(0, columns.length - 1) * COL_GAP;
  return { nodes, edges, width, height };
}
