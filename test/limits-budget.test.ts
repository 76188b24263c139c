import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError } from 'bullmq';
import { sql } from 'kysely';
import { createApp, type App } from '../api/app.js';
import { createPlannerProcessor } from '../workers/planner.js';
import { jobOptions } from '../src/queues/catalog.js';
import { budgetStatus, checkBudget, decideBudget, spentTodayQuery, spentTodayUsd } from '../src/limits/budget.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken } from './helpers/http.js';
import { scriptedRequest } from './helpers/scripted.js';

// Above a small plan's estimate (tasks plus the manager's final answer, ~$0.02), below a big one's.
const BUDGET = 0.04;
let ctx: TestContext;
let app: App;

/** Midnight UTC as PostgreSQL sees it (the clock that dates llm_calls). */
const MIDNIGHT = sql<Date>`(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;

beforeAll(async () => {
  ctx = await createTestContext('limits-budget', { USER_DAILY_BUDGET_USD: String(BUDGET) });
  app = createApp(ctx.deps);
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

/** A user with a project, made through the API (JIT user, starter pack on the simulated provider). */
async function newUser(sub: string) {
  const client = clientFor(app, await signToken({ sub }));
  const projectId = (await client.post('/v1/projects', { name: 'budget' })).body.id as string;
  const user = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', sub).executeTakeFirstOrThrow();
  return { client, projectId, userId: user.id };
}

/** Recorded LLM spend of the user: `at` defaults to now (today). */
async function spend(userId: string, cost: number, at: ReturnType<typeof sql<Date>> = sql<Date>`now()`) {
  await sql`
    INSERT INTO llm_calls (user_id, purpose, provider, model, cost, latency_ms, outcome, created_at)
    VALUES (${userId}, 'task', 'simulated', 'gpt-4o-mini', ${cost}, 1, 'ok', ${at})`.execute(ctx.deps.db);
}

/** A plan requested through POST …/chat, then planned by the planner's processor. */
async function planThroughChat(u: Awaited<ReturnType<typeof newUser>>, message: string) {
  const res = await u.client.post(`/v1/projects/${u.projectId}/chat`, { message });
  expect(res.status).toBe(202);
  const planId = res.body.plan_id as string;
  const outcome = await createPlannerProcessor(ctx.deps, { onPlanCreated: async () => undefined })({
    data: { planId },
    attemptsMade: 0,
    opts: jobOptions.planner(),
  }).catch((err: unknown) => err);
  const plan = await ctx.deps.db.selectFrom('task_plans').selectAll().where('id', '=', planId).executeTakeFirstOrThrow();
  const planningCalls = await ctx.deps.db.selectFrom('llm_calls').select('cost').where('plan_id', '=', planId).execute();
  return { planId, outcome, plan, planningCalls };
}

/** Three tasks of 2,000 output tokens each: far more than a cent's remainder on any model of the starter pack. */
const BIG_PLAN = scriptedRequest(
  [
    { id: 'a', agent: 'researcher', sim: { output_tokens: 2000 } },
    { id: 'b', agent: 'writer', sim: { output_tokens: 2000 } },
    { id: 'c', agent: 'coder', deps: ['a', 'b'], sim: { output_tokens: 2000 } },
  ],
  'Write the report',
);
const SMALL_PLAN = scriptedRequest([{ id: 'a', agent: 'researcher', sim: { output_tokens: 5 } }], 'Say hi');

describe('decideBudget (pure)', () => {
  it('allows anything when the limit is 0 (unlimited)', () => {
    expect(decideBudget({ limitUsd: 0, spentUsd: 1e6, estimatedUsd: 1e6 })).toEqual({ ok: true });
  });

  it('allows an estimate that fits exactly in what is left', () => {
    expect(decideBudget({ limitUsd: 1, spentUsd: 0.75, estimatedUsd: 0.25 })).toEqual({ ok: true });
  });

  it('refuses an estimate over what is left, saying both amounts', () => {
    const d = decideBudget({ limitUsd: 1, spentUsd: 0.75, estimatedUsd: 0.3 });
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error.code).toBe('BUDGET_EXCEEDED');
    expect(d.error.message).toBe(
      "daily budget exceeded: this plan is estimated at $0.3000 and only $0.2500 of today's $1.0000 is left (it resets at 00:00 UTC)",
    );
    expect(d.error.details).toMatchObject({ limit_usd: 1, spent_usd: 0.75, remaining_usd: 0.25, estimated_usd: 0.3 });
  });

  it('refuses even a free plan once the budget is used up', () => {
    const d = decideBudget({ limitUsd: 1, spentUsd: 1, estimatedUsd: 0 });
    expect(d.ok).toBe(false);
    expect(budgetStatus(1, 1.5)).toEqual({ limitUsd: 1, spentUsd: 1.5, remainingUsd: 0, exceeded: true });
  });
});

describe('daily budget at planning', () => {
  it('fails a plan whose estimate is over what is left today, with BUDGET_EXCEEDED and a readable error', async () => {
    const u = await newUser('budget-over');
    await spend(u.userId, BUDGET * 0.5);
    const { outcome, plan, planningCalls } = await planThroughChat(u, BIG_PLAN);

    expect(outcome).toBeInstanceOf(UnrecoverableError);
    expect(plan).toMatchObject({ status: 'failed', error_code: 'BUDGET_EXCEEDED' });
    expect(plan.error).toMatch(/^daily budget exceeded: this plan is estimated at \$\d+\.\d{4} and only \$\d+\.\d{4} of today's \$0\.0400 is left/);
    // Refused after estimation: the model did plan it, and no task was recorded.
    expect(planningCalls.length).toBeGreaterThan(0);
    expect(await ctx.deps.db.selectFrom('task_plan_tasks').select('id').where('plan_id', '=', plan.id).execute()).toEqual([]);
    const events = await ctx.deps.db.selectFrom('plan_events').select(['type', 'payload']).where('plan_id', '=', plan.id).orderBy('seq').execute();
    expect(events.map((e) => e.type)).toEqual(['plan.planning', 'plan.failed']);
    expect(events[1]!.payload).toMatchObject({ error: plan.error });
  });

  it('is visible through the API as the plan’s error', async () => {
    const u = await newUser('budget-api');
    await spend(u.userId, BUDGET * 0.9);
    const { planId } = await planThroughChat(u, BIG_PLAN);
    const res = await u.client.get(`/v1/projects/${u.projectId}/plans/${planId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', error: expect.stringContaining('daily budget exceeded') });
  });

  it('refuses before any planning call when today’s budget is already spent', async () => {
    const u = await newUser('budget-spent');
    await spend(u.userId, BUDGET);
    const { plan, planningCalls } = await planThroughChat(u, SMALL_PLAN);
    expect(plan).toMatchObject({ status: 'failed', error_code: 'BUDGET_EXCEEDED' });
    expect(plan.error).toContain('is already spent');
    expect(planningCalls).toEqual([]);
  });

  it('does not count yesterday’s spend, nor another user’s', async () => {
    const u = await newUser('budget-yesterday');
    const other = await newUser('budget-other');
    await spend(u.userId, 100, sql<Date>`${MIDNIGHT} - interval '1 second'`);
    await spend(other.userId, 100);
    const { outcome, plan } = await planThroughChat(u, SMALL_PLAN);
    expect(outcome).toMatchObject({ outcome: 'created' });
    expect(plan.status).toBe('created');
    expect(await spentTodayUsd(ctx.deps.db, u.userId)).toBeCloseTo(plan.total_actual_cost, 12);
  });

  it('lets a plan through when it fits, with the limit at 0 meaning unlimited', async () => {
    const u = await newUser('budget-fits');
    const { plan } = await planThroughChat(u, SMALL_PLAN);
    expect(plan.status).toBe('created');

    const rich = await newUser('budget-unlimited');
    await spend(rich.userId, 1000);
    const unlimited = { db: ctx.deps.db, config: { USER_DAILY_BUDGET_USD: 0 } };
    expect(await checkBudget(unlimited, rich.userId)).toMatchObject({ exceeded: false, remainingUsd: Infinity });
  });
});

describe('checkBudget (for the engine, before each task)', () => {
  it('reports what is spent today and whether the budget is exceeded', async () => {
    const u = await newUser('budget-check');
    expect(await checkBudget(ctx.deps, u.userId)).toEqual({ limitUsd: BUDGET, spentUsd: 0, remainingUsd: BUDGET, exceeded: false });
    await spend(u.userId, BUDGET * 0.4);
    await spend(u.userId, BUDGET * 0.3);
    await spend(u.userId, 5, sql<Date>`${MIDNIGHT} - interval '1 hour'`);
    const partly = await checkBudget(ctx.deps, u.userId);
    expect(partly.spentUsd).toBeCloseTo(BUDGET * 0.7, 12);
    expect(partly.remainingUsd).toBeCloseTo(BUDGET * 0.3, 12);
    expect(partly.exceeded).toBe(false);
    await spend(u.userId, BUDGET * 0.3);
    expect((await checkBudget(ctx.deps, u.userId)).exceeded).toBe(true);
  });

  it('reads the day’s spend through the (user_id, created_at) index, not a scan of every call', async () => {
    const u = await newUser('budget-explain');
    // Other users' calls over the last days, so that a scan would be the expensive choice.
    await sql`
      INSERT INTO llm_calls (user_id, purpose, provider, model, cost, latency_ms, outcome, created_at)
      SELECT ${(await newUser('budget-noise')).userId}, 'task', 'simulated', 'gpt-4o-mini', 0.0001, 1, 'ok', now() - (g * interval '10 seconds')
      FROM generate_series(1, 20000) g`.execute(ctx.deps.db);
    await sql`ANALYZE llm_calls`.execute(ctx.deps.db);
    const plan = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${spentTodayQuery(u.userId)}`.execute(ctx.deps.db);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('ix_llm_calls_user_id_created_at');
    expect(text).not.toContain('Seq Scan');
  });
});
