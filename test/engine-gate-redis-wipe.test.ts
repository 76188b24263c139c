import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker, type Job } from 'bullmq';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, eventually, seedPlan, seedProject, seedUser, taskRows, waitForPlan } from './helpers/seed.js';
import { createPlanControl, type PlanControl } from '../src/engine/plan-control.js';
import { QUEUE, jobId, type GateJob } from '../src/queues/catalog.js';
import { deleteKeys } from '../src/redis.js';
import { createGateProcessor } from '../workers/gate-worker.js';
import { createWorkers } from '../workers/index.js';

/**
 * The gate slow path against a Redis wipe (issue #8: in the chaos test a
 * task scripted never to fail ended `failed` on its first attempt).
 *
 * A gate re-check that was fetched before Redis lost its data (FLUSHDB, a
 * restart without persistence) and looks for its source's job after the wipe
 * finds none, and the source itself, claimed by a worker that was killed,
 * is held by nobody until another worker takes it over. That is not a lost
 * task: the reconciler re-adds the plan's flow from PostgreSQL a moment
 * later. The gate must not record it as failed. A source whose job BullMQ
 * really gave up on, with Redis intact, still is.
 *
 * Every step is driven by hand, no timing: a gate job fetched as a gate
 * worker fetches it, this file's keys deleted (FLUSHDB of its prefix), then
 * the gate processor run on the job it holds.
 */
let ctx: TestContext;
let control: PlanControl;
let owner: { userId: string; projectId: string; agents: Map<string, string> };
let fetcher: Worker<GateJob>;

beforeAll(async () => {
  ctx = await createTestContext('gate-redis-wipe', {
    GATE_RECHECK_MS: '100',
    TASK_LEASE_MS: '2000',
    RECONCILE_INTERVAL_MS: '500',
    USER_MAX_RUNNING_TASKS: '100',
    SIMULATED_LATENCY_MS: '5',
  });
  control = createPlanControl(ctx.deps);
  const userId = await seedUser(ctx.deps.db, 'gate-wipe-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId)) };
  // A gate worker without a processor: jobs are fetched by hand with getNextJob.
  fetcher = new Worker<GateJob>(QUEUE.gates, null, { connection: ctx.deps.redis, prefix: ctx.deps.prefix, lockDuration: 60_000 });
});

afterAll(async () => {
  await fetcher?.close();
  await ctx?.cleanup();
});

/**
 * An executing plan `a → b` whose `a` was claimed (attempt 1) by a worker
 * that died: running, its lease expired, its job still in Redis. Returns the
 * gate `a → b`, fetched (locked) as the gate worker does once its delay is up.
 */
async function planWithDeadHolder(): Promise<{ planId: string; gate: Job<GateJob>; token: string }> {
  const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }, { id: 'b', deps: ['a'] }]);
  expect(await control.startExecution(planId)).toBe(true);
  await ctx.deps.db
    .updateTable('task_plan_tasks')
    .set({ status: 'running', attempts: 1, lease_token: `dead-host:1:killed`, lease_until: new Date(Date.now() - 1_000), started_at: new Date() })
    .where('plan_id', '=', planId)
    .where('task_id', '=', 'a')
    .execute();
  const token = `gate-token-${planId}`;
  const gateId = jobId.gate(planId, 'a', 'b');
  const gate = await eventually(async () => {
    const j = (await fetcher.getNextJob(token)) as Job<GateJob> | undefined;
    if (j && j.id !== gateId) throw new Error(`fetched ${j.id}, not the gate ${gateId}`);
    return j;
  }, 20_000, 'the gate a → b, once its delay is up');
  return { planId, gate, token };
}

describe('a gate re-check and a Redis wipe', () => {
  it('does not record the source as lost when Redis was wiped while the gate was being checked; the rebuilt plan completes', async () => {
    const { planId, gate, token } = await planWithDeadHolder();

    // Redis loses everything (this file's keys: FLUSHDB of its prefix) while the gate worker holds the gate.
    await deleteKeys(ctx.deps.redis, `${ctx.deps.prefix}:*`);
    await createGateProcessor(ctx.deps)(gate, token).catch(() => undefined);

    const rows = await taskRows(ctx.deps.db, planId);
    expect(rows.map((r) => [r.task_id, r.status, r.error])).toEqual([
      ['a', 'running', null],
      ['b', 'pending', null],
    ]);
    expect((await eventRows(ctx.deps.db, planId)).filter((e) => e.type === 'task.failed')).toEqual([]);

    // The reconciler re-adds the flow from PostgreSQL; a worker takes `a` over and the plan completes.
    const workers = createWorkers(ctx.deps, {});
    try {
      expect(await waitForPlan(ctx.deps.db, planId, { timeoutMs: 60_000 })).toBe('completed');
    } finally {
      await workers.close();
    }
    const done = await taskRows(ctx.deps.db, planId);
    expect(done.map((r) => [r.task_id, r.status, r.attempts])).toEqual([
      ['a', 'completed', 2],
      ['b', 'completed', 1],
    ]);
  }, 120_000);

  it('still records the source as lost when its job is gone for good and Redis was not wiped: its dependents are skipped', async () => {
    const { planId, gate, token } = await planWithDeadHolder();

    // BullMQ gave up on the source's job (as after too many stalls: removeOnFail drops it); the rest of Redis is intact.
    expect(await ctx.deps.queues.byName[QUEUE.agents].remove(jobId.task(planId, 'a'))).toBe(1);
    await createGateProcessor(ctx.deps)(gate, token);

    const rows = await taskRows(ctx.deps.db, planId);
    expect(rows.map((r) => [r.task_id, r.status, r.error])).toEqual([
      ['a', 'failed', 'the task was lost by the workers'],
      ['b', 'skipped', expect.stringContaining('a')],
    ]);
  }, 60_000);
});
