/**
 * Latency of the chat hot path (POST …/chat) and of reading a plan (GET
 * …/plans/{id}) under concurrent load, against a real API server started
 * in-process on a free port. Run: npx tsx bench/chat-latency.ts --help
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type autocannon from 'autocannon';
import { sign } from 'hono/jwt';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { deleteKeys } from '../src/redis.js';
import { createApp, type App } from '../api/app.js';
import { startApiServer } from '../api/server.js';

// The API's start scripts give V8 a 64 MB young generation (package.json
// start:api, Dockerfile); the in-process API is measured the same way.
const YOUNG_GEN = '--max-semi-space-size=64';
if (![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(' ')].some((a) => a.startsWith('--max-semi-space-size'))) {
  const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${YOUNG_GEN}`.trim() },
  });
  process.exit(again.status ?? 1);
}

// With --processes N > 1 the API runs in N cluster workers sharing one port; each runs this file too, and stops here.
if (cluster.isWorker) await serveApiInClusterWorker();

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '50,200' },
    scenarios: { type: 'string', default: 'chat,plan' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    pool: { type: 'string' },
    processes: { type: 'string', default: '1' },
    'burst-rounds': { type: 'string', default: '20' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/codelab_bench' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/6' },
    out: { type: 'string', default: 'bench/results/chat-latency.json' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/chat-latency.ts [options]
  --connections 50,200   concurrent connections, one run of each scenario per value
  --scenarios chat,plan  which scenarios to run (chat: POST …/chat, plan: GET …/plans/{id},
                         live: GET /health/live, no auth and no I/O: the HTTP stack's own floor,
                         chat-burst: the extra burst mode below; not run unless named)
  --processes 1          API processes: 1 runs it in this process; N > 1 in N cluster workers on one port
  --burst-rounds 20      chat-burst: bursts per connections value
  --duration 10          seconds measured per run
  --warmup 3             seconds of load before the measured runs (not reported)
  --pool N               DATABASE_POOL_SIZE of the API (default: the service default)
  --database-url URL     PostgreSQL (default $BENCH_DATABASE_URL or the local "codelab_bench" database, created if missing)
  --redis-url URL        Redis (default $BENCH_REDIS_URL or redis://127.0.0.1:6379/6)
  --out FILE             JSON result (default bench/results/chat-latency.json)
Scenarios: POST /v1/projects/{id}/chat (a new session, a plan in planning, the
plan.planning event and the planner job per request; no worker runs, so no LLM
call) and GET /v1/projects/{id}/plans/{id} (a plan with 3 tasks). The API runs
in this process on a free port (or in --processes cluster workers); autocannon
runs in a child process, so load generation and the server use separate cores.
One user sends every request: the rate limiter runs (its Redis call) with a
limit it never reaches, and the per-user active-plans cap is off, since without
workers the plans pile up. "server cpu ms/req" is the API process's CPU time
over the run divided by the requests: on a busy machine latency grows with the
load average, CPU per request much less. "machine cpu ms/req" is every
process's (PostgreSQL, Redis, autocannon, and whatever else runs on the
machine), from /proc/stat: what a request costs the 2 cores. Uses a throwaway
schema and Redis prefix, removed at the end. Prints a table of req/s,
p50/p99/max latency, errors.

chat-burst (an extra mode, not the closed-loop figure): N requests sent at
once over N warm keep-alive connections, waiting for all N answers, then 100
ms of quiet, --burst-rounds times; latency of every request of every burst.
"req/s" there is the requests of the bursts over the time the bursts took.
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
const processes = Number(args.processes);
const api = processes > 1 ? await startClusterApi(env, processes) : await startInProcessApi(deps);
const base = `http://127.0.0.1:${api.port}`;

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
  'machine cpu ms/req': number | null;
  'load avg': number;
}

/** CPU time (ms) the whole machine spent busy so far, every process included (Linux /proc/stat); null elsewhere. */
function machineBusyMs(): number | null {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number) as number[];
    return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
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
    const cpuBefore = await api.cpuMs();
    const machineBefore = machineBusyMs();
    const child = spawn(process.execPath, cli, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`autocannon exited with ${code}`);
    const cpuMs = (await api.cpuMs()) - cpuBefore;
    const machineAfter = machineBusyMs();
    const machineMs = machineBefore === null || machineAfter === null ? null : machineAfter - machineBefore;
    return { result: JSON.parse(out) as autocannon.Result, cpuMs, machineMs, load: loadavg()[0]! };
  };

  process.stderr.write(`warming up for ${args.warmup} s…\n`);
  await run({ path: chatPath, method: 'POST', body: chatBody, connections: 20, duration: Number(args.warmup) });

  /**
   * Table statistics as autovacuum keeps them in steady state. The chat runs insert tens of thousands of
   * one user's plans in seconds, faster than autovacuum analyzes; with the statistics of a near-empty table,
   * GET plan's query (id, project, user) picks the (user_id, project_id) index and reads every plan of the
   * user (3 ms of PostgreSQL CPU per request at 40,000 plans) instead of the primary key.
   */
  const analyzeTables = () => sql`ANALYZE task_plans, task_plan_tasks, chat_sessions, chat_messages, plan_events`.execute(deps.db);
  const wanted = new Set(args.scenarios.split(',').map((s) => s.trim()));
  for (const [name, scenario, opts] of [
    ['chat', 'POST chat', { path: chatPath, method: 'POST' as const, body: chatBody }],
    ['plan', 'GET plan', { path: planPath, method: 'GET' as const }],
    ['live', 'GET /health/live', { path: '/health/live', method: 'GET' as const }],
  ] as const) {
    if (!wanted.has(name)) continue;
    for (const c of connections) {
      await analyzeTables();
      process.stderr.write(`${scenario}, ${c} connections, ${duration} s…\n`);
      const { result: r, cpuMs, machineMs, load } = await run({ ...opts, connections: c, duration });
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
        'machine cpu ms/req': machineMs === null ? null : Number((machineMs / Math.max(1, r.requests.total)).toFixed(2)),
        'load avg': Number(load.toFixed(1)),
      });
    }
  }

  if (wanted.has('chat-burst')) {
    const rounds = Number(args['burst-rounds']);
    for (const n of connections) {
      await analyzeTables();
      process.stderr.write(`POST chat, ${rounds} bursts of ${n} (extra mode)…\n`);
      const cpuBefore = await api.cpuMs();
      const machineBefore = machineBusyMs();
      const b = await runBursts({ base, path: chatPath, body: chatBody, headers, n, rounds });
      const cpuMs = (await api.cpuMs()) - cpuBefore;
      const machineAfter = machineBusyMs();
      const lat = b.latencies.sort((x, y) => x - y);
      const pct = (q: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * q))]!);
      rows.push({
        scenario: `POST chat, bursts of ${n} (extra, not closed-loop)`,
        connections: n,
        requests: lat.length,
        'req/s': Math.round(lat.length / (b.busyMs / 1000)),
        'p50 ms': pct(0.5),
        'p99 ms': pct(0.99),
        'max ms': Math.round(lat[lat.length - 1]!),
        errors: b.errors,
        'server cpu ms/req': Number((cpuMs / Math.max(1, lat.length)).toFixed(2)),
        'machine cpu ms/req': machineBefore === null || machineAfter === null ? null : Number(((machineAfter - machineBefore) / lat.length).toFixed(2)),
        'load avg': Number(loadavg()[0]!.toFixed(1)),
      });
    }
  }

  const cols = Object.keys(rows[0]!) as Array<keyof Row>;
  console.log(`\n### Chat API latency (${duration} s per run, API pool ${config.DATABASE_POOL_SIZE}, ${processes} API process${processes > 1 ? 'es' : ''})\n`);
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
        settings: { duration_s: duration, connections, database_pool_size: config.DATABASE_POOL_SIZE, api_processes: processes },
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwritten to ${args.out}`);
} finally {
  await api.close();
  await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`).catch(() => undefined);
  await sql`DROP SCHEMA IF EXISTS ${sql.id(config.DATABASE_SCHEMA)} CASCADE`.execute(deps.db).catch(() => undefined);
  await deps.close();
}

/** The API under test, wherever it runs: its port, its CPU time so far (ms, once in-flight requests finished) and close. */
interface ApiUnderTest {
  port: number;
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Counts requests still running on the server: CPU is read, and the schema
 * dropped, only once they finished (autocannon closes its sockets at the end
 * of a run; the handlers go on).
 */
function countInFlight(app: App) {
  let inFlight = 0;
  const counted = Object.assign(Object.create(app) as App, {
    fetch: async (...a: Parameters<App['fetch']>) => {
      inFlight++;
      try {
        return await app.fetch(...a);
      } finally {
        inFlight--;
      }
    },
  });
  const drained = async () => {
    for (const deadline = Date.now() + 30_000; inFlight > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  };
  return { counted, drained };
}

async function startInProcessApi(deps: Deps): Promise<ApiUnderTest> {
  const app = createApp(deps);
  const { counted, drained } = countInFlight(app);
  const server = await startApiServer(deps, counted, { port: 0, host: '127.0.0.1' });
  return {
    port: server.port,
    async cpuMs() {
      await drained();
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    async close() {
      await drained();
      await server.close();
    },
  };
}

/**
 * N cluster workers serving the API on one port (the primary hands out
 * connections). CPU is theirs plus this process's (which hands them out).
 */
async function startClusterApi(env: Record<string, string>, n: number): Promise<ApiUnderTest> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as { port: number };
      probe.close(() => resolve(p));
    });
  });
  const workers = Array.from({ length: n }, () => cluster.fork({ BENCH_API_ENV: JSON.stringify(env), BENCH_API_PORT: String(port) }));
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('message', () => resolve()))));
  const ask = (w: (typeof workers)[number]) =>
    new Promise<number>((resolve) => {
      w.once('message', (m: { cpuMs: number }) => resolve(m.cpuMs));
      w.send('cpu');
    });
  return {
    port,
    async cpuMs() {
      const own = process.cpuUsage();
      return (own.user + own.system) / 1000 + (await Promise.all(workers.map(ask))).reduce((a, b) => a + b, 0);
    },
    async close() {
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.send('close');
      })));
    },
  };
}

/** A cluster worker: serves the API until the primary says close; answers 'cpu' with its CPU ms once idle. */
async function serveApiInClusterWorker(): Promise<never> {
  const config = loadConfig(JSON.parse(process.env.BENCH_API_ENV!) as Record<string, string>);
  const deps = createDeps(config, { logger: createLogger(config.LOG_LEVEL), role: 'bench-chat' });
  const app = createApp(deps);
  const { counted, drained } = countInFlight(app);
  const server = await startApiServer(deps, counted, { port: Number(process.env.BENCH_API_PORT), host: '127.0.0.1' });
  process.on('message', (m: string) => {
    void (async () => {
      await drained();
      if (m === 'cpu') {
        const u = process.cpuUsage();
        process.send!({ cpuMs: (u.user + u.system) / 1000 });
      } else if (m === 'close') {
        await server.close();
        await app.close();
        await deps.close();
        process.exit(0);
      }
    })();
  });
  process.send!('ready');
  return new Promise<never>(() => undefined);
}

/**
 * The burst client, in a child process: opens `n` keep-alive connections,
 * then `rounds` times sends `n` requests at once and waits for every answer.
 */
function burstClientSource(): string {
  return `
const http = require('node:http');
const o = JSON.parse(process.argv[1]);
const u = new URL(o.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.n });
const send = (method, path, body) => new Promise((resolve) => {
  const t0 = performance.now();
  const headers = body ? { ...o.headers, 'content-length': Buffer.byteLength(body) } : o.headers;
  const req = http.request({ host: u.hostname, port: u.port, path, method, headers, agent }, (res) => {
    res.resume();
    res.on('end', () => resolve({ ok: res.statusCode < 300, ms: performance.now() - t0 }));
  });
  req.on('error', () => resolve({ ok: false, ms: performance.now() - t0 }));
  req.end(body);
});
(async () => {
  await Promise.all(Array.from({ length: o.n }, () => send('GET', '/health/live')));
  const latencies = [];
  let errors = 0, busyMs = 0;
  for (let r = 0; r < o.rounds; r++) {
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: o.n }, () => send('POST', o.path, o.body)));
    busyMs += performance.now() - t0;
    for (const x of res) { latencies.push(x.ms); if (!x.ok) errors++; }
    await new Promise((r) => setTimeout(r, 100));
  }
  agent.destroy();
  process.stdout.write(JSON.stringify({ latencies, errors, busyMs }));
})();
`;
}

async function runBursts(o: { base: string; path: string; body: string; headers: Record<string, string>; n: number; rounds: number }) {
  const child = spawn(process.execPath, ['-e', burstClientSource(), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`burst client exited with ${code}`);
  return JSON.parse(out) as { latencies: number[]; errors: number; busyMs: number };
}
