/**
 * SSE fan-out: many open streams on ONE API process (the real entry point,
 * spawned), events published the way workers publish them (committed to
 * plan_events, then Redis pub/sub), delivery delay measured by the clients
 * in this process, and the API process's resident memory per open stream.
 * Run: npx tsx bench/sse-fanout.ts --help
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { deleteKeys } from '../src/redis.js';
import { appendEvents, publishEvents } from '../src/events/event-log.js';
import { signToken } from '../test/helpers/http.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from '../test/helpers/processes.js';
import { seedPlan, seedProject, seedUser } from '../test/helpers/seed.js';

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    large: { type: 'boolean', default: false },
    events: { type: 'string', default: '50' },
    'interval-ms': { type: 'string', default: '100' },
    mode: { type: 'string', default: 'mixed' },
    'open-concurrency': { type: 'string', default: '100' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0' },
    out: { type: 'string', default: 'bench/results/sse-fanout.json' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/sse-fanout.ts [options]
  --streams 1000           open streams on the API process (comma list for several runs)
  --large                  also run 5,000 streams
  --events 50              events published while every stream is open
  --interval-ms 100        pause between two published events (10 events/s: 10k deliveries/s at 1,000 streams)
  --mode mixed             plan | session | mixed (half on the plan stream, half on its session's stream)
  --open-concurrency 100   streams being opened at once
  --database-url URL       PostgreSQL (default $BENCH_DATABASE_URL or the local "test" database)
  --redis-url URL          Redis (default $BENCH_REDIS_URL or redis://127.0.0.1:6379/0)
  --out FILE               JSON results (default bench/results/sse-fanout.json)
Spawns the API (bin/start.ts --api) with a throwaway schema and Redis prefix, opens the
streams from this process, commits each event to plan_events and publishes it as the
workers do, and measures publish-to-delivery delay (publish call -> frame parsed by the
client; client and publisher share this process's clock) and the API's VmRSS before and
after opening the streams. Needs ~1.1 file descriptors per stream on each side: raise
\`ulimit -n\` first if it is below that (5,000 streams: ulimit -n 12000).
`);
  process.exit(0);
}

const counts = args.streams.split(',').map(Number);
if (args.large && !counts.includes(5000)) counts.push(5000);
const nEvents = Number(args.events);
const intervalMs = Number(args['interval-ms']);
const mode = args.mode as 'plan' | 'session' | 'mixed';
const openConcurrency = Number(args['open-concurrency']);

function fdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 1024);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** CPU time (user + system) of a process so far, in ms (/proc/<pid>/stat, 100 ticks a second). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** One client stream: counts frames per seq and records each delivery's delay. */
interface Client {
  received: number;
  close(): void;
}

async function openClient(
  url: string,
  token: string,
  onFrame: (seq: number, at: number) => void,
): Promise<Client> {
  const ac = new AbortController();
  // Node's global fetch agent has no per-origin connection limit: one connection per stream.
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  if (res.status !== 200) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
  const client: Client = { received: 0, close: () => ac.abort() };
  void (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const now = performance.now();
        buf += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const m = /"seq":(\d+)/.exec(frame);
          if (m && frame.includes('\nevent: ')) {
            client.received++;
            onFrame(Number(m[1]), now);
          }
        }
      }
    } catch {
      // aborted
    }
  })();
  return client;
}

interface RunResult {
  streams: number;
  mode: string;
  events: number;
  open_s: number;
  deliveries: number;
  missing: number;
  delay_ms: { p50: number; p99: number; max: number };
  deliver_all_s: number;
  rss_mb: { before: number; after: number };
  rss_kb_per_stream: number;
  /** CPU spent while publishing and delivering, per delivered frame (µs): the API process and this (client) process. */
  cpu_us_per_delivery: { api: number; clients: number };
  /** 1-minute load average when the run ended: the machine is shared, read the delays next to it. */
  load_1m: number;
}

async function run(deps: Deps, env: Record<string, string>, nStreams: number): Promise<RunResult> {
  const port = await freePort();
  const api: ServiceProcess = spawnService({ ...env, PORT: String(port), HOST: '127.0.0.1', SSE_MAX_STREAMS_PER_USER: String(nStreams + 100) }, ['--api']);
  const base = `http://127.0.0.1:${port}`;
  const clients: Client[] = [];
  try {
    await waitForHttp(`${base}/health`, api, 60_000);
    const subject = `bench-${randomBytes(4).toString('hex')}`;
    const userId = await seedUser(deps.db, subject);
    const owner = { userId, ...(await seedProject(deps.db, userId)) };
    const planId = await seedPlan(deps.db, owner, [{ id: 't' }]);
    await deps.db.updateTable('task_plans').set({ status: 'executing' }).where('id', '=', planId).execute();
    const { session_id: sessionId } = await deps.db.selectFrom('task_plans').select('session_id').where('id', '=', planId).executeTakeFirstOrThrow();
    const token = await signToken({ sub: subject, secret: env.JWT_SECRET });
    const planUrl = `${base}/v1/projects/${owner.projectId}/plans/${planId}/events`;
    const sessionUrl = `${base}/v1/projects/${owner.projectId}/sessions/${sessionId}/events`;
    const urlOf = (i: number) => (mode === 'plan' ? planUrl : mode === 'session' ? sessionUrl : i % 2 ? sessionUrl : planUrl);

    const publishedAt = new Map<number, number>();
    const delays: number[] = [];
    const onFrame = (seq: number, at: number) => {
      const t0 = publishedAt.get(seq);
      if (t0 !== undefined) delays.push(at - t0);
    };

    // warm-up: JIT, pools, the subscriber connection; then the baseline
    const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => openClient(urlOf(i), token, () => undefined)));
    for (const c of warm) c.close();
    await sleep(1500);
    const rssBefore = rssKb(api.child.pid!);

    const t0 = performance.now();
    for (let i = 0; i < nStreams; i += openConcurrency) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(openConcurrency, nStreams - i) }, (_, j) => openClient(urlOf(i + j), token, onFrame)),
      );
      clients.push(...batch);
    }
    const openS = (performance.now() - t0) / 1000;
    await sleep(2000);
    const rssAfter = rssKb(api.child.pid!);

    const apiCpu0 = cpuMs(api.child.pid!);
    const clientCpu0 = process.cpuUsage();
    const pubStart = performance.now();
    for (let seq = 1; seq <= nEvents; seq++) {
      const events = await appendEvents(deps.db, planId, [
        { type: 'task.tool_call', taskId: 't', data: { tool: 'calculator', input: `${seq}*2`, output: seq * 2 } },
      ]);
      publishedAt.set(events[0]!.seq, performance.now());
      await publishEvents(deps.redis, deps.prefix, events);
      if (intervalMs > 0) await sleep(intervalMs);
    }
    const expected = nStreams * nEvents;
    const deadline = performance.now() + 60_000;
    while (delays.length < expected && performance.now() < deadline) await sleep(20);
    const deliverAllS = (performance.now() - pubStart) / 1000;
    const apiCpu = cpuMs(api.child.pid!) - apiCpu0;
    const clientCpu = process.cpuUsage(clientCpu0);
    const perDelivery = (ms: number) => Number(((ms * 1000) / Math.max(1, delays.length)).toFixed(1));
    const sorted = [...delays].sort((a, b) => a - b);
    return {
      streams: nStreams,
      mode,
      events: nEvents,
      open_s: Number(openS.toFixed(2)),
      deliveries: delays.length,
      missing: expected - delays.length,
      delay_ms: { p50: Number(pct(sorted, 50).toFixed(1)), p99: Number(pct(sorted, 99).toFixed(1)), max: Number((sorted.at(-1) ?? NaN).toFixed(1)) },
      deliver_all_s: Number(deliverAllS.toFixed(2)),
      rss_mb: { before: Number((rssBefore / 1024).toFixed(1)), after: Number((rssAfter / 1024).toFixed(1)) },
      rss_kb_per_stream: Number(((rssAfter - rssBefore) / nStreams).toFixed(1)),
      cpu_us_per_delivery: { api: perDelivery(apiCpu), clients: perDelivery((clientCpu.user + clientCpu.system) / 1000) },
      load_1m: Number(loadavg()[0]!.toFixed(2)),
    };
  } finally {
    for (const c of clients) c.close();
    await api.stop(30_000);
  }
}

const needFds = Math.ceil(Math.max(...counts) * 1.1) + 200;
if (fdLimit() < needFds) {
  process.stderr.write(`ulimit -n is ${fdLimit()}, ${needFds} needed for ${Math.max(...counts)} streams: run \`ulimit -n ${needFds}\` first\n`);
  process.exit(2);
}

const id = randomBytes(4).toString('hex');
const env: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: args['database-url'],
  DATABASE_SCHEMA: `bench_sse_${id}`,
  DATABASE_POOL_SIZE: '10',
  REDIS_URL: args['redis-url'],
  QUEUE_PREFIX: `bench-sse-${id}`,
  JWT_SECRET: randomBytes(24).toString('hex'),
  LOG_LEVEL: 'warn',
  // every stream is one request of one user: the per-user request rate limit would measure itself
  RATE_LIMIT_PER_MINUTE: '0',
};
await ensureDatabase(env.DATABASE_URL!);
const deps = createDeps(loadConfig(env), { role: 'bench-sse' });
const results: RunResult[] = [];
try {
  await migrateUp(deps.db, env.DATABASE_SCHEMA!);
  for (const n of counts) {
    process.stderr.write(`running ${n} streams…\n`);
    results.push(await run(deps, env, n));
  }
} finally {
  await deleteKeys(deps.redis, `${env.QUEUE_PREFIX}:*`).catch(() => undefined);
  await sql`DROP SCHEMA IF EXISTS ${sql.id(env.DATABASE_SCHEMA!)} CASCADE`.execute(deps.db).catch(() => undefined);
  await deps.close();
}

const header = ['streams', 'mode', 'events', 'open (s)', 'deliveries', 'missing', 'delay p50 (ms)', 'delay p99 (ms)', 'delay max (ms)', 'RSS before (MB)', 'RSS after (MB)', 'RSS/stream (KB)', 'API CPU/delivery (µs)', 'client CPU/delivery (µs)', 'load 1m'];
const rows = results.map((r) => [r.streams, r.mode, r.events, r.open_s, r.deliveries, r.missing, r.delay_ms.p50, r.delay_ms.p99, r.delay_ms.max, r.rss_mb.before, r.rss_mb.after, r.rss_kb_per_stream, r.cpu_us_per_delivery.api, r.cpu_us_per_delivery.clients, r.load_1m].map(String));
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  args.out,
  `${JSON.stringify({ bench: 'sse-fanout', at: new Date().toISOString(), node: process.version, interval_ms: intervalMs, results }, null, 2)}\n`,
);
console.log(`\nwritten to ${args.out}`);
