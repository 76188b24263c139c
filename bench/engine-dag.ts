import { parseArgs } from 'node:util';
import { benchEnv, fmt, printTable, quantile, writeResult, machine } from './lib.js';
import { seedPlan, seedProject, seedUser, taskRows, waitForPlan, type SeedTask } from '../test/helpers/seed.js';
import { randomDag, depth, type Shape } from '../test/helpers/random-dag.js';
import { spawnService } from '../test/helpers/processes.js';
import { createPlanControl } from '../src/engine/plan-control.js';

const HELP = `Usage: npx tsx bench/engine-dag.ts [options]

DAG overhead of the execution engine: simulated calls of L ms, one plan at a
time on worker process(es) of the project. Prints, per shape: makespan ÷
(critical path × L), the dependency-release delay (a task's start minus its
last dependency's completion) p50/p99, and, when the width exceeds the worker
slots, the ratio against the list-scheduling bound max(CP, ceil(n/m)) × L.

Options:
  --latency MS        simulated latency per task (default 100)
  --repeat N          runs per shape (default 3)
  --random N          random DAGs of exactly 30 tasks, shapes random/layered/diamond
                      in turn, seeds 7000.. (default 5)
  --workers N         worker processes (default 1)
  --instances N       agent Worker instances per process (default 8)
  --concurrency N     slots per instance (default 8)
  -h, --help`;

const { values } = parseArgs({
  options: {
    latency: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '3' },
    random: { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
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
const slots = Number(values.workers) * Number(values.instances) * Number(values.concurrency);

const chain = (n: number): SeedTask[] => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, deps: i ? [`c${i - 1}`] : [] }));
const fanOut = (n: number): SeedTask[] => [{ id: 'src' }, ...Array.from({ length: n }, (_, i) => ({ id: `f${i}`, deps: ['src'] }))];
const fanIn = (n: number): SeedTask[] => [...Array.from({ length: n }, (_, i) => ({ id: `f${i}` })), { id: 'sink', deps: Array.from({ length: n }, (_, i) => `f${i}`) }];
const layeredDiamond = (levels: number, width: number): SeedTask[] => {
  const t: SeedTask[] = [{ id: 'root' }];
  for (let l = 0; l < levels; l++)
    for (let w = 0; w < width; w++)
      t.push({ id: `l${l}w${w}`, deps: l === 0 ? ['root'] : [`l${l - 1}w${w}`, `l${l - 1}w${(w + 1) % width}`] });
  t.push({ id: 'join', deps: Array.from({ length: width }, (_, w) => `l${levels - 1}w${w}`) });
  return t;
};
const widthOf = (tasks: SeedTask[]) => {
  const level = new Map<string, number>();
  for (const t of tasks) level.set(t.id, Math.max(0, ...(t.deps ?? []).map((d) => level.get(d)! + 1)));
  const counts = new Map<number, number>();
  for (const l of level.values()) counts.set(l, (counts.get(l) ?? 0) + 1);
  return Math.max(...counts.values());
};

const RANDOM_SHAPES: Shape[] = ['random', 'layered', 'diamond'];
const shapes: Array<{ name: string; tasks: SeedTask[] }> = [
  { name: 'chain of 10', tasks: chain(10) },
  { name: 'fan-out of 50', tasks: fanOut(50) },
  { name: 'fan-in of 50', tasks: fanIn(50) },
  { name: 'layered diamond 5×8', tasks: layeredDiamond(5, 8) },
  // Exactly 30 tasks each, the shapes in turn (seed 7000 + i), so they are mixed shapes, not whatever a seed search finds.
  ...Array.from({ length: Number(values.random) }, (_, i) => {
    const shape = RANDOM_SHAPES[i % RANDOM_SHAPES.length]!;
    const d = randomDag(7000 + i, 30, undefined, { tasks: 30, shape });
    return { name: `random 30-task #${i + 1} (${d.shape}, seed ${7000 + i})`, tasks: d.tasks.map((t) => ({ id: t.id, deps: t.deps })) };
  }),
];

// The engine's orchestration alone: no project-memory search or write per task.
const b = await benchEnv('dag', {
  USER_MAX_RUNNING_TASKS: '10000',
  AGENT_WORKER_INSTANCES: values.instances!,
  WORKER_CONCURRENCY: values.concurrency!,
  CONTEXT_TOP_K: '0',
  MEMORY_WRITE: 'false',
});
const procs = Array.from({ length: Number(values.workers) }, () => spawnService(b.env, ['--workers']));
try {
  const control = createPlanControl(b.deps);
  const userId = await seedUser(b.deps.db, 'bench');
  const owner = { userId, ...(await seedProject(b.deps.db, userId, { max_parallel_tasks: 10_000 })) };
  // Warm-up: the worker processes load and connect.
  const warm = await seedPlan(b.deps.db, owner, chain(3).map((t) => ({ ...t, sim: { latency_ms: 1 } })));
  await control.startExecution(warm);
  await waitForPlan(b.deps.db, warm, { timeoutMs: 120_000 });

  const rows: Array<Record<string, string | number>> = [];
  const allReleases: number[] = [];
  let worst = { ms: -1, what: '' };
  for (const shape of shapes) {
    const cp = depth(shape.tasks);
    const width = widthOf(shape.tasks);
    const ratios: number[] = [];
    const bounded: number[] = [];
    const releases: number[] = [];
    for (let r = 0; r < Number(values.repeat); r++) {
      const tasks = shape.tasks.map((t) => ({ ...t, sim: { latency_ms: L, output_tokens: 50 } }));
      const planId = await seedPlan(b.deps.db, owner, tasks);
      await control.startExecution(planId);
      await waitForPlan(b.deps.db, planId, { timeoutMs: 300_000 });
      const plan = await b.deps.db.selectFrom('task_plans').select(['started_at', 'status']).where('id', '=', planId).executeTakeFirstOrThrow();
      const rowsOf = await taskRows(b.deps.db, planId);
      const byId = new Map(rowsOf.map((x) => [x.task_id, x]));
      const end = Math.max(...rowsOf.map((x) => x.completed_at!.getTime()));
      const makespan = end - plan.started_at!.getTime();
      ratios.push(makespan / (cp * L));
      bounded.push(makespan / (Math.max(cp, Math.ceil(tasks.length / slots)) * L));
      for (const t of tasks) {
        if (!t.deps?.length) continue;
        const last = Math.max(...t.deps.map((d) => byId.get(d)!.completed_at!.getTime()));
        const ms = byId.get(t.id)!.started_at!.getTime() - last;
        releases.push(ms);
        if (ms > worst.ms) worst = { ms, what: `${t.id} of ${shape.name} (plan ${planId}, attempts ${byId.get(t.id)!.attempts})` };
      }
    }
    allReleases.push(...releases);
    rows.push({
      shape: shape.name,
      tasks: shape.tasks.length,
      'critical path': cp,
      width,
      'makespan ÷ (CP×L) median': quantile(ratios, 0.5),
      'worst': Math.max(...ratios),
      'vs list bound': width > slots ? fmt(quantile(bounded, 0.5)) : 'width fits',
      'release p50 ms': quantile(releases, 0.5),
      'release p99 ms': quantile(releases, 0.99),
    });
  }
  console.log(`machine: ${JSON.stringify(machine())}`);
  console.log(`L = ${L} ms, ${values.workers} worker process(es) × ${values.instances} instances × ${values.concurrency} slots = ${slots} slots, ${values.repeat} run(s) per shape`);
  printTable('DAG overhead', rows);
  console.log(`\nslowest release: ${worst.ms} ms, ${worst.what}`);
  console.log(`all releases: p50 ${fmt(quantile(allReleases, 0.5))} ms, p99 ${fmt(quantile(allReleases, 0.99))} ms over ${allReleases.length} edges`);
  console.log(`written: ${writeResult('engine-dag', { latency_ms: L, slots, rows, release_p50_ms: quantile(allReleases, 0.5), release_p99_ms: quantile(allReleases, 0.99) })}`);
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await b.cleanup();
}
