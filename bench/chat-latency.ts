/**
 * Latency of the chat hot path (POST …/chat) and of reading a plan (GET
 * …/plans/{id}) under concurrent load, against a real API server started
 * in-process on a free port. Run: npx tsx bench/chat-latency.ts --help
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type autocannon from 'autocannon';
import { sign } from 'hono/jwt';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDeps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { deleteKeys } from '../src/redis.js';
import { createApp } from '../api/app.js';
import { startApiServer } from '../api/server.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '50,200' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    pool: { type: 'string' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/codelab_bench' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/6' },
    out: { type: 'string', default: 'bench/results/chat-latency.json' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/chat-latency.ts [options]
  --connections 50,200   concurrent connections, one run of each scenario per value
  --duration 10          seconds measured per run
  --warmup 3             seconds of load before the measured runs (not reported)
  --pool N               DATABASE_POOL_SIZE of the API (default: the service default)
  --database-url URL     PostgreSQL (default $BENCH_DATABASE_URL or the local "codelab_bench" database, created if missing)
  --redis-url URL        Redis (default $BENCH_REDIS_URL or redis://127.0.0.1:6379/6)
  --out FILE             JSON result (default bench/results/chat-latency.json)
Scenarios: POST /v1/projects/{id}/chat (a new session, a plan in planning, the
plan.planning event and the planner job per request; no worker runs, so no LLM
call) and GET /v1/projects/{id}/plans/{id} (a plan with 3 tasks). The API runs
in this process on a free port; autocannon runs in a child process, so load
generation and the server use separate cores. One user sends every request:
the rate limiter runs (its Redis call) with a limit it never reaches, and the
per-user active-plans cap is off, since without workers the plans pile up. "server cpu ms/req" is the API
process's CPU time over the run divided by the requests: on a busy machine
latency grows with the load average, CPU per request much less. Uses a throwaway schema and Redis
prefix, removed at the end. Prints a table of req/s, p50/p99/max latency, errors.
`);
  process.exit(0);
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const connections = args.connections.split(',').map(Number);
const duration = Number(args.duration);

const id = `chat_${randomBytes(3).toString('hex')}`;
const env: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: args['database-url'],
  DATABASE_SCHEMA: `bench_${id}`,
  REDIS_URL: args['redis-url'],
  QUEUE_PREFIX: `bench-${id}`,
  JWT_SECRET: 'bench-secret-0123456789abcdef',
  LOG_LEVEL: 'warn',
  SIMULATED_LATENCY_MS: '0',
  // One user sends everything: the rate limiter still runs its Redis call on every request but never
  // refuses; the active-plans cap is off (with no worker, this user's planning plans only pile up).
  RATE_LIMIT_PER_MINUTE: '100000000',
  RATE_LIMIT_BURST: '1000000',
  USER_MAX_EXECUTING_PLANS: '0',
  ...(args.pool ? { DATABASE_POOL_SIZE: args.pool } : {}),
};
const config = loadConfig(env);
await ensureDatabase(config.DATABASE_URL);
const deps = createDeps(config, { logger: createLogger(config.LOG_LEVEL), role: 'bench-chat' });
await migrateUp(deps.db, config.DATABASE_SCHEMA);
const app = createApp(deps);
// Counts requests still running on the server, so the schema is dropped only once they finished
// (autocannon closes its sockets at the end of a run; the handlers go on).
let inFlight = 0;
const counted = Object.assign(Object.create(app) as typeof app, {
  fetch: async (...a: Parameters<typeof app.fetch>) => {
    inFlight++;
    try {
      return await app.fetch(...a);
    } finally {
      inFlight--;
    }
  },
});
const server = await startApiServer(deps, counted, { port: 0, host: '127.0.0.1' });
const drained = async () => {
  for (const deadline = Date.now() + 30_000; inFlight > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
};
const base = `http://127.0.0.1:${server.port}`;

interface Row {
  scenario: string;
  connections: number;
  requests: number;
  'req/s': number;
  'p50 ms': number;
  'p99 ms': number;
  'max ms': number;
  errors: number;
  'server cpu ms/req': number;
  'load avg': number;
}
const rows: Row[] = [];

try {
  const now = Math.floor(Date.now() / 1000);
  const token = await sign({ sub: 'bench-user', iat: now, exp: now + 3600 }, config.JWT_SECRET!, 'HS256');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const project = await fetch(`${base}/v1/projects`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'bench', settings: { approval_threshold_usd: 1000 } }),
  }).then((r) => r.json() as Promise<{ id: string }>);
  const chatPath = `/v1/projects/${project.id}/chat`;
  const chatBody = JSON.stringify({ message: 'Compare the three cheapest ways to host a small Node service and recommend one.' });

  // The plan read by the GET scenario: three tasks, as a planner would leave them.
  const first = await fetch(`${base}${chatPath}`, { method: 'POST', headers, body: chatBody }).then((r) => r.json() as Promise<{ plan_id: string }>);
  await deps.db
    .insertInto('task_plan_tasks')
    .values(['research', 'analyse', 'write'].map((t, i) => ({
      plan_id: first.plan_id, task_id: t, description: `${t} step`, agent_name: 'researcher', dependencies: JSON.stringify(i ? ['research'] : []),
      estimated_cost: 0.001, estimated_duration: 2, estimated_input_tokens: 500, estimated_output_tokens: 300,
      risk_level: 'low' as const, status: 'pending' as const, level: i ? 1 : 0,
    })))
    .execute();
  const planPath = `/v1/projects/${project.id}/plans/${first.plan_id}`;

  /**
   * One autocannon run in a child process (its own core, not this event loop's), with the
   * server's CPU time over the run: CPU ms per request is what the load on the machine cannot hide.
   */
  const run = async (opts: { path: string; method: 'GET' | 'POST'; body?: string; connections: number; duration: number }) => {
    const cli = [
      autocannonBin, '--json', '-c', String(opts.connections), '-d', String(opts.duration), '-m', opts.method,
      ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]),
      ...(opts.body ? ['-b', opts.body] : []),
      `${base}${opts.path}`,
    ];
    const cpuBefore = process.cpuUsage();
    const child = spawn(process.execPath, cli, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`autocannon exited with ${code}`);
    await drained();
    const cpu = process.cpuUsage(cpuBefore);
    return { result: JSON.parse(out) as autocannon.Result, cpuMs: (cpu.user + cpu.system) / 1000, load: loadavg()[0]! };
  };

  process.stderr.write(`warming up for ${args.warmup} s…\n`);
  await run({ path: chatPath, method: 'POST', body: chatBody, connections: 20, duration: Number(args.warmup) });

  for (const [scenario, opts] of [
    ['POST chat', { path: chatPath, method: 'POST' as const, body: chatBody }],
    ['GET plan', { path: planPath, method: 'GET' as const }],
  ] as const) {
    for (const c of connections) {
      process.stderr.write(`${scenario}, ${c} connections, ${duration} s…\n`);
      const { result: r, cpuMs, load } = await run({ ...opts, connections: c, duration });
      rows.push({
        scenario,
        connections: c,
        requests: r.requests.total,
        'req/s': Math.round(r.requests.average),
        'p50 ms': r.latency.p50,
        'p99 ms': r.latency.p99,
        'max ms': r.latency.max,
        errors: r.errors + r.timeouts + r.non2xx,
        'server cpu ms/req': Number((cpuMs / Math.max(1, r.requests.total)).toFixed(2)),
        'load avg': Number(load.toFixed(1)),
      });
    }
  }

  const cols = Object.keys(rows[0]!) as Array<keyof Row>;
  console.log(`\n### Chat API latency (${duration} s per run, API pool ${config.DATABASE_POOL_SIZE})\n`);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);

  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    args.out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: {
          cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version,
          load_average_at_end: loadavg().map((x) => Number(x.toFixed(2))),
        },
        settings: { duration_s: duration, connections, database_pool_size: config.DATABASE_POOL_SIZE },
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwritten to ${args.out}`);
} finally {
  await drained();
  await server.close();
  await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`).catch(() => undefined);
  await sql`DROP SCHEMA IF EXISTS ${sql.id(config.DATABASE_SCHEMA)} CASCADE`.execute(deps.db).catch(() => undefined);
  await deps.close();
}
