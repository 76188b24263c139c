import { layoutGraph, NODE_H, NODE_W } from './layout.js';
import type { Task } from '../types.js';

interface Props {
  tasks: Task[];
  criticalPath: string[];
  selected: string | null;
  onSelect(taskId: string): void;
}

/** The plan as a graph: one column per dependency level, SVG edges, nodes coloured by status, the critical path outlined. */
export function PlanGraph({ tasks, criticalPath, selected, onSelect }: Props) {
  const layout = layoutGraph(tasks);
  const pos = new Map(layout.nodes.map((n) => [n.id, n]));
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  const critical = new Set(criticalPath);
  const criticalEdge = new Set(criticalPath.slice(1).map((id, i) => `${criticalPath[i]}>${id}`));
  return (
    <svg
      class="plan-graph"
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      width={layout.width}
      height={layout.height}
      role="img"
      aria-label={`Plan graph: ${tasks.length} tasks`}
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
        </marker>
      </defs>
      {layout.edges.map(({ from, to }) => {
        const a = pos.get(from)!;
        const b = pos.get(to)!;
        const x1 = a.x + NODE_W;
        const y1 = a.y + NODE_H / 2;
        const x2 = b.x;
        const y2 = b.y + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        const isCritical = criticalEdge.has(`${from}>${to}`);
        return (
          <path
            key={`${from}>${to}`}
            class={`edge${isCritical ? ' critical' : ''} edge-${byId.get(from)?.status ?? 'pending'}`}
            data-edge={`${from}>${to}`}
            d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2 - 2} ${y2}`}
            marker-end="url(#arrow)"
          />
        );
      })}
      {layout.nodes.map((n) => {
        const t = byId.get(n.id)!;
        return (
          <g
            key={n.id}
            class={`node status-${t.status}${critical.has(n.id) ? ' critical' : ''}${selected === n.id ? ' selected' : ''}`}
            data-task-id={n.id}
            data-status={t.status}
            data-level={n.level}
            transform={`translate(${n.x} ${n.y})`}
            onClick={() => onSelect(n.id)}
            tabIndex={0}
            onKeyDown={(e) => e.key === 'Enter' && onSelect(n.id)}
          >
            <title>{`${t.task_id} (${t.agent_name}): ${t.description}`}</title>
            <rect width={NODE_W} height={NODE_H} rx="8" />
            <text x="10" y="21" class="node-id">{clip(t.task_id, 18)}</text>
            <text x="10" y="39" class="node-agent">{clip(t.agent_name, 22)}</text>
            <text x={NODE_W - 10} y="21" class="node-status" text-anchor="end">{t.status}</text>
            {t.status === 'running' && <rect class="node-pulse" x="0" y={NODE_H - 4} width={NODE_W} height="4" rx="2" />}
          </g>
        );
      })}
    </svg>
  );
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
