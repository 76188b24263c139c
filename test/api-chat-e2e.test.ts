import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';
import { eventRows, waitForPlan } from './helpers/seed.js';
import { scriptedRequest } from './helpers/scripted.js';

/** Chat to answer with every worker running in-process, through the HTTP API only. */
let ctx: TestContext;
let workers: WorkerSet;
let api: Client;
let projectId: string;

beforeAll(async () => {
  ctx = await createTestContext('api-chat-e2e', { RECONCILE_INTERVAL_MS: '60000', TASK_BACKOFF_MS: '50' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  api = clientFor(createApp(ctx.deps), await signToken({ sub: 'e2e' }));
  projectId = (await api.post('/v1/projects', { name: 'E2E', settings: { approval_threshold_usd: 1000 } })).body.id;
});
afterAll(async () => {
  await workers?.close();
  await ctx?.cleanup();
});

describe('chat end to end', () => {
  it('plans a scripted request, runs it to completed, and answers in the session', async () => {
    const message = scriptedRequest(
      [{ id: 'research' }, { id: 'draft', agent: 'analyst', deps: ['research'] }, { id: 'check', agent: 'reviewer', deps: ['draft'] }],
      'Write a short note on caching',
    );
    const accepted = await api.post(`/v1/projects/${projectId}/chat`, { message });
    expect(accepted.status).toBe(202);
    const { plan_id: planId, session_id: sessionId } = accepted.body;

    expect(await waitForPlan(ctx.deps.db, planId)).toBe('completed');

    const plan = await api.get(`/v1/projects/${projectId}/plans/${planId}`);
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({
      id: planId,
      session_id: sessionId,
      status: 'completed',
      original_request: message,
      llm_provider: 'simulated',
      critical_path: ['research', 'draft', 'check'],
      summary: expect.any(String),
      error: null,
      requires_approval: false,
      cache_hit: false,
    });
    expect(plan.body.total_estimated_cost).toBeGreaterThan(0);
    expect(plan.body.started_at).not.toBeNull();
    expect(plan.body.completed_at).not.toBeNull();
    expect(plan.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(['research', 'draft', 'check']);
    for (const t of plan.body.tasks) {
      expect(t).toMatchObject({ status: 'completed', attempts: 1, error: null, llm_provider: 'simulated' });
      expect(typeof t.result).toBe('string');
      expect(t.result.length).toBeGreaterThan(0);
    }
    expect(plan.body.tasks[1]).toMatchObject({ agent_name: 'analyst', dependencies: ['research'] });

    const messages = await api.get(`/v1/projects/${projectId}/sessions/${sessionId}/messages`);
    expect(messages.body.items.map((m: { role: string; plan_id: string }) => [m.role, m.plan_id])).toEqual([
      ['user', planId],
      ['assistant', planId],
    ]);
    expect(messages.body.items[0].content).toBe(message);
    expect(messages.body.items[1].content).toBe(plan.body.summary);

    const types = (await eventRows(ctx.deps.db, planId)).map((e) => e.type);
    expect(types[0]).toBe('plan.planning');
    expect(types).toContain('plan.created');
    expect(types.at(-1)).toBe('plan.completed');
  });

  it('reports a request the planner cannot make valid as a failed plan with its error', async () => {
    const message = scriptedRequest([{ id: 'a', agent: 'no_such_agent' }]);
    const { body } = await api.post(`/v1/projects/${projectId}/chat`, { message });
    expect(await waitForPlan(ctx.deps.db, body.plan_id)).toBe('failed');
    const plan = await api.get(`/v1/projects/${projectId}/plans/${body.plan_id}`);
    expect(plan.body).toMatchObject({ status: 'failed', tasks: [], llm_provider: 'simulated' });
    expect(plan.body.error).toMatch(/no_such_agent/);
  });
});
