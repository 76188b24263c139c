/**
 * What the engine's parallelism buys: the same random DAGs run once with the
 * project's parallelism (max_parallel_tasks = --parallel) and once one task at
 * a time (max_parallel_tasks: 1), on a spawned worker process.
 * Run: npx tsx bench/parallel-speedup.ts --help
 */
import { parseArgs } from 'node:util';
import { benchEnv, fmt, machine, printTable, quantile, writeResult } from './lib.js';
import { seedPlan, seedProject, seedUser, taskRows, waitForPlan, type SeedTask } from '../test/helpers/seed.js';
import { depth, randomDag, rng, type Shape } from '../test/helpers/random-dag.js';
import { spawnService } from '../test/helpers/processes.js';
import { createPlanControl } from '../src/engine/plan-control.js';

const HELP = `Usage: npx tsx bench/parallel-speedup.ts [options]

The same random DAGs run twice on one worker process with simulated calls of
L ms each: with the engine's parallelism (project max_parallel_tasks =
--parallel) and one task at a time (max_parallel_tasks: 1). Per DAG and
overall: both makespans (plan start to last task completion), the speedup
(sequential ÷ parallel) and the ideal speedup, sum of task times ÷ critical
path = tasks ÷ critical-path length (all tasks take L).

Options:
  --dags N            random DAGs (default 10)
  --min-tasks N       fewest tasks per DAG (default 20)
  --max-tasks N       most tasks per DAG (default 30)
  --latency MS        simulated latency per task, L (default 100)
  --parallel N        max_parallel_tasks of the parallel run (default 64)
  --seed N            first seed (default 9100); DAG i uses seed + i
  --instances N       agent Worker instances in the worker process (default 8)
  --concurrency N     slots per instance (default 8)
  -h, --help`;

const { values } = parseArgs({
  options: {
    dags: { type: 'string', default: '10' },
    'min-tasks': { type: 'string', default: '20' },
    'max-tasks': { type: 'string', default: '30' },
    latency: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '64' },
    seed: { type: 'string', default: '9100' },
    instances: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const L = Number(values.latency);
const nDags = Number(values.dags);
const minTasks = Number(values['min-tasks']);
const maxTasks = Number(values['max-tasks']);
const parallel = Number(values.parallel);
const seed0 = Number(values.seed);
if (!(nDags >= 1 && minTasks >= 1 && maxTasks >= minTasks && L >= 0 && parallel >= 1)) {
  console.error('invalid options (need dags ≥ 1, 1 ≤ min-tasks ≤ max-tasks, latency ≥ 0, parallel ≥ 1)');
  process.exit(2);
}

// Mixed shapes with real parallelism and real dependencies (a chain or a lone fan-out says little).
const SHAPES: Shape[] = ['random', 'layered', 'diamond', 'random', 'layered'];
const dags = Array.from({ length: nDags }, (_, i) => {
  const seed = seed0 + i;
  const n = minTasks + Math.floor(rng(seed * 7919)() * (maxTasks - minTasks + 1));
  const d = randomDag(seed, maxTasks, undefined, { tasks: n, shape: SHAPES[i % SHAPES.length]! });
  const tasks: SeedTask[] = d.tasks.map((t) => ({ id: t.id, deps: t.deps, agent: t.agent }));
  return { name: `#${i + 1} ${d.shape} (seed ${seed})`, tasks, cp: depth(tasks) };
});

const b = await benchEnv('speedup', {
  USER_MAX_RUNNING_TASKS: '10000',
  AGENT_WORKER_INSTANCES: values.instances!,
  WORKER_CONCURRENCY: values.concurrency!,
});
const proc = spawnService(b.env, ['--workers']);
try {
  const control = createPlanControl(b.deps);
  const userId = await seedUser(b.deps.db, 'bench');
  const par = { userId, ...(await seedProject(b.deps.db, userId, { max_parallel_tasks: parallel })) };
  const seq = { userId, ...(await seedProject(b.deps.db, userId, { max_parallel_tasks: 1 })) };

  const run = async (owner: typeof par, tasks: SeedTask[], latency: number) => {
    const planId = await seedPlan(b.deps.db, owner, tasks.map((t) => ({ ...t, sim: { latency_ms: latency, output_tokens: 50 } })));
    await control.startExecution(planId);
    const status = await waitForPlan(b.deps.db, planId, { timeoutMs: 600_000 });
    if (status !== 'completed') throw new Error(`plan ${planId} ended ${status}`);
    const plan = await b.deps.db.selectFrom('task_plans').select(['started_at']).where('id', '=', planId).executeTakeFirstOrThrow();
    const rows = await taskRows(b.deps.db, planId);
    const end = Math.max(...rows.map((x) => x.completed_at!.getTime()));
    const busy = rows.reduce((s, x) => s + (x.completed_at!.getTime() - x.started_at!.getTime()), 0);
    // The most tasks running at once (from started_at/completed_at), to show the sequential run really was sequential.
    const marks = rows.flatMap((x) => [[x.started_at!.getTime(), 1] as const, [x.completed_at!.getTime(), -1] as const]);
    marks.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    let cur = 0;
    let peak = 0;
    for (const [, d] of marks) peak = Math.max(peak, (cur += d));
    return { makespan: end - plan.started_at!.getTime(), busy, peak };
  };

  // Warm-up on both projects: the worker process loads, connects and JITs.
  for (const owner of [par, seq]) await run(owner, [{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }], 1);

  const rows: Array<Record<string, string | number>> = [];
  const results: Array<Record<string, unknown>> = [];
  let sumPar = 0;
  let sumSeq = 0;
  let sumIdealNum = 0;
  let sumIdealDen = 0;
  for (const d of dags) {
    const p = await run(par, d.tasks, L);
    const s = await run(seq, d.tasks, L);
    const ideal = d.tasks.length / d.cp;
    sumPar += p.makespan;
    sumSeq += s.makespan;
    sumIdealNum += d.tasks.length * L;
    sumIdealDen += d.cp * L;
    const r = {
      dag: d.name,
      tasks: d.tasks.length,
      'critical path': d.cp,
      'parallel ms': p.makespan,
      'sequential ms': s.makespan,
      speedup: s.makespan / p.makespan,
      ideal,
      'speedup ÷ ideal': s.makespan / p.makespan / ideal,
      'parallel ÷ (CP×L)': L > 0 ? p.makespan / (d.cp * L) : NaN,
      'sequential ÷ (n×L)': L > 0 ? s.makespan / (d.tasks.length * L) : NaN,
      'peak running (par/seq)': `${p.peak}/${s.peak}`,
    };
    rows.push(r);
    results.push({ ...r, parallel_busy_ms: p.busy, sequential_busy_ms: s.busy });
    console.log(`${d.name}: parallel ${p.makespan} ms, sequential ${s.makespan} ms, speedup ${fmt(s.makespan / p.makespan)} (ideal ${fmt(ideal)})`);
  }
  const speedups = rows.map((r) => r.speedup as number);
  const overall = {
    'total parallel ms': sumPar,
    'total sequential ms': sumSeq,
    'overall speedup': sumSeq / sumPar,
    'overall ideal': sumIdealNum / sumIdealDen,
    'median speedup': quantile(speedups, 0.5),
    'median speedup ÷ ideal': quantile(rows.map((r) => r['speedup ÷ ideal'] as number), 0.5),
  };
  console.log(`machine: ${JSON.stringify(machine())}`);
  console.log(`L = ${L} ms, parallel run: max_parallel_tasks ${parallel}; sequential run: max_parallel_tasks 1; one worker process × ${values.instances} instances × ${values.concurrency} slots`);
  printTable('Parallel speedup per DAG', rows);
  printTable('Overall (sums over the DAGs)', [overall]);
  console.log(
    `written: ${writeResult('parallel-speedup', {
      settings: { latency_ms: L, dags: nDags, min_tasks: minTasks, max_tasks: maxTasks, parallel, seed: seed0, instances: Number(values.instances), concurrency: Number(values.concurrency) },
      rows: results,
      overall,
    })}`,
  );
} finally {
  await proc.stop();
  await b.cleanup();
}
