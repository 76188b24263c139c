/**
 * How good the planner's cost estimates are, and how much the per-agent
 * history in llm_calls improves them: plans made by the real planner and run
 * by the real engine, with output lengths drawn per agent from heavy-tailed
 * log-normal distributions that the estimator does not see.
 * Run: npx tsx bench/estimate-accuracy.ts --help
 */
import { parseArgs } from 'node:util';
import { benchEnv, fmt, machine, printTable, quantile, writeResult } from './lib.js';
import { seedProject, seedUser, taskRows, waitForPlan } from '../test/helpers/seed.js';
import { rng } from '../test/helpers/random-dag.js';
import { appendEvents } from '../src/events/event-log.js';
import { jobOptions, QUEUE } from '../src/queues/catalog.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import { createPlannerProcessor } from '../workers/planner.js';
import { createWorkers } from '../workers/index.js';
import { MIN_HISTORY_CALLS } from '../src/core/plan/estimate.js';

const HELP = `Usage: npx tsx bench/estimate-accuracy.ts [options]

Plans (3-8 tasks, random agents and dependencies) are scripted \`\`\`plan requests
made one after another by the real planner processor (workers/planner.ts:
parse, validate, the llm_calls history query, estimatePlan) and run by the
real engine (in-process agent, gate and finalize workers, simulated provider,
latency 0). Each task's output length is drawn from a log-normal distribution
of its agent (median and sigma per agent, capped at the agent's
max_output_tokens, seeded PRNG).

The estimator must not see the drawn lengths: estimatePlan uses a task's
sim.output_tokens as its estimate when the provider is simulated. So the
scripted plan carries no output_tokens; the bench writes the drawn length
into the task rows' sim column after the planner has committed its estimate
(in the planner's onPlanCreated hook, before the plan is dispatched). The
engine's simulated call then reports that many output tokens, as a real
model's answer length is only known after the call.

Reports the median absolute percentage error (|estimate - actual| / actual)
of task cost and plan cost, for the first --first plans (no or little
history: 0.5 x max_output_tokens) and the last --last plans (history of
every agent), and the share of plans whose actual cost stayed at or below
the estimate. Plan cost is task_plans.total_estimated_cost (planning call +
tasks) against total_actual_cost (every llm_calls row of the plan, which
includes the manager's summary call after the tasks, purpose 'synthesis', which
no estimate contains: its median share of the actual cost is a column);
"tasks only" compares the sums of the tasks' estimated_cost and actual_cost.

Options:
  --plans N        plans (default 200)
  --first N        the early window (default 20)
  --last N         the late window (default 100)
  --seed N         PRNG seed (default 4242)
  --instances N    agent Worker instances in process (default 2)
  -h, --help`;

const { values } = parseArgs({
  options: {
    plans: { type: 'string', default: '200' },
    first: { type: 'string', default: '20' },
    last: { type: 'string', default: '100' },
    seed: { type: 'string', default: '4242' },
    instances: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const nPlans = Number(values.plans);
const nFirst = Number(values.first);
const nLast = Number(values.last);
if (!(nPlans >= 1 && nFirst >= 1 && nLast >= 1 && nFirst <= nPlans && nLast <= nPlans)) {
  console.error('invalid options: need 1 ≤ first, last ≤ plans');
  process.exit(2);
}

/** Output length per agent: log-normal with this median (tokens) and sigma (of the log). */
const LENGTHS: Record<string, { median: number; sigma: number }> = {
  researcher: { median: 600, sigma: 0.8 },
  coder: { median: 1100, sigma: 1.0 },
  writer: { median: 900, sigma: 0.5 },
  reviewer: { median: 250, sigma: 0.7 },
  analyst: { median: 350, sigma: 1.2 },
};
const AGENTS = Object.keys(LENGTHS);

const r = rng(Number(values.seed));
const normal = () => {
  // Box-Muller; 1 - r() keeps the log away from 0.
  const u = 1 - r();
  const v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
};

interface Draft {
  tasks: Array<{ id: string; description: string; agent: string; dependencies: string[] }>;
  lengths: number[];
}

const b = await benchEnv('estacc', {
  USER_MAX_RUNNING_TASKS: '10000',
  USER_DAILY_BUDGET_USD: '0',
  AGENT_WORKER_INSTANCES: values.instances!,
  SIMULATED_LATENCY_MS: '0',
});
const workers = createWorkers(b.deps, { queues: [QUEUE.agents, QUEUE.gates, QUEUE.finalize], reconcile: false });
try {
  const db = b.deps.db;
  const control = createPlanControl(b.deps);
  const userId = await seedUser(db, 'bench');
  const owner = { userId, ...(await seedProject(db, userId, { approval_threshold_usd: 1000, max_parallel_tasks: 64 })) };
  const agentRows = await db.selectFrom('user_agents').select(['name', 'config']).where('project_id', '=', owner.projectId).execute();
  const maxOut = new Map(agentRows.map((a) => [a.name, a.config.max_output_tokens]));
  for (const a of AGENTS) if (!maxOut.has(a)) throw new Error(`the starter pack has no agent ${a}`);

  let capped = 0;
  let drawnCount = 0;
  const draft = (k: number): Draft => {
    const n = 3 + Math.floor(r() * 6);
    const tasks: Draft['tasks'] = [];
    const lengths: number[] = [];
    for (let i = 0; i < n; i++) {
      const agent = AGENTS[Math.floor(r() * AGENTS.length)]!;
      const dependencies = Array.from({ length: i }, (_, j) => `t${j}`).filter(() => r() < 0.35);
      const words = 8 + Math.floor(r() * 30);
      const description = `Request ${k}, step ${i}: ${Array.from({ length: words }, (_, w) => ['examine', 'the', 'data', 'report', 'findings', 'on', 'part', `${(k * 31 + i * 7 + w) % 97}`][w % 8]).join(' ')}.`;
      const p = LENGTHS[agent]!;
      const drawn = Math.round(p.median * Math.exp(p.sigma * normal()));
      const len = Math.max(1, Math.min(drawn, maxOut.get(agent)!));
      if (len < drawn) capped++;
      drawnCount++;
      tasks.push({ id: `t${i}`, description, agent, dependencies });
      lengths.push(len);
    }
    return { tasks, lengths };
  };

  // planId → the drawn lengths, written into the task rows once the estimate is committed.
  const pending = new Map<string, Draft>();
  const processor = createPlannerProcessor(b.deps, {
    onPlanCreated: async (planId) => {
      const d = pending.get(planId);
      if (!d) throw new Error(`no drawn lengths for plan ${planId}`);
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < d.tasks.length; i++) {
          await trx
            .updateTable('task_plan_tasks')
            .set({ sim: JSON.stringify({ latency_ms: 0, output_tokens: d.lengths[i] }) })
            .where('plan_id', '=', planId)
            .where('task_id', '=', d.tasks[i]!.id)
            .execute();
        }
      });
      await control.dispatch(planId);
    },
    // No plan cache: every plan is planned (and estimated) afresh.
  });

  interface PlanResult {
    index: number;
    estimated: number;
    actual: number;
    tasksEstimated: number;
    tasksActual: number;
    taskApe: number[];
    outputApe: number[];
    historyTasks: number;
    tasks: number;
    /** The manager's summary call after the tasks: in the actual cost, in no estimate. */
    synthesisShare: number;
  }
  const results: PlanResult[] = [];
  const okCalls = new Map<string, number>();
  const bySource: Record<'default' | 'history', Array<{ costApe: number; outputApe: number; under: boolean }>> = { default: [], history: [] };
  const started = Date.now();
  for (let k = 0; k < nPlans; k++) {
    const d = draft(k);
    const scripted = { tasks: d.tasks.map((t) => ({ ...t, sim: { latency_ms: 0 } })) };
    const request = `Estimate-accuracy request ${k}.\n\n\`\`\`plan\n${JSON.stringify(scripted)}\n\`\`\``;
    const planId = await db.transaction().execute(async (trx) => {
      const session = await trx.insertInto('chat_sessions').values({ user_id: userId, project_id: owner.projectId, topic: null }).returning('id').executeTakeFirstOrThrow();
      const p = await trx
        .insertInto('task_plans')
        .values({ user_id: userId, project_id: owner.projectId, session_id: session.id, original_request: request, status: 'planning', critical_path: '[]' })
        .returning('id')
        .executeTakeFirstOrThrow();
      await appendEvents(trx, p.id, [{ type: 'plan.planning' }]);
      return p.id;
    });
    pending.set(planId, d);
    const out = await processor({ data: { planId }, attemptsMade: 0, opts: jobOptions.planner() });
    if (out.outcome !== 'created' || out.requiresApproval) throw new Error(`plan ${k} was not created without approval: ${JSON.stringify(out)}`);
    const status = await waitForPlan(db, planId, { timeoutMs: 60_000 });
    if (status !== 'completed') throw new Error(`plan ${k} (${planId}) ended ${status}`);
    const plan = await db.selectFrom('task_plans').select(['total_estimated_cost', 'total_actual_cost']).where('id', '=', planId).executeTakeFirstOrThrow();
    const rows = await taskRows(db, planId);
    const byPurpose = await db
      .selectFrom('llm_calls')
      .select(['purpose', (eb) => eb.fn.sum<number>('cost').as('cost')])
      .where('plan_id', '=', planId)
      .groupBy('purpose')
      .execute();
    const costOf = (p: string) => Number(byPurpose.find((x) => x.purpose === p)?.cost ?? 0);
    // Whether the agent had MIN_HISTORY_CALLS ok task calls before this plan (the estimator's rule; plans run one at a time).
    const fromHistory = rows.map((t) => (okCalls.get(t.agent_name) ?? 0) >= MIN_HISTORY_CALLS);
    const historyTasks = fromHistory.filter(Boolean).length;
    rows.forEach((t, i) =>
      bySource[fromHistory[i] ? 'history' : 'default'].push({
        costApe: Math.abs(Number(t.estimated_cost) - Number(t.actual_cost)) / Number(t.actual_cost),
        outputApe: Math.abs(t.estimated_output_tokens - t.output_tokens) / t.output_tokens,
        under: Number(t.actual_cost) <= Number(t.estimated_cost),
      }),
    );
    for (const t of rows) okCalls.set(t.agent_name, (okCalls.get(t.agent_name) ?? 0) + 1);
    results.push({
      index: k,
      estimated: Number(plan.total_estimated_cost),
      actual: Number(plan.total_actual_cost),
      tasksEstimated: rows.reduce((s, t) => s + Number(t.estimated_cost), 0),
      tasksActual: rows.reduce((s, t) => s + Number(t.actual_cost), 0),
      taskApe: rows.map((t) => Math.abs(Number(t.estimated_cost) - Number(t.actual_cost)) / Number(t.actual_cost)),
      outputApe: rows.map((t) => Math.abs(t.estimated_output_tokens - t.output_tokens) / t.output_tokens),
      historyTasks,
      tasks: rows.length,
      synthesisShare: costOf('synthesis') / Number(plan.total_actual_cost),
    });
    pending.delete(planId);
    if ((k + 1) % 50 === 0) console.log(`${k + 1}/${nPlans} plans, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }

  const pct = (x: number) => `${fmt(100 * x, 1)}%`;
  const windowRow = (name: string, rs: PlanResult[]) => {
    const ape = (e: number, a: number) => Math.abs(e - a) / a;
    return {
      window: name,
      plans: rs.length,
      tasks: rs.reduce((s, x) => s + x.tasks, 0),
      'tasks estimated from history': pct(rs.reduce((s, x) => s + x.historyTasks, 0) / rs.reduce((s, x) => s + x.tasks, 0)),
      'task cost MdAPE': pct(quantile(rs.flatMap((x) => x.taskApe), 0.5)),
      'output tokens MdAPE': pct(quantile(rs.flatMap((x) => x.outputApe), 0.5)),
      'plan cost MdAPE': pct(quantile(rs.map((x) => ape(x.estimated, x.actual)), 0.5)),
      'plan cost MdAPE (tasks only)': pct(quantile(rs.map((x) => ape(x.tasksEstimated, x.tasksActual)), 0.5)),
      'actual ≤ estimate': pct(rs.filter((x) => x.actual <= x.estimated).length / rs.length),
      'actual ≤ estimate (tasks only)': pct(rs.filter((x) => x.tasksActual <= x.tasksEstimated).length / rs.length),
      'median actual ÷ estimate': fmt(quantile(rs.map((x) => x.actual / x.estimated), 0.5), 3),
      'synthesis share of actual (median)': pct(quantile(rs.map((x) => x.synthesisShare), 0.5)),
    };
  };
  const table = [
    windowRow(`first ${nFirst}`, results.slice(0, nFirst)),
    windowRow(`last ${nLast}`, results.slice(-nLast)),
    windowRow('all', results),
  ];
  const sourceTable = (['default', 'history'] as const).map((src) => {
    const xs = bySource[src];
    return {
      'output estimate from': src === 'default' ? `default (0.5 × max_output_tokens, < ${MIN_HISTORY_CALLS} calls)` : 'agent history (mean of ok task calls)',
      tasks: xs.length,
      'task cost MdAPE': pct(quantile(xs.map((x) => x.costApe), 0.5)),
      'output tokens MdAPE': pct(quantile(xs.map((x) => x.outputApe), 0.5)),
      'task actual ≤ estimate': xs.length ? pct(xs.filter((x) => x.under).length / xs.length) : '–',
    };
  });
  const seconds = (Date.now() - started) / 1000;
  console.log(`machine: ${JSON.stringify(machine())}`);
  console.log(`${nPlans} plans in ${fmt(seconds, 1)} s; ${drawnCount} tasks, ${capped} drawn lengths capped at max_output_tokens`);
  console.log(`output lengths per agent (log-normal): ${AGENTS.map((a) => `${a} median ${LENGTHS[a]!.median} σ ${LENGTHS[a]!.sigma} cap ${maxOut.get(a)}`).join('; ')}`);
  printTable('Estimate error (MdAPE = median |estimate − actual| ÷ actual)', table);
  printTable('Tasks by where the output estimate came from', sourceTable);
  console.log(
    `written: ${writeResult('estimate-accuracy', {
      settings: { plans: nPlans, first: nFirst, last: nLast, seed: Number(values.seed), lengths: LENGTHS, capped, tasks: drawnCount, seconds },
      rows: table,
      by_source: sourceTable,
    })}`,
  );
} finally {
  await workers.close();
  await b.cleanup();
}
