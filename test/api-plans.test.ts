import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, clientFor, signToken, walkPages, type Client } from './helpers/http.js';
import { seedPlan } from './helpers/seed.js';

/** Plans as the API shows them: list, filters, pagination, one plan with its tasks, tenancy. No workers run here. */
let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let alice: Client;
let bob: Client;
let projectId: string;
let agents: Map<string, string>;
let aliceId: string;

beforeAll(async () => {
  ctx = await createTestContext('api-plans');
  app = createApp(ctx.deps);
  alice = clientFor(app, await signToken({ sub: 'alice' }));
  bob = clientFor(app, await signToken({ sub: 'bob' }));
  projectId = (await alice.post('/v1/projects', { name: 'Plans' })).body.id;
  const rows = await ctx.deps.db.selectFrom('user_agents').select(['id', 'name', 'user_id']).where('project_id', '=', projectId).execute();
  agents = new Map(rows.map((r) => [r.name, r.id]));
  aliceId = rows[0]!.user_id;
});
afterAll(() => ctx.cleanup());

const plans = (pid = projectId) => `/v1/projects/${pid}/plans`;
const chat = (message: string, session_id?: string) =>
  alice.post(`/v1/projects/${projectId}/chat`, { message, ...(session_id ? { session_id } : {}) });

describe('GET /plans/{planId}', () => {
  it('shows a plan in the contract shape with its tasks in execution order', async () => {
    const planId = await seedPlan(ctx.deps.db, { userId: aliceId, projectId, agents }, [
      { id: 'b', deps: ['a'], agent: 'analyst' },
      { id: 'a' },
    ]);
    await ctx.deps.db.updateTable('task_plan_tasks').set({ level: 1 }).where('plan_id', '=', planId).where('task_id', '=', 'b').execute();
    await ctx.deps.db
      .updateTable('task_plan_tasks')
      .set({ status: 'completed', result: JSON.stringify({ text: 'the answer', extra: 1 }), attempts: 1, actual_cost: 0.002 })
      .where('plan_id', '=', planId)
      .where('task_id', '=', 'a')
      .execute();

    const res = await alice.get(`${plans()}/${planId}`);
    expect(res.status).toBe(200);
    const plan = res.body;
    expect(Object.keys(plan).sort()).toEqual(
      [
        'id', 'project_id', 'session_id', 'original_request', 'status', 'total_estimated_cost', 'total_estimated_duration',
        'total_actual_cost', 'requires_approval', 'approval_reason', 'approval_expires_at', 'cache_hit', 'critical_path', 'summary',
        'error', 'created_at', 'started_at', 'completed_at', 'tasks',
        // extensions
        'llm_provider', 'decided_by', 'decided_at', 'decision_reason', 'events_url',
      ].sort(),
    );
    expect(plan).toMatchObject({ id: planId, project_id: projectId, status: 'created', cache_hit: false, critical_path: [], summary: null });
    expect(plan.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(['a', 'b']);
    expect(plan.tasks[0]).toEqual({
      id: expect.any(String),
      task_id: 'a',
      description: 'do a',
      agent_id: agents.get('researcher'),
      agent_name: 'researcher',
      dependencies: [],
      estimated_cost: 0,
      estimated_duration: 0,
      actual_cost: 0.002,
      risk_level: 'low',
      status: 'completed',
      result: 'the answer',
      error: null,
      attempts: 1,
      created_at: expect.any(String),
      started_at: null,
      completed_at: null,
      llm_provider: 'simulated',
    });
    expect(plan.tasks[1]).toMatchObject({ task_id: 'b', agent_name: 'analyst', dependencies: ['a'], result: null, status: 'pending' });
  });

  it('labels a plan still planning with the provider that will plan it', async () => {
    const { body } = await chat('label me');
    const res = await alice.get(`${plans()}/${body.plan_id}`);
    expect(res.body).toMatchObject({ status: 'planning', tasks: [], llm_provider: 'simulated', events_url: body.events_url });
  });

  it("answers 404 for another user's plan, on every plan route", async () => {
    const { body } = await chat('private');
    const bobProject = (await bob.post('/v1/projects', { name: 'Bob' })).body.id;
    for (const path of [`${plans()}/${body.plan_id}`, `${plans(bobProject)}/${body.plan_id}`]) {
      expect((await bob.get(path)).status).toBe(404);
      for (const action of ['approve', 'reject', 'cancel']) expect((await bob.post(`${path}/${action}`)).status).toBe(404);
    }
    const plan = await ctx.deps.db.selectFrom('task_plans').select('status').where('id', '=', body.plan_id).executeTakeFirstOrThrow();
    expect(plan.status).toBe('planning');
  });

  it('answers 404 for a plan of another project of the same user', async () => {
    const { body } = await chat('elsewhere');
    const other = (await alice.post('/v1/projects', { name: 'Other' })).body.id;
    expect((await alice.get(`${plans(other)}/${body.plan_id}`)).status).toBe(404);
  });

  it('answers 404 for an unknown plan and 400 for a malformed id', async () => {
    expect((await alice.get(`${plans()}/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    const bad = await alice.get(`${plans()}/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('planId');
  });
});

describe('GET /plans', () => {
  let listProject: string;
  let sessionId: string;
  const created: string[] = [];

  beforeAll(async () => {
    listProject = (await alice.post('/v1/projects', { name: 'List' })).body.id;
    const post = (message: string, session_id?: string) =>
      alice.post(`/v1/projects/${listProject}/chat`, { message, ...(session_id ? { session_id } : {}) });
    sessionId = (await alice.post(`/v1/projects/${listProject}/sessions`, {})).body.id;
    for (let i = 0; i < 9; i++) {
      const res = await post(`request ${i}`, i % 3 === 0 ? sessionId : undefined);
      created.push(res.body.plan_id);
    }
    // Two of them moved on, as the planner would have left them.
    await ctx.deps.db.updateTable('task_plans').set({ status: 'failed', error: 'no' }).where('id', 'in', [created[1]!, created[4]!]).execute();
  });

  it('lists the plans newest first, with their tasks', async () => {
    const res = await alice.get(`${plans(listProject)}?limit=100`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([...created].reverse());
    expect(res.body.items.every((p: { tasks: unknown[] }) => Array.isArray(p.tasks))).toBe(true);
    expect(res.body.next_cursor).toBeNull();
  });

  it('pages through every plan once, in order', async () => {
    const { items, pages } = await walkPages<{ id: string }>(alice, plans(listProject), 2);
    expect(items.map((p) => p.id)).toEqual([...created].reverse());
    expect(pages).toBe(5);
  });

  it('filters by status', async () => {
    const failed = await alice.get(`${plans(listProject)}?status=failed`);
    expect(failed.body.items.map((p: { id: string }) => p.id).sort()).toEqual([created[1], created[4]].sort());
    const planning = await walkPages<{ status: string }>(alice, `${plans(listProject)}?status=planning`, 3);
    expect(planning.items).toHaveLength(7);
    expect(planning.items.every((p) => p.status === 'planning')).toBe(true);
  });

  it('filters by session, and combines filters', async () => {
    const res = await alice.get(`${plans(listProject)}?session_id=${sessionId}`);
    expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([created[6], created[3], created[0]]);
    const none = await alice.get(`${plans(listProject)}?session_id=${sessionId}&status=failed`);
    expect(none.body.items).toEqual([]);
  });

  it('rejects an unknown status, a malformed session id and a forged cursor', async () => {
    for (const [query, field] of [['status=done', 'status'], ['session_id=x', 'session_id'], ['cursor=abc', 'cursor'], ['limit=0', 'limit']]) {
      const res = await alice.get(`${plans(listProject)}?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  it("answers 404 for another user's project and never lists their plans", async () => {
    expect((await bob.get(plans(listProject))).status).toBe(404);
    const bobProject = (await bob.post('/v1/projects', { name: 'Bob list' })).body.id;
    expect((await bob.get(plans(bobProject))).body.items).toEqual([]);
  });

  it('needs a token', async () => {
    expect((await call(app, 'GET', plans(listProject))).status).toBe(401);
  });
});

describe('OpenAPI document', () => {
  it('documents chat, plans, decisions and usage with their resource shapes', async () => {
    const res = await call(app, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const paths = Object.keys(res.body.paths);
    for (const p of [
      '/v1/projects/{projectId}/chat',
      '/v1/projects/{projectId}/plans',
      '/v1/projects/{projectId}/plans/{planId}',
      '/v1/projects/{projectId}/plans/{planId}/approve',
      '/v1/projects/{projectId}/plans/{planId}/reject',
      '/v1/projects/{projectId}/plans/{planId}/cancel',
      '/v1/projects/{projectId}/usage',
    ]) expect(paths).toContain(p);
    const schemas = res.body.components.schemas;
    expect(Object.keys(schemas.Plan.properties)).toEqual(expect.arrayContaining(['critical_path', 'summary', 'approval_expires_at', 'cache_hit', 'tasks', 'llm_provider']));
    expect(Object.keys(schemas.Task.properties)).toEqual(expect.arrayContaining(['task_id', 'agent_name', 'dependencies', 'result', 'attempts']));
    expect(res.body.paths['/v1/projects/{projectId}/usage'].get.description).toMatch(/by_day/);
    expect(res.body.paths['/v1/projects/{projectId}/chat'].post.responses).toHaveProperty('202');
  });
});
