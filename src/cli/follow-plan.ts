import { ApiRequestError, type HttpClient } from './http-client.js';
import { planEvents } from './event-stream.js';

const TERMINAL = new Set(['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled']);
const SETTLED = new Set(['completed', 'failed', 'skipped', 'cancelled']);

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface FollowOptions {
  json: boolean;
  /** What to answer when approval is needed: a fixed answer (--yes/--no), or ask. */
  decide: 'yes' | 'no' | 'ask';
  /** Asks a y/n question; null when no answer can come (stdin closed). */
  ask(question: string): Promise<boolean | null>;
}

interface PlanJson {
  id: string;
  status: string;
  summary: string | null;
  error: string | null;
  total_estimated_cost: number | null;
  total_actual_cost: number;
  decision_reason?: string | null;
  tasks: Array<{ task_id: string; status: string }>;
}

const usd = (n: unknown) => (typeof n === 'number' ? `$${n.toFixed(n < 0.01 ? 5 : 4)}` : '–');

/** `[####------] 2/5`: settled tasks over all tasks. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

/**
 * Follows a plan to its end: one line per event (or the events as NDJSON),
 * the approval question when it waits, then the final plan. Returns the
 * exit code: 0 when the plan completed, 1 otherwise.
 */
export async function followPlan(client: HttpClient, projectId: string, planId: string, opts: FollowOptions, io: Output): Promise<number> {
  const planPath = `/v1/projects/${projectId}/plans/${planId}`;
  const statuses = new Map<string, string>();
  const bar = () => progressBar([...statuses.values()].filter((s) => SETTLED.has(s)).length, statuses.size);
  const say = (line: string) => !opts.json && io.out(line);
  let decided = false;

  const events = planEvents({
    url: `${client.baseUrl}${planPath}/events`,
    token: client.token,
    isLast: (e) => e.type.startsWith('plan.') && TERMINAL.has(e.type.slice(5)),
  });
  for await (const e of events) {
    if (opts.json) io.out(JSON.stringify(e.data));
    const d = e.data;
    const task = typeof d.task_id === 'string' ? d.task_id : '';
    switch (e.type) {
      case 'plan.planning':
        say('planning…');
        break;
      case 'plan.created': {
        const tasks = (d.tasks as Array<{ id: string; agent: string; dependencies: string[] }>) ?? [];
        for (const t of tasks) statuses.set(t.id, 'pending');
        say(`plan: ${tasks.length} tasks, estimated ${usd(d.total_estimated_cost)} and ${Number(d.total_estimated_duration ?? 0).toFixed(1)} s${d.cache_hit ? ' (cached plan)' : ''}`);
        for (const t of tasks) say(`  ${t.id} (${t.agent})${t.dependencies.length ? ` after ${t.dependencies.join(', ')}` : ''}`);
        if (Array.isArray(d.critical_path)) say(`  critical path: ${(d.critical_path as string[]).join(' → ')}`);
        break;
      }
      case 'plan.pending_approval':
        say(`approval needed: ${String(d.approval_reason ?? '')} (expires ${String(d.approval_expires_at ?? 'never')})`);
        if (!decided) {
          decided = true;
          await decide(client, planPath, opts, io);
        }
        break;
      case 'plan.approved':
      case 'plan.executing':
        say(e.type === 'plan.approved' ? 'approved' : 'executing');
        break;
      case 'task.queued':
      case 'task.started':
      case 'task.completed':
      case 'task.failed':
      case 'task.skipped': {
        const status = e.type === 'task.started' ? 'running' : e.type === 'task.failed' && d.will_retry ? 'retrying' : e.type.slice(5);
        statuses.set(task, status === 'retrying' ? 'running' : status);
        const extra =
          e.type === 'task.completed' ? ` ${usd(d.actual_cost)} in ${Number(d.duration ?? 0).toFixed(1)} s`
          : e.type === 'task.failed' ? `: ${String(d.error ?? '')}${d.will_retry ? ' (will retry)' : ''}`
          : e.type === 'task.skipped' ? `: ${String(d.reason ?? '')}`
          : d.agent_name ? ` (${String(d.agent_name)})` : '';
        say(`${bar()}  ${task} ${status}${extra}`);
        break;
      }
      default:
        break;
    }
  }

  const plan = await client.get<PlanJson>(planPath);
  if (opts.json) {
    io.out(JSON.stringify(plan));
  } else {
    say(`plan ${plan.status}: actual ${usd(plan.total_actual_cost)} (estimated ${usd(plan.total_estimated_cost)})`);
    if (plan.summary) say(`\n${plan.summary}`);
  }
  if (plan.status !== 'completed') {
    const why = plan.status === 'rejected' ? `plan rejected${plan.decision_reason ? `: ${plan.decision_reason}` : ''}` : `plan ${plan.status}${plan.error ? `: ${plan.error}` : ''}`;
    io.err(why);
    return 1;
  }
  return 0;
}

async function decide(client: HttpClient, planPath: string, opts: FollowOptions, io: Output): Promise<void> {
  let approve: boolean | null = opts.decide === 'yes' ? true : opts.decide === 'no' ? false : await opts.ask('Approve this plan? [y/N] ');
  if (approve === null) {
    io.err('no answer on stdin: rejecting the plan (use --yes or --no in scripts)');
    approve = false;
  }
  try {
    if (approve) await client.post(`${planPath}/approve`);
    else await client.post(`${planPath}/reject`, { reason: opts.decide === 'no' ? 'rejected with --no' : 'rejected at the prompt' });
  } catch (err) {
    // 409: it expired or was decided elsewhere meanwhile; the stream tells how it ends.
    if (err instanceof ApiRequestError && err.status === 409) io.err(`could not ${approve ? 'approve' : 'reject'}: ${err.message}`);
    else throw err;
  }
}

