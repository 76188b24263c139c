/**
 * Planner overhead per plan, excluding the LLM call: loading the plan and the
 * agents, parsing and validating the answer, the llm_calls history query,
 * estimates, and the transaction that writes tasks and the plan.created event.
 * Run: npx tsx bench/planner.ts --help
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { deleteKeys } from '../src/redis.js';
import { appendEvents } from '../src/events/event-log.js';
import { jobOptions } from '../src/queues/catalog.js';
import type { LlmClient } from '../src/core/llm.js';
import { createPlannerProcessor } from '../workers/planner.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,20,50' },
    plans: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/planner.ts [options]
  --sizes 5,20,50          tasks per plan, one row of the table each
  --plans 40               plans measured per size (one after another)
  --warmup 5               plans run first and not measured (JIT, pool, prepared caches)
  --database-url URL       PostgreSQL (default $BENCH_DATABASE_URL or the local "test" database)
  --redis-url URL          Redis (default $BENCH_REDIS_URL or redis://127.0.0.1:6379/0)
Each plan is a scripted \`\`\`plan request answered by the simulated provider with
latency 0; the time spent inside the LLM client (including the router's llm_calls
insert) is subtracted, so the table shows the planner's own cost. Uses a throwaway
schema and Redis prefix, removed at the end.
`);
  process.exit(0);
}

const sizes = args.sizes.split(',').map(Number);
const nPlans = Number(args.plans);
const nWarmup = Number(args.warmup);
const AGENTS = ['manager', 'researcher', 'analyst', 'coder', 'writer', 'reviewer'];

/** A deterministic layered DAG of n tasks: each task depends on up to 3 of the previous 8. */
function scriptedPlan(n: number, seed: number): string {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const tasks = Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    const k = i === 0 ? 0 : Math.floor(rnd() * 4);
    for (let j = 0; j < k; j++) deps.add(`t${Math.max(0, i - 1 - Math.floor(rnd() * 8))}`);
    return {
      id: `t${i}`,
      description: `Step ${i}: examine part ${i} of the problem and report what you find, with sources.`,
      agent: AGENTS[1 + (i % (AGENTS.length - 1))],
      dependencies: [...deps],
      sim: { latency_ms: 50 + Math.floor(rnd() * 500), output_tokens: 100 + Math.floor(rnd() * 400) },
    };
  });
  return `Benchmark request ${seed}.\n\n\`\`\`plan\n${JSON.stringify({ tasks })}\n\`\`\``;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  await ensureDatabase(args['database-url']);
  const id = randomBytes(4).toString('hex');
  const config = loadConfig({
    DATABASE_URL: args['database-url'],
    DATABASE_SCHEMA: `bench_planner_${id}`,
    REDIS_URL: args['redis-url'],
    QUEUE_PREFIX: `bench-planner-${id}`,
    JWT_SECRET: randomBytes(16).toString('hex'),
    SIMULATED_LATENCY_MS: '0',
    LOG_LEVEL: 'silent',
    MAX_PLAN_TASKS: String(Math.max(50, ...sizes)),
  });
  const base = createDeps(config, { role: 'bench-planner' });
  // Time inside the real LLM client, to subtract it from each plan's total.
  let llmMs = 0;
  const timedLlm: LlmClient = {
    async chat(req) {
      const t0 = performance.now();
      try {
        return await base.llm.chat(req);
      } finally {
        llmMs += performance.now() - t0;
      }
    },
  };
  const deps: Deps = { ...base, llm: timedLlm };
  try {
    await migrateUp(deps.db, config.DATABASE_SCHEMA);
    const db = deps.db;
    const user = await db.insertInto('users').values({ subject: `bench-${id}`, email: null, username: null }).returning('id').executeTakeFirstOrThrow();
    const project = await db.insertInto('user_projects').values({ user_id: user.id, name: 'bench', settings: '{}' }).returning('id').executeTakeFirstOrThrow();
    const session = await db.insertInto('chat_sessions').values({ user_id: user.id, project_id: project.id, topic: null }).returning('id').executeTakeFirstOrThrow();
    for (const name of AGENTS) {
      await db
        .insertInto('user_agents')
        .values({
          user_id: user.id,
          project_id: project.id,
          name,
          status: 'active',
          config: JSON.stringify({
            role: `The ${name}`, system_prompt: `You are the team's ${name}. Be precise and cite what you use.`,
            provider: 'simulated', model: 'gpt-4o-mini', temperature: 0.2, max_output_tokens: 2000,
            tools: name === 'analyst' ? ['calculator'] : [], capabilities: [name],
          }),
        })
        .execute();
    }

    const processor = createPlannerProcessor(deps, { onPlanCreated: async () => undefined });
    const planOnce = async (request: string) => {
      const planId = await db.transaction().execute(async (trx) => {
        const p = await trx
          .insertInto('task_plans')
          .values({
            user_id: user.id, project_id: project.id, session_id: session.id, original_request: request, status: 'planning',
            total_estimated_cost: null, total_estimated_duration: null, approval_reason: null, critical_path: '[]',
            summary: null, error: null, error_code: null, llm_provider: null, decided_by: null, decision_reason: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await appendEvents(trx, p.id, [{ type: 'plan.planning' }]);
        return p.id;
      });
      llmMs = 0;
      const t0 = performance.now();
      const out = await processor({ data: { planId }, attemptsMade: 0, opts: jobOptions.planner() });
      const total = performance.now() - t0;
      if (out.outcome !== 'created') throw new Error(`plan ${planId} was not created: ${JSON.stringify(out)}`);
      return { overhead: total - llmMs, llm: llmMs };
    };

    const rows: string[][] = [];
    for (const n of sizes) {
      for (let i = 0; i < nWarmup; i++) await planOnce(scriptedPlan(n, 1000 + i));
      const overheads: number[] = [];
      let llmTotal = 0;
      for (let i = 0; i < nPlans; i++) {
        const r = await planOnce(scriptedPlan(n, i + 1));
        overheads.push(r.overhead);
        llmTotal += r.llm;
      }
      overheads.sort((a, b) => a - b);
      const mean = overheads.reduce((s, x) => s + x, 0) / overheads.length;
      rows.push([
        String(n), String(nPlans), (1000 / mean).toFixed(1), mean.toFixed(2), percentile(overheads, 50).toFixed(2),
        percentile(overheads, 95).toFixed(2), (llmTotal / nPlans).toFixed(2),
      ]);
    }

    const header = ['tasks', 'plans', 'plans/s', 'ms/plan mean', 'p50 ms', 'p95 ms', 'LLM ms (excluded)'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
    process.stdout.write(
      `Planner overhead per plan (sequential, simulated provider at 0 ms, LLM time subtracted)\n` +
        `${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
    );
  } finally {
    await sql`DROP SCHEMA IF EXISTS ${sql.id(config.DATABASE_SCHEMA)} CASCADE`.execute(deps.db).catch(() => undefined);
    await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`).catch(() => undefined);
    await base.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
