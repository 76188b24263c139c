import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, UnrecoverableError } from 'bullmq';
import { createTestContext, type TestContext } from './helpers/context.js';
import { createFixture, createPlanningPlan, eventually, scripted, type PlannerFixture } from './helpers/planner-fixtures.js';
import { createPlannerProcessor, createPlannerWorker } from '../workers/planner.js';
import { QUEUE, jobId, jobOptions, plannerJob } from '../src/queues/catalog.js';
import type { PlanCache, PlanCacheQuery } from '../src/core/plan/plan-cache.js';
import type { ModelPlan } from '../src/core/plan/plan-schema.js';

let ctx: TestContext;
let fx: PlannerFixture;
const created: string[] = [];
const onPlanCreated = async (planId: string) => {
  created.push(planId);
};

beforeAll(async () => {
  ctx = await createTestContext('planner-processor');
  fx = await createFixture(ctx.deps.db, [
    { name: 'manager', config: { role: 'Plans the work', capabilities: ['planning'] } },
    { name: 'researcher', config: { role: 'Finds facts', capabilities: ['research'] } },
    { name: 'writer', config: { role: 'Writes', capabilities: ['writing'] } },
    { name: 'fetcher', config: { role: 'Fetches pages', tools: ['http_fetch'] } },
    { name: 'retired', status: 'disabled' },
  ]);
});
afterAll(() => ctx.cleanup());

const job = (planId: string, attemptsMade = 0) => ({ data: { planId }, attemptsMade, opts: jobOptions.planner() });
const plan = (planId: string) => ctx.deps.db.selectFrom('task_plans').selectAll().where('id', '=', planId).executeTakeFirstOrThrow();
const tasks = (planId: string) =>
  ctx.deps.db.selectFrom('task_plan_tasks').selectAll().where('plan_id', '=', planId).orderBy('task_id').execute();
const events = (planId: string) =>
  ctx.deps.db.selectFrom('plan_events').selectAll().where('plan_id', '=', planId).orderBy('seq').execute();
const planCalls = async (planId: string) =>
  Number(
    (await ctx.deps.db
      .selectFrom('llm_calls')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('plan_id', '=', planId)
      .where('purpose', '=', 'plan')
      .executeTakeFirstOrThrow()).n,
  );

const t = (id: string, agent: string, dependencies: string[] = [], sim?: object) => ({
  id, description: `Step ${id} of the work`, agent, dependencies, ...(sim ? { sim } : {}),
});
const DIAMOND = {
  tasks: [
    t('t1', 'researcher', [], { latency_ms: 100, output_tokens: 50 }),
    t('t2', 'researcher', ['t1'], { latency_ms: 400, output_tokens: 50 }),
    t('t3', 'writer', ['t1'], { latency_ms: 200, output_tokens: 50 }),
    t('t4', 'writer', ['t2', 't3'], { latency_ms: 100, output_tokens: 50 }),
  ],
};
const CYCLE = { tasks: [t('t1', 'researcher', ['t3']), t('t2', 'writer', ['t1']), t('t3', 'writer', ['t1'])] };

describe('planner processor', () => {
  it('turns a valid scripted plan into tasks, estimates, the critical path and a plan.created event', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Research and write.', DIAMOND));
    const result = await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
    expect(result).toMatchObject({ outcome: 'created', llmCalls: 1, requiresApproval: false });

    const p = await plan(planId);
    expect(p).toMatchObject({ status: 'created', llm_provider: 'simulated', cache_hit: false, requires_approval: false });
    expect(p.critical_path).toEqual(['t1', 't2', 't4']);
    // Simulated latencies: the longest path 0.1 + 0.4 + 0.1 s, not the 0.8 s sum,
    // then the manager's final answer at the configured simulated latency.
    expect(p.total_estimated_duration).toBeCloseTo(0.6 + ctx.config.SIMULATED_LATENCY_MS / 1000, 9);
    const rows = await tasks(planId);
    expect(rows.map((r) => [r.task_id, r.agent_name, r.dependencies, r.level, r.status, r.risk_level])).toEqual([
      ['t1', 'researcher', [], 0, 'pending', 'low'],
      ['t2', 'researcher', ['t1'], 1, 'pending', 'low'],
      ['t3', 'writer', ['t1'], 1, 'pending', 'low'],
      ['t4', 'writer', ['t2', 't3'], 2, 'pending', 'low'],
    ]);
    expect(rows[0]!.agent_id).toBe(fx.agentIds.researcher);
    expect(rows[0]!.sim).toEqual({ latency_ms: 100, output_tokens: 50 });
    expect(rows.every((r) => r.estimated_output_tokens === 50 && r.estimated_input_tokens > 0)).toBe(true);
    // Total = the tasks' estimates + what the planning call actually cost + the
    // manager's final answer (priced with its model: gpt-4o for the simulated starter pack).
    const planning = await ctx.deps.db.selectFrom('llm_calls').select('cost').where('plan_id', '=', planId).executeTakeFirstOrThrow();
    expect(planning.cost).toBeGreaterThan(0);
    const synthesis = p.total_estimated_cost! - (rows.reduce((s, r) => s + r.estimated_cost, 0) + planning.cost);
    expect(synthesis).toBeGreaterThan(0);
    expect(synthesis).toBeLessThan(p.total_estimated_cost!);

    const evs = await events(planId);
    expect(evs.map((e) => [e.seq, e.type])).toEqual([[1, 'plan.planning'], [2, 'plan.created']]);
    expect(evs[1]!.payload).toMatchObject({
      tasks: DIAMOND.tasks.map(({ id, description, agent, dependencies }) => ({ id, description, agent, dependencies })),
      critical_path: ['t1', 't2', 't4'],
      total_estimated_cost: p.total_estimated_cost,
      total_estimated_duration: p.total_estimated_duration,
      cache_hit: false,
    });
    expect(created).toContain(planId);
  });

  it('repairs an answer with a cycle: created after exactly two planning calls', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Plan this.', CYCLE, DIAMOND));
    const result = await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
    expect(result).toMatchObject({ outcome: 'created', llmCalls: 2 });
    expect(await planCalls(planId)).toBe(2);
    expect((await plan(planId)).status).toBe('created');
    expect(await tasks(planId)).toHaveLength(4);
  });

  it('fails the plan after three invalid answers, naming the cycle', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Plan this.', CYCLE));
    await expect(createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await planCalls(planId)).toBe(3);
    const p = await plan(planId);
    expect(p.status).toBe('failed');
    expect(p.error_code).toBe('PLAN_INVALID');
    expect(p.llm_provider).toBe('simulated');
    expect(p.error).toContain('dependency cycle: t1 → t3 → t1');
    expect(p.total_actual_cost).toBeGreaterThan(0);
    expect(await tasks(planId)).toEqual([]);
    const evs = await events(planId);
    expect(evs.map((e) => e.type)).toEqual(['plan.planning', 'plan.failed']);
    expect(evs[1]!.payload).toMatchObject({ error: p.error });
    expect(created).not.toContain(planId);
  });

  it('sends every problem back: an unknown and a disabled agent are fixed in one repair', async () => {
    const bad = { tasks: [t('t1', 'ghost'), t('t2', 'retired', ['t1'])] };
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Plan this.', bad, DIAMOND));
    expect(await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId))).toMatchObject({ outcome: 'created', llmCalls: 2 });
  });

  it('asks for approval when a task uses a tool with side effects', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Fetch it.', { tasks: [t('t1', 'fetcher'), t('t2', 'writer', ['t1'])] }));
    await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
    const p = await plan(planId);
    expect(p.requires_approval).toBe(true);
    expect(p.approval_reason).toBe('task t1 (fetcher) uses http_fetch, a tool with side effects');
    expect((await tasks(planId)).map((r) => r.risk_level)).toEqual(['high', 'low']);
  });

  it("asks for approval when the estimate exceeds the project's threshold", async () => {
    const cheap = await createFixture(ctx.deps.db, [{ name: 'writer' }], { approval_threshold_usd: 0.0001 });
    const planId = await createPlanningPlan(ctx.deps.db, cheap, scripted('Write.', { tasks: [t('t1', 'writer')] }));
    await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
    const p = await plan(planId);
    expect(p.requires_approval).toBe(true);
    expect(p.approval_reason).toMatch(/^estimated cost \$0\.\d+ exceeds the project's \$0\.0001 threshold$/);
  });

  it("uses an agent's mean output from its last successful calls once it has five", async () => {
    const f = await createFixture(ctx.deps.db, [{ name: 'writer', config: { max_output_tokens: 1000 } }]);
    const call = (output_tokens: number) => ({
      user_id: f.userId, project_id: f.projectId, agent_id: f.agentIds.writer!, agent_name: 'writer', purpose: 'task' as const,
      provider: 'simulated', model: 'gpt-4o-mini', input_tokens: 10, output_tokens, cost: 0, latency_ms: 5, outcome: 'ok' as const, attempt: 1,
    });
    const run = async () => {
      const planId = await createPlanningPlan(ctx.deps.db, f, scripted('Write.', { tasks: [t('t1', 'writer')] }));
      await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
      return (await tasks(planId))[0]!.estimated_output_tokens;
    };
    await ctx.deps.db.insertInto('llm_calls').values([100, 200, 300, 400].map(call)).execute();
    expect(await run()).toBe(500); // four calls: half of max_output_tokens
    await ctx.deps.db.insertInto('llm_calls').values([call(500), { ...call(9999), outcome: 'error' }]).execute();
    expect(await run()).toBe(300); // five ok calls: their mean
  });

  it('fails the plan with the provider error when the manager’s provider is not configured', async () => {
    const f = await createFixture(ctx.deps.db, [{ name: 'manager', config: { provider: 'anthropic', model: 'claude-3-5-haiku-latest' } }]);
    const planId = await createPlanningPlan(ctx.deps.db, f, 'Do something.');
    await expect(createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId))).rejects.toBeInstanceOf(UnrecoverableError);
    const p = await plan(planId);
    expect(p).toMatchObject({ status: 'failed', error_code: 'LLM_PROVIDER_NOT_CONFIGURED' });
    expect(p.error).toContain('not configured');
  });

  it('fails the plan when the project has no active agent', async () => {
    const f = await createFixture(ctx.deps.db, [{ name: 'writer', status: 'disabled' }]);
    const planId = await createPlanningPlan(ctx.deps.db, f, 'Do something.');
    await expect(createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await plan(planId)).toMatchObject({ status: 'failed', error_code: 'NO_ACTIVE_AGENT' });
  });

  it('plans an unscripted request with the simulated heuristic planner', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, 'Research three vector databases, then write a short recommendation.');
    await createPlannerProcessor(ctx.deps, { onPlanCreated })(job(planId));
    const p = await plan(planId);
    expect(p.status).toBe('created');
    expect((await tasks(planId)).length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a malformed payload without retrying', async () => {
    await expect(createPlannerProcessor(ctx.deps, { onPlanCreated })(job('not-a-uuid'))).rejects.toBeInstanceOf(UnrecoverableError);
  });

  it('is a no-op for a plan that is not planning, and hands a created plan over again', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Write.', DIAMOND));
    const seen: string[] = [];
    const processor = createPlannerProcessor(ctx.deps, { onPlanCreated: async (id) => void seen.push(id) });
    await processor(job(planId));
    expect(await processor(job(planId, 1))).toEqual({ outcome: 'handed_off', planId });
    expect(seen).toEqual([planId, planId]);
    expect(await planCalls(planId)).toBe(1);
    expect(await tasks(planId)).toHaveLength(4);
    expect((await events(planId)).map((e) => e.type)).toEqual(['plan.planning', 'plan.created']);

    await ctx.deps.db.updateTable('task_plans').set({ status: 'cancelled' }).where('id', '=', planId).execute();
    expect(await processor(job(planId, 2))).toEqual({ outcome: 'skipped', planId, status: 'cancelled' });
    expect(seen).toHaveLength(2);
  });

  it('writes one plan when two runs race on the same plan', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Write.', DIAMOND));
    const processor = createPlannerProcessor(ctx.deps, { onPlanCreated });
    const outcomes = (await Promise.all([processor(job(planId)), processor(job(planId))])).map((r) => r.outcome).sort();
    expect(outcomes).toEqual(['created', 'skipped']);
    expect(await tasks(planId)).toHaveLength(4);
    expect((await events(planId)).map((e) => [e.seq, e.type])).toEqual([[1, 'plan.planning'], [2, 'plan.created']]);
  });
});

describe('plan cache seam', () => {
  /** A real (if tiny) implementation of the port: exact request match. */
  function memoryCache(): PlanCache & { asked: PlanCacheQuery[]; entries: Map<string, unknown> } {
    const entries = new Map<string, unknown>();
    const asked: PlanCacheQuery[] = [];
    return {
      entries,
      asked,
      async lookup(q) {
        asked.push(q);
        const plan = entries.get(q.request);
        return plan === undefined ? null : { plan, costUsd: 0.00001 };
      },
    };
  }

  it('asks the cache first and, on a hit, makes the plan without a model call', async () => {
    const cache = memoryCache();
    const processor = createPlannerProcessor(ctx.deps, { onPlanCreated, planCache: cache });
    const request = scripted('Cache me.', DIAMOND);
    const first = await createPlanningPlan(ctx.deps.db, fx, request);
    expect(await processor(job(first))).toMatchObject({ outcome: 'created', cacheHit: false });
    expect(cache.asked.map((q) => q.agents)).toEqual([['manager', 'researcher', 'writer', 'fetcher']]);
    // the engine stores a plan once it completed; here the test plays that part
    cache.entries.set(request, JSON.parse(/```plan\n([\s\S]*?)```/.exec(request)![1]!));

    const second = await createPlanningPlan(ctx.deps.db, fx, request);
    expect(await processor(job(second))).toMatchObject({ outcome: 'created', cacheHit: true, llmCalls: 0 });
    expect(await planCalls(second)).toBe(0);
    expect(await plan(second)).toMatchObject({ cache_hit: true, llm_provider: null });
    expect((await events(second))[1]!.payload).toMatchObject({ cache_hit: true });
  });

  it('ignores a cached plan that no longer fits the team and asks the model', async () => {
    const cache = memoryCache();
    const request = scripted('Stale.', DIAMOND);
    cache.entries.set(request, { tasks: [t('t1', 'retired')] });
    const planId = await createPlanningPlan(ctx.deps.db, fx, request);
    expect(await createPlannerProcessor(ctx.deps, { onPlanCreated, planCache: cache })(job(planId))).toMatchObject({
      outcome: 'created', cacheHit: false, llmCalls: 1,
    });
  });
});

describe('planner worker (BullMQ)', () => {
  it('processes a planner job from the queue and hands the plan over', async () => {
    const handed: string[] = [];
    const worker = createPlannerWorker(ctx.deps, { onPlanCreated: async (id) => void handed.push(id) });
    const queue = new Queue(QUEUE.planner, { connection: ctx.deps.redis, prefix: ctx.config.QUEUE_PREFIX });
    try {
      const planId = await createPlanningPlan(ctx.deps.db, fx, scripted('Queued.', DIAMOND));
      await queue.add('plan', plannerJob.parse({ planId }), { ...jobOptions.planner(), jobId: jobId.planner(planId) });
      await eventually(async () => (handed.includes(planId) ? true : undefined));
      expect((await plan(planId)).status).toBe('created');
      expect(await tasks(planId)).toHaveLength(4);
      const evs = await events(planId);
      expect(evs.map((e) => e.seq)).toEqual([1, 2]);
      expect(evs.map((e) => e.type)).toEqual(['plan.planning', 'plan.created']);
      const state = await eventually(async () => {
        const s = await queue.getJobState(jobId.planner(planId));
        return s === 'completed' ? s : undefined;
      });
      expect(state).toBe('completed');
    } finally {
      await worker.close();
      await worker.close(); // idempotent
      await queue.close();
    }
  });
});
