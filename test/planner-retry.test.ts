import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError } from 'bullmq';
import { createTestContext, type TestContext } from './helpers/context.js';
import { createFixture, createPlanningPlan, type PlannerFixture } from './helpers/planner-fixtures.js';
import { createPlannerProcessor } from '../workers/planner.js';
import { jobOptions } from '../src/queues/catalog.js';

// The simulated provider answers after 1 s, the router gives up after 100 ms and
// does not retry itself: every planning call ends in a (retryable) LLM_TIMEOUT.
let ctx: TestContext;
let fx: PlannerFixture;
beforeAll(async () => {
  ctx = await createTestContext('planner-retry', { SIMULATED_LATENCY_MS: '1000', LLM_TIMEOUT_MS: '100', LLM_MAX_RETRIES: '0' });
  fx = await createFixture(ctx.deps.db, [{ name: 'manager' }]);
});
afterAll(() => ctx.cleanup());

const status = async (planId: string) =>
  ctx.deps.db.selectFrom('task_plans').select(['status', 'error', 'error_code']).where('id', '=', planId).executeTakeFirstOrThrow();

describe('planner and retryable LLM errors', () => {
  it('throws for BullMQ to retry, leaving the plan planning, while attempts remain', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, 'Write a haiku.');
    const processor = createPlannerProcessor(ctx.deps, { onPlanCreated: async () => undefined });
    const err = await processor({ data: { planId }, attemptsMade: 0, opts: jobOptions.planner() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LLM_TIMEOUT' });
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(await status(planId)).toMatchObject({ status: 'planning', error: null });
  });

  it('fails the plan with the error on the last attempt', async () => {
    const planId = await createPlanningPlan(ctx.deps.db, fx, 'Write a haiku.');
    const processor = createPlannerProcessor(ctx.deps, { onPlanCreated: async () => undefined });
    const attempts = jobOptions.planner().attempts!;
    await expect(
      processor({ data: { planId }, attemptsMade: attempts - 1, opts: jobOptions.planner() }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    const row = await status(planId);
    expect(row).toMatchObject({ status: 'failed', error_code: 'LLM_TIMEOUT' });
    expect(row.error).toMatch(/^planning failed: /);
  });
});
