import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';
import { eventRows, eventually, waitForPlan } from './helpers/seed.js';
import { scriptedRequest, type ScriptedTask } from './helpers/scripted.js';

/**
 * Approval and cancellation with every worker running: plans come from chat
 * in a project whose approval threshold is 0, so each one waits for a human.
 */
let ctx: TestContext;
let workers: WorkerSet;
let api: Client;
let projectId: string;

beforeAll(async () => {
  ctx = await createTestContext('approval-flow', { RECONCILE_INTERVAL_MS: '60000', TASK_BACKOFF_MS: '50' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  api = clientFor(createApp(ctx.deps), await signToken({ sub: 'approver' }));
  projectId = (await api.post('/v1/projects', { name: 'Approvals', settings: { approval_threshold_usd: 0, approval_timeout_s: 2 } })).body.id;
});
afterAll(async () => {
  await workers?.close();
  await ctx?.cleanup();
});

const plan = (planId: string) => `/v1/projects/${projectId}/plans/${planId}`;

/** Chats a scripted request and waits until its plan asks for approval. */
async function pendingPlan(tasks: ScriptedTask[] = [{ id: 'a' }, { id: 'b', deps: ['a'] }]): Promise<string> {
  const res = await api.post(`/v1/projects/${projectId}/chat`, { message: scriptedRequest(tasks) });
  expect(res.status).toBe(202);
  expect(await waitForPlan(ctx.deps.db, res.body.plan_id, { until: (s) => s !== 'planning' && s !== 'created' })).toBe('pending_approval');
  return res.body.plan_id;
}

describe('approval with workers running', () => {
  it('expires a plan nobody decided on after the project timeout (2 s), then refuses approval', async () => {
    const planId = await pendingPlan();
    const pending = await api.get(plan(planId));
    expect(pending.body).toMatchObject({ status: 'pending_approval', requires_approval: true, approval_reason: expect.stringMatching(/threshold/) });
    const expiresAt = Date.parse(pending.body.approval_expires_at);
    expect(expiresAt - Date.parse(pending.body.created_at)).toBeGreaterThan(1000);

    expect(await waitForPlan(ctx.deps.db, planId, { timeoutMs: 15_000 })).toBe('expired');
    const events = (await eventRows(ctx.deps.db, planId)).map((e) => e.type);
    expect(events).toContain('plan.expired');
    expect(events).not.toContain('plan.executing');

    const approve = await api.post(`${plan(planId)}/approve`);
    expect(approve.status).toBe(409);
    expect(approve.body.error.details).toEqual({ status: 'expired' });
    const after = await api.get(plan(planId));
    expect(after.body.tasks.every((t: { status: string }) => t.status === 'cancelled')).toBe(true);
    expect(after.body.completed_at).not.toBeNull();
  });

  it('runs an approved plan to completion and records who approved it', async () => {
    const planId = await pendingPlan();
    const res = await api.post(`${plan(planId)}/approve`);
    expect(res.status).toBe(200);
    expect(['executing', 'completed']).toContain(res.body.status);
    expect(res.body).toMatchObject({ decided_by: expect.any(String), decided_at: expect.any(String) });

    expect(await waitForPlan(ctx.deps.db, planId)).toBe('completed');
    const done = await api.get(plan(planId));
    expect(done.body.tasks.map((t: { status: string; result: unknown }) => [t.status, typeof t.result])).toEqual([
      ['completed', 'string'],
      ['completed', 'string'],
    ]);
    expect(done.body.summary).toEqual(expect.any(String));
    const events = (await eventRows(ctx.deps.db, planId)).map((e) => e.type);
    expect(events.indexOf('plan.approved')).toBeLessThan(events.indexOf('plan.executing'));
    expect(events).not.toContain('plan.expired');
  });

  it('rejects with a reason: the plan is rejected, the reason kept, nothing runs', async () => {
    const planId = await pendingPlan();
    const res = await api.post(`${plan(planId)}/reject`, { reason: 'not this quarter' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rejected', decision_reason: 'not this quarter' });
    const row = await ctx.deps.db.selectFrom('task_plans').select(['status', 'decision_reason']).where('id', '=', planId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'rejected', decision_reason: 'not this quarter' });
    const tasks = await ctx.deps.db.selectFrom('task_plan_tasks').select('started_at').where('plan_id', '=', planId).execute();
    expect(tasks.every((t) => t.started_at === null)).toBe(true);
  });
});

describe('cancel with workers running', () => {
  it('cancels an executing plan: 200 cancelled, its running task is stopped, and a second cancel is 409', async () => {
    const planId = await pendingPlan([{ id: 'slow', sim: { latency_ms: 20_000 } }, { id: 'after', deps: ['slow'] }]);
    expect((await api.post(`${plan(planId)}/approve`)).status).toBe(200);
    await eventually(async () => (await eventRows(ctx.deps.db, planId)).some((e) => e.type === 'task.started'), 15_000, 'the slow task to start');

    const res = await api.post(`${plan(planId)}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');
    await eventually(
      async () => {
        const t = await ctx.deps.db.selectFrom('task_plan_tasks').select('status').where('plan_id', '=', planId).execute();
        return t.every((x) => !['pending', 'queued', 'running'].includes(x.status)) && t;
      },
      15_000,
      'every task to settle',
    );
    const tasks = await ctx.deps.db.selectFrom('task_plan_tasks').select('status').where('plan_id', '=', planId).execute();
    expect(tasks.some((t) => t.status === 'completed')).toBe(false);
    const again = await api.post(`${plan(planId)}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.details).toEqual({ status: 'cancelled' });
    expect((await eventRows(ctx.deps.db, planId)).filter((e) => e.type === 'plan.cancelled')).toHaveLength(1);
  });

  it('answers 409 to cancelling a plan that already ended', async () => {
    const planId = await pendingPlan();
    expect((await api.post(`${plan(planId)}/reject`)).status).toBe(200);
    const res = await api.post(`${plan(planId)}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.details).toEqual({ status: 'rejected' });
  });
});
