import { seconds, usd } from '../api.js';
import type { Task } from '../types.js';

/** The selected task: what it is, its estimate next to its actual cost, and its output (streamed, then final). */
export function TaskDetail({ task, streamed }: { task: Task; streamed: string }) {
  const output = task.result ?? (streamed || null);
  return (
    <div class="task-detail" data-testid="task-detail">
      <h4>
        {task.task_id} <span class={`badge status-${task.status}`}>{task.status}</span> <span class="muted">{task.agent_name}</span>
      </h4>
      <p>{task.description}</p>
      <p class="muted">
        estimate {usd(task.estimated_cost)} · {seconds(task.estimated_duration)} · actual {usd(task.actual_cost)} · risk {task.risk_level}
        {task.attempts > 1 ? ` · ${task.attempts} attempts` : ''}
        {task.dependencies.length ? ` · after ${task.dependencies.join(', ')}` : ''}
      </p>
      {output && <pre class="task-output">{output}</pre>}
      {task.error && <p class="plan-error">{task.error}</p>}
    </div>
  );
}
