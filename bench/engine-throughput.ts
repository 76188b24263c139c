import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Queue, QueueEvents } from 'bullmq';
import { benchEnv, printTable, writeResult, machine } from './lib.js';
import { seedPlan, seedProject, seedUser, waitForPlan, type SeedTask } from '../test/helpers/seed.js';
import { spawnService, type ServiceProcess } from '../test/helpers/processes.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import { sql } from 'kysely';
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

const HELP = `Usage: npx tsx bench/engine-throughput.ts [options]

Throughput of the whole execution path at L = 0 (simulated calls with no
latency): plans of 10 tasks, with persistence, events and metrics on, run by
1, 2 and 4 worker processes. In the same run, plain BullMQ no-op jobs per
second with the same Redis and the same worker layout.

Options:
  --plans N          plans per run (default 1000)
  --processes LIST   worker process counts (default 1,2,4)
  --instances N      agent Worker instances per process (default 8)
  --concurrency N    slots per instance (default 8)
  --plain N          plain BullMQ jobs (default 10000)
  -h, --help`;

const { values } = parseArgs({
  options: {
    plans: { type: 'string', default: '1000' },
    processes: { type: 'string', default: '1,2,4' },
    instances: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    plain: { type: 'string', default: '10000' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const PLANS = Number(values.plans);
// 10 tasks: two chains of 5 joined pairwise (a ladder), so releases and parallelism both happen.
const shape: SeedTask[] = Array.from({ length: 10 }, (_, i) => ({
  id: `t${i}`,
  deps: i >= 2 ? [`t${i - 2}`, ...(i % 2 ? [`t${i - 1}`] : [])] : [],
  sim: { latency_ms: 0, output_tokens: 20 },
}));

async function plainBullmq(env: Record<string, string>, processes: number): Promise<number> {
  const n = Number(values.plain);
  const queueName = `plain-${processes}`;
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--import', 'tsx', 'bench/plain-bullmq-worker.ts', env.REDIS_URL!, env.QUEUE_PREFIX!, queueName, values.instances!, values.concurrency!], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  await Promise.all(children.map((c) => once(c.stdout!, 'data')));
  const q = new Queue(queueName, { connection: { url: env.REDIS_URL }, prefix: env.QUEUE_PREFIX });
  const events = new QueueEvents(queueName, { connection: { url: env.REDIS_URL }, prefix: env.QUEUE_PREFIX });
  await events.waitUntilReady();
  let done = 0;
  const finished = new Promise<void>((resolve) => events.on('completed', () => ++done === n && resolve()));
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'noop', data: { i: i + k }, opts: { removeOnComplete: true } })));
  }
  await finished;
  const perS = (n / (Date.now() - t0)) * 1000;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => once(c, 'exit')));
  await events.close();
  await q.obliterate({ force: true });
  await q.close();
  return perS;
}

const rows: Array<Record<string, string | number>> = [];
for (const processes of values.processes!.split(',').map(Number)) {
  const b = await benchEnv(`tp${processes}`, {
    USER_MAX_RUNNING_TASKS: '10000',
    AGENT_WORKER_INSTANCES: values.instances!,
    WORKER_CONCURRENCY: values.concurrency!,
    RECONCILE_INTERVAL_MS: '600000',
    // The engine alone: no project-memory search or write per task (with them
    // on, one project's growing memory makes every task pay a vector search;
    // see bench/README.md).
    CONTEXT_TOP_K: '0',
    MEMORY_WRITE: 'false',
  });
  const procs: ServiceProcess[] = Array.from({ length: processes }, () => spawnService(b.env, ['--workers']));
  try {
    const control = createPlanControl(b.deps);
    const userId = await seedUser(b.deps.db, 'bench');
    const owner = { userId, ...(await seedProject(b.deps.db, userId, { max_parallel_tasks: 100_000 })) };
    const warm = await seedPlan(b.deps.db, owner, shape);
    await control.startExecution(warm);
    await waitForPlan(b.deps.db, warm, { timeoutMs: 120_000 });

    const ids: string[] = [];
    for (let i = 0; i < PLANS; i++) ids.push(await seedPlan(b.deps.db, owner, shape));
    const cpu0 = procs.map((p) => cpuSeconds(p.child.pid));
    const t0 = Date.now();
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => control.startExecution(id)));
    const deadline = Date.now() + 600_000;
    for (;;) {
      const r = await sql<{ n: string }>`SELECT count(*) AS n FROM task_plans WHERE status = 'executing'`.execute(b.deps.db);
      if (Number(r.rows[0]!.n) === 0) break;
      if (Date.now() > deadline) throw new Error('throughput run did not finish');
      await new Promise((res) => setTimeout(res, 50));
    }
    const elapsed = (Date.now() - t0) / 1000;
    const workerCpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.child.pid) - cpu0[i]!, 0);
    const statuses = await sql<{ status: string; n: string }>`SELECT status, count(*) AS n FROM task_plans GROUP BY status`.execute(b.deps.db);
    const completedTasks = await sql<{ n: string }>`SELECT count(*) AS n FROM task_plan_tasks WHERE status = 'completed'`.execute(b.deps.db);
    const tasksPerS = (Number(completedTasks.rows[0]!.n) - shape.length) / elapsed;
    const plain = await plainBullmq(b.env, processes);
    rows.push({
      'worker processes': processes,
      plans: PLANS,
      'seconds': elapsed,
      'completed tasks/s': tasksPerS,
      'plans/s': PLANS / elapsed,
      'plain BullMQ jobs/s': plain,
      'engine ÷ plain': tasksPerS / plain,
      // CPU the worker processes spent per completed task: stable under other load, unlike tasks/s.
      'worker CPU ms/task': (workerCpu * 1000) / (tasksPerS * elapsed),
      'plan statuses': statuses.rows.map((s) => `${s.status}:${s.n}`).join(' '),
    });
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await b.cleanup();
  }
}
console.log(`machine: ${JSON.stringify(machine())}`);
console.log(`${values.instances} instances × ${values.concurrency} slots per process; L = 0`);
printTable('Throughput', rows);
console.log(`written: ${writeResult('engine-throughput', { rows })}`);
