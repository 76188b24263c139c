/**
 * Soak: a steady rate of scripted plans for a long time against spawned API
 * and worker processes, sampling each process's RSS and open file
 * descriptors; flags growth between the first and last thirds of the run.
 * Not part of CI (it takes minutes): `npm run soak -- --help`.
 */
import { parseArgs } from 'node:util';
import { sign } from 'hono/jwt';
import { Redis } from 'ioredis';
import { benchEnv, printTable, writeResult } from './lib.js';
import { ApiPool, Cluster, procSample, randomChaosPlan, sleep } from '../test/helpers/chaos.js';
import { scriptedRequest } from '../test/helpers/scripted.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '30' },
    'sample-s': { type: 'string', default: '10' },
    apis: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    'growth-pct': { type: 'string', default: '25' },
    'fd-growth': { type: 'string', default: '20' },
    'fail-on-growth': { type: 'boolean', default: false },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npm run soak -- [options]
  --minutes 10          how long plans are submitted (then up to 2 min for the last ones to finish)
  --rate 30             plans submitted per minute, evenly spaced
  --sample-s 10         seconds between samples of every process
  --apis 1 --workers 2  API and worker processes spawned (bin/start.ts --api / --workers)
  --growth-pct 25       flag a process whose mean RSS of the last third exceeds the first third's by this much
  --fd-growth 20        flag a process whose mean open fds grew by more than this between the thirds
  --fail-on-growth      exit 1 when growth is flagged (default: report only)
  --seed N              seed of the random plans (random DAGs of 3–12 tasks, 100–600 ms simulated latency,
                        some tasks failing always or transiently; see test/helpers/chaos.ts)
Uses the bench database ($BENCH_DATABASE_URL, default codelab_bench) and Redis
($BENCH_REDIS_URL, default db 6) with a throwaway schema and key prefix,
removed at the end. Prints a table over time and writes bench/results/soak.json.
Not run in CI.
`);
  process.exit(0);
}

const minutes = Number(args.minutes);
const rate = Number(args.rate);
const sampleMs = Number(args['sample-s']) * 1000;
const seed = Number(args.seed ?? Math.floor(Math.random() * 2 ** 31));
if (!(minutes > 0) || !(rate > 0) || !(sampleMs > 0)) {
  console.error('--minutes, --rate and --sample-s must be positive numbers');
  process.exit(2);
}

const bench = await benchEnv('soak', {
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_MINUTE: '0',
  USER_MAX_EXECUTING_PLANS: '0',
  USER_DAILY_BUDGET_USD: '0',
  SIMULATED_LATENCY_MS: '20',
  TASK_BACKOFF_MS: '200',
  AGENT_WORKER_INSTANCES: '2',
  WORKER_CONCURRENCY: '4',
  DATABASE_POOL_SIZE: '5',
});
const cluster = new Cluster(bench.env);
let stopping = false;
const cleanup = async () => {
  await cluster.stopAll();
  await bench.cleanup();
};
// Ctrl-C or SIGTERM ends the run early (the report covers what was sampled); the spawned processes never outlive this one.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void (stopping = true));
process.once('exit', () => cluster.history.forEach((p) => p.child.kill('SIGKILL')));

interface Sample {
  t_s: number;
  submitted: number;
  finished: number;
  redis_keys: number;
  processes: Record<string, { pid: number; rss_mb: number; fds: number } | null>;
}

try {
  for (let i = 0; i < Number(args.apis); i++) await cluster.startApi();
  for (let i = 0; i < Number(args.workers); i++) await cluster.startWorker();
  const pool = new ApiPool(cluster);
  const token = await sign({ sub: 'soak-user', exp: Math.floor(Date.now() / 1000) + 86_400 }, bench.env.JWT_SECRET!, 'HS256');
  const project = await pool.request(token, 'POST', '/v1/projects', { name: 'soak', settings: { approval_threshold_usd: 1000, max_parallel_tasks: 16 } });
  if (project.status !== 201) throw new Error(`project: ${project.status} ${JSON.stringify(project.body)}`);
  const projectId = project.body.id as string;

  const planIds: string[] = [];
  const refused: string[] = [];
  const started = Date.now();
  const submitUntil = started + minutes * 60_000;
  // the roles are fixed at start: a sample names the same process each time
  const procs = cluster.processes().map((p) => ({ role: p.role, pid: p.proc.child.pid! }));
  const redis = new Redis(bench.env.REDIS_URL!);
  const samples: Sample[] = [];

  const finishedCount = async () => {
    if (planIds.length === 0) return 0;
    const r = await bench.deps.db
      .selectFrom('task_plans')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('id', 'in', planIds)
      .where('status', 'in', ['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled'])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };
  const countKeys = async () => {
    let n = 0;
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${bench.config.QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      n += batch.length;
    } while (cursor !== '0');
    return n;
  };
  const sample = async () => {
    const s: Sample = {
      t_s: Math.round((Date.now() - started) / 1000),
      submitted: planIds.length,
      finished: await finishedCount(),
      redis_keys: await countKeys(),
      processes: {},
    };
    for (const p of procs) {
      const x = procSample(p.pid);
      s.processes[p.role] = x && { pid: p.pid, rss_mb: Math.round((x.rss / 2 ** 20) * 10) / 10, fds: x.fds };
    }
    samples.push(s);
    const cells = procs.map((p) => {
      const x = s.processes[p.role];
      return x ? `${p.role} ${x.rss_mb} MB ${x.fds} fd` : `${p.role} gone`;
    });
    console.log(`[soak] t=${s.t_s}s submitted ${s.submitted} finished ${s.finished} redis keys ${s.redis_keys} | ${cells.join(' | ')}`);
  };

  const submitter = async () => {
    const gap = 60_000 / rate;
    for (let k = 0; Date.now() < submitUntil && !stopping; k++) {
      const next = started + k * gap;
      if (next > Date.now()) await sleep(next - Date.now());
      const spec = randomChaosPlan(seed, k);
      const res = await pool.request(token, 'POST', `/v1/projects/${projectId}/chat`, { message: scriptedRequest(spec.tasks, `Soak plan ${k}`) });
      if (res.status === 202) planIds.push(res.body.plan_id);
      else refused.push(`${res.status} ${JSON.stringify(res.body)}`);
    }
  };
  const sampler = async () => {
    await sample();
    const drainUntil = submitUntil + 120_000;
    while (!stopping) {
      await sleep(sampleMs);
      await sample();
      const last = samples.at(-1)!;
      if (Date.now() >= submitUntil && (last.finished === last.submitted || Date.now() > drainUntil)) break;
    }
  };
  await Promise.all([submitter(), sampler()]);
  await redis.quit();

  // growth: the mean of the last third of the samples against the first third
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const growth = procs.map((p) => {
    const series = (from: Sample[], k: 'rss_mb' | 'fds') => from.map((s) => s.processes[p.role]?.[k]).filter((v): v is number => v !== undefined);
    const first = samples.slice(0, third);
    const last = samples.slice(-third);
    const rss = [mean(series(first, 'rss_mb')), mean(series(last, 'rss_mb'))] as const;
    const fds = [mean(series(first, 'fds')), mean(series(last, 'fds'))] as const;
    const rssPct = ((rss[1] - rss[0]) / rss[0]) * 100;
    const flagged =
      rssPct > Number(args['growth-pct']) ? 'rss' : fds[1] - fds[0] > Number(args['fd-growth']) ? 'fds' : samples.some((s) => !s.processes[p.role]) ? 'exited' : '';
    return { process: p.role, pid: p.pid, rss_first_mb: rss[0], rss_last_mb: rss[1], rss_growth_pct: rssPct, fds_first: fds[0], fds_last: fds[1], flagged };
  });

  printTable(
    `Soak: ${minutes} min at ${rate} plans/min, sampled every ${sampleMs / 1000} s (seed ${seed})`,
    samples.map((s) => ({
      t_s: String(s.t_s),
      submitted: String(s.submitted),
      finished: String(s.finished),
      redis_keys: String(s.redis_keys),
      ...Object.fromEntries(procs.map((p) => [p.role, s.processes[p.role] ? `${s.processes[p.role]!.rss_mb} MB / ${s.processes[p.role]!.fds} fd` : 'gone'])),
    })),
  );
  printTable('Growth (mean of the last third vs the first third)', growth.map((g) => ({ ...g, pid: String(g.pid), flagged: g.flagged || 'no' })));
  const last = samples.at(-1)!;
  const file = writeResult('soak', {
    args: { minutes, rate, sample_s: sampleMs / 1000, apis: Number(args.apis), workers: Number(args.workers), seed },
    plans: { submitted: last.submitted, finished: last.finished, refused: refused.length, refused_examples: refused.slice(0, 5) },
    samples,
    growth,
  });
  console.log(`\nplans submitted ${last.submitted}, finished ${last.finished}, refused ${refused.length}; written to ${file}`);
  const flagged = growth.filter((g) => g.flagged);
  if (flagged.length) console.log(`GROWTH FLAGGED: ${flagged.map((g) => `${g.process} (${g.flagged})`).join(', ')}`);
  await cleanup();
  process.exit(args['fail-on-growth'] && flagged.length ? 1 : last.finished === last.submitted ? 0 : 1);
} catch (err) {
  console.error(err);
  console.error(cluster.logs(2000));
  await cleanup();
  process.exit(1);
}
