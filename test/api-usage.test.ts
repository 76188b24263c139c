import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';
import { waitForPlan } from './helpers/seed.js';
import { scriptedRequest } from './helpers/scripted.js';

/** Usage figures against sums computed here, from the rows, after real (simulated) plans ran. */
let ctx: TestContext;
let workers: WorkerSet;
let api: Client;
let projectId: string;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  ctx = await createTestContext('api-usage', { RECONCILE_INTERVAL_MS: '60000', TASK_BACKOFF_MS: '50' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  api = clientFor(createApp(ctx.deps), await signToken({ sub: 'spender' }));
  projectId = (await api.post('/v1/projects', { name: 'Usage', settings: { approval_threshold_usd: 1000 } })).body.id;
  for (const tasks of [
    [{ id: 'r', sim: { output_tokens: 400 } }, { id: 'a', agent: 'analyst', deps: ['r'], sim: { output_tokens: 250 } }],
    [{ id: 'c', agent: 'coder', sim: { output_tokens: 120 } }, { id: 'flaky', sim: { fail: 'transient' as const } }],
  ]) {
    const res = await api.post(`/v1/projects/${projectId}/chat`, { message: scriptedRequest(tasks) });
    expect(await waitForPlan(ctx.deps.db, res.body.plan_id)).toBe('completed');
  }
});
afterAll(async () => {
  await workers?.close();
  await ctx?.cleanup();
});

const usage = (query = '') => api.get(`/v1/projects/${projectId}/usage${query}`);
const sum = <T>(rows: T[], f: (r: T) => number) => rows.reduce((s, r) => s + f(r), 0);

describe('GET /usage', () => {
  it('equals the sums of the llm_calls rows: totals, per model, per agent and per purpose', async () => {
    const calls = await ctx.deps.db.selectFrom('llm_calls').selectAll().where('project_id', '=', projectId).execute();
    expect(new Set(calls.map((c) => c.purpose))).toEqual(new Set(['plan', 'task', 'synthesis']));
    const res = await usage(`?from=${today}&to=${today}`);
    expect(res.status).toBe(200);
    const u = res.body;
    expect(u.from).toBe(today);
    expect(u.to).toBe(today);

    expect(u.totals.calls).toBe(calls.length);
    expect(u.totals.failed_calls).toBe(calls.filter((c) => c.outcome !== 'ok').length);
    expect(u.totals.failed_calls).toBeGreaterThan(0); // the transient failure
    expect(u.totals.input_tokens).toBe(sum(calls, (c) => c.input_tokens));
    expect(u.totals.output_tokens).toBe(sum(calls, (c) => c.output_tokens));
    expect(u.totals.actual_cost).toBeCloseTo(sum(calls, (c) => c.cost), 12);
    expect(u.totals.actual_cost).toBeGreaterThan(0);

    for (const m of u.by_model) {
      const rows = calls.filter((c) => c.provider === m.provider && c.model === m.model);
      expect(m.calls).toBe(rows.length);
      expect(m.output_tokens).toBe(sum(rows, (c) => c.output_tokens));
      expect(m.actual_cost).toBeCloseTo(sum(rows, (c) => c.cost), 12);
    }
    expect(sum(u.by_model, (m: { calls: number }) => m.calls)).toBe(calls.length);
    expect(u.by_model.every((m: { provider: string }) => m.provider === 'simulated')).toBe(true);

    const agentNames = new Set(calls.map((c) => c.agent_name));
    expect(new Set(u.by_agent.filter((a: { calls: number }) => a.calls > 0).map((a: { agent_name: string }) => a.agent_name))).toEqual(agentNames);
    for (const a of u.by_agent) {
      const rows = calls.filter((c) => c.agent_name === a.agent_name);
      expect(a.calls).toBe(rows.length);
      expect(a.input_tokens).toBe(sum(rows, (c) => c.input_tokens));
      expect(a.actual_cost).toBeCloseTo(sum(rows, (c) => c.cost), 12);
    }
    for (const p of u.by_purpose) {
      const rows = calls.filter((c) => c.purpose === p.purpose);
      expect(p.calls).toBe(rows.length);
      expect(p.actual_cost).toBeCloseTo(sum(rows, (c) => c.cost), 12);
    }

    expect(u.by_day).toHaveLength(1);
    expect(u.by_day[0]).toMatchObject({ date: today, calls: calls.length, input_tokens: u.totals.input_tokens });
    expect(u.by_day[0].actual_cost).toBeCloseTo(u.totals.actual_cost, 12);
  });

  it('puts the estimates of the plans next to the actual figures', async () => {
    const plans = await ctx.deps.db.selectFrom('task_plans').select(['id', 'total_estimated_cost']).where('project_id', '=', projectId).execute();
    const tasks = await ctx.deps.db
      .selectFrom('task_plan_tasks')
      .select(['agent_name', 'estimated_cost'])
      .where('plan_id', 'in', plans.map((p) => p.id))
      .execute();
    const u = (await usage(`?from=${today}&to=${today}`)).body;
    expect(u.totals.plans).toBe(2);
    expect(u.totals.estimated_cost).toBeCloseTo(sum(plans, (p) => p.total_estimated_cost ?? 0), 12);
    expect(u.totals.estimated_task_cost).toBeCloseTo(sum(tasks, (t) => t.estimated_cost), 12);
    expect(u.totals.estimated_task_cost).toBeGreaterThan(0);
    expect(u.by_day[0]).toMatchObject({ plans: 2 });
    expect(u.by_day[0].estimated_cost).toBeCloseTo(u.totals.estimated_cost, 12);
    for (const name of ['researcher', 'analyst', 'coder']) {
      const mine = tasks.filter((t) => t.agent_name === name);
      const row = u.by_agent.find((a: { agent_name: string }) => a.agent_name === name);
      expect(row.tasks).toBe(mine.length);
      expect(row.estimated_task_cost).toBeCloseTo(sum(mine, (t) => t.estimated_cost), 12);
    }
  });

  it('defaults to the last 30 days, one entry per day, oldest first', async () => {
    const u = (await usage()).body;
    expect(u.to).toBe(today);
    expect(u.by_day).toHaveLength(30);
    expect(u.by_day[0].date).toBe(u.from);
    expect(u.by_day.at(-1).date).toBe(today);
    expect(u.by_day.slice(0, -1).every((d: { calls: number; plans: number }) => d.calls === 0 && d.plans === 0)).toBe(true);
  });

  it('counts nothing outside the range', async () => {
    const u = (await usage('?from=2020-01-01&to=2020-01-31')).body;
    expect(u.totals).toMatchObject({ actual_cost: 0, calls: 0, plans: 0, estimated_cost: 0 });
    expect(u.by_model).toEqual([]);
    expect(u.by_day).toHaveLength(31);
  });

  it.each([
    ['from after to', `?from=2026-02-02&to=2026-02-01`, 'from'],
    ['a range over 366 days', `?from=2024-01-01&to=2025-12-31`, 'to'],
    ['a date that is not a date', `?from=yesterday`, 'from'],
    ['an impossible date', `?to=2026-02-30`, 'to'],
  ])('answers 400 naming the field for %s', async (_what, query, field) => {
    const res = await usage(query);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it("answers 404 for another user's project", async () => {
    const other = clientFor(createApp(ctx.deps), await signToken({ sub: 'someone-else' }));
    expect((await other.get(`/v1/projects/${projectId}/usage`)).status).toBe(404);
  });
});
