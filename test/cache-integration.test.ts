import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';
import { waitForPlan } from './helpers/seed.js';
import { createApp } from '../api/app.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { cacheCompletedPlan } from '../src/cache/plan-cache-seams.js';
import type { ChatRequest, LlmClient } from '../src/core/llm.js';

/**
 * The plan cache and project context through the real path: chat → planner
 * (cache lookup) → engine → finaliser (memory write, cache store).
 */
let ctx: TestContext;
let workers: WorkerSet;
let app: ReturnType<typeof createApp>;
let alice: Client;
const seen: ChatRequest[] = [];

beforeAll(async () => {
  ctx = await createTestContext('cache-integration', { SIMULATED_LATENCY_MS: '5', USER_MAX_RUNNING_TASKS: '100' });
  // Records what the simulated provider receives (the real router underneath).
  const real = ctx.deps.llm;
  const recording: LlmClient = { chat: (req) => (seen.push(req), real.chat(req)) };
  ctx.deps.llm = recording;
  workers = createWorkers(ctx.deps, { reconcile: false });
  app = createApp(ctx.deps);
  alice = clientFor(app, await signToken({ sub: 'alice-cache' }));
});
afterAll(async () => {
  await workers?.close();
  await app?.close();
  await ctx?.cleanup();
});

async function project(c: Client): Promise<string> {
  const r = await c.post('/v1/projects', { name: 'cache project', settings: { approval_threshold_usd: 1000, max_parallel_tasks: 20 } });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function ask(c: Client, projectId: string, message: string) {
  const r = await c.post(`/v1/projects/${projectId}/chat`, { message });
  expect(r.status).toBe(202);
  const status = await waitForPlan(ctx.deps.db, r.body.plan_id, { timeoutMs: 60_000 });
  const plan = (await c.get(`/v1/projects/${projectId}/plans/${r.body.plan_id}`)).body;
  const planningCalls = await ctx.deps.db
    .selectFrom('llm_calls').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('plan_id', '=', r.body.plan_id).where('purpose', '=', 'plan').executeTakeFirstOrThrow();
  return { status, plan, planningCalls: Number(planningCalls.n) };
}

const R01 = 'Research three open-source vector databases, compare their indexing methods, and write a one-page recommendation.';
const R01P = 'Compare the indexing approaches of three open source vector databases after researching them, then write a one page recommendation.';

describe('plan cache and project context', () => {
  it('reuses a completed plan for the same request and for a paraphrase, without a planning call', async () => {
    const p = await project(alice);
    const first = await ask(alice, p, R01);
    expect(first.status).toBe('completed');
    expect(first.plan.cache_hit).toBe(false);
    expect(first.planningCalls).toBe(1);

    const again = await ask(alice, p, R01);
    expect(again.plan.cache_hit).toBe(true);
    expect(again.planningCalls).toBe(0);
    expect(again.plan.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(first.plan.tasks.map((t: { task_id: string }) => t.task_id));
    expect(again.plan.total_estimated_cost).toBeGreaterThan(0);

    const para = await ask(alice, p, R01P);
    expect(para.plan.cache_hit).toBe(true);
    expect(para.planningCalls).toBe(0);
  });

  it('never serves one project’s or user’s plans to another', async () => {
    const p1 = await project(alice);
    await ask(alice, p1, 'Summarise our onboarding documents and draft a checklist for new engineers.');
    const p2 = await project(alice);
    expect((await ask(alice, p2, 'Summarise our onboarding documents and draft a checklist for new engineers.')).plan.cache_hit).toBe(false);
    const bob = clientFor(app, await signToken({ sub: 'bob-cache' }));
    const pb = await project(bob);
    expect((await ask(bob, pb, 'Summarise our onboarding documents and draft a checklist for new engineers.')).plan.cache_hit).toBe(false);
  });

  it('forgets a project’s plans when its agents change', async () => {
    const p = await project(alice);
    const req = 'Analyse the monthly cloud bill and list the three largest cost drivers.';
    expect((await ask(alice, p, req)).status).toBe('completed');
    const agents = (await alice.get(`/v1/projects/${p}/agents`)).body.items as Array<{ id: string; name: string }>;
    const writer = agents.find((a) => a.name === 'writer')!;
    expect((await alice.patch(`/v1/projects/${p}/agents/${writer.id}`, { config: { temperature: 0.9 } })).status).toBe(200);
    expect((await ask(alice, p, req)).plan.cache_hit).toBe(false);
  });

  it('caches only completed plans', async () => {
    const p = await project(alice);
    const r = await ask(alice, p, 'Draft a short note about release planning for the team.');
    await ctx.deps.db.updateTable('task_plans').set({ status: 'partial_success' }).where('id', '=', r.plan.id).execute();
    await ctx.deps.planCache.invalidateProject(r.plan.user_id ?? (await userId('alice-cache')), p);
    expect(await cacheCompletedPlan(ctx.deps, r.plan.id)).toBe(false);
    expect((await ask(alice, p, 'Draft a short note about release planning for the team.')).plan.cache_hit).toBe(false);
  });

  it('puts a relevant earlier result of the project into a later task’s prompt', async () => {
    const p = await project(alice);
    await ask(alice, p, 'Research the zebrafish retina regeneration literature and summarise the key findings.');
    seen.length = 0;
    await ask(alice, p, 'Write a grant outline about zebrafish retina regeneration.');
    const taskPrompts = seen.filter((r) => r.meta.purpose === 'task').map((r) => r.messages.map((m) => m.content).join('\n'));
    expect(taskPrompts.length).toBeGreaterThan(0);
    expect(taskPrompts.some((t) => /Relevant project context:[\s\S]*zebrafish retina regeneration/i.test(t))).toBe(true);
  });
});

async function userId(subject: string): Promise<string> {
  return (await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', subject).executeTakeFirstOrThrow()).id;
}
