import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import type { ApprovalTimeoutJob } from '../src/queues/catalog.js';
import { createApprovalTimeoutProcessor } from '../workers/approval-worker.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';
import { eventRows, seedPlan, sql } from './helpers/seed.js';

/**
 * approve, reject and the approval timer fired at the same moment on one
 * pending plan: exactly one of them wins, every time. No workers run: the
 * timer's processor is called directly, as its BullMQ worker would.
 */
const RUNS = 100;

let ctx: TestContext;
let api: Client;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

beforeAll(async () => {
  ctx = await createTestContext('approval-race');
  api = clientFor(createApp(ctx.deps), await signToken({ sub: 'racer' }));
  const projectId = (await api.post('/v1/projects', { name: 'Race' })).body.id as string;
  const agents = await ctx.deps.db.selectFrom('user_agents').select(['id', 'name', 'user_id']).where('project_id', '=', projectId).execute();
  owner = { userId: agents[0]!.user_id, projectId, agents: new Map(agents.map((a) => [a.name, a.id])) };
});
afterAll(() => ctx.cleanup());

/** A plan in pending_approval whose expiry has passed, so the timer may fire too. */
async function expiredPendingPlan(): Promise<string> {
  const control = createPlanControl(ctx.deps);
  const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'only' }], { requiresApproval: true });
  await control.dispatch(planId);
  await sql`UPDATE task_plans SET approval_expires_at = now() - interval '1 second' WHERE id = ${planId} AND status = 'pending_approval'`.execute(ctx.deps.db);
  return planId;
}

const after = <T>(ms: number, fn: () => Promise<T>) => new Promise<T>((resolve, reject) => setTimeout(() => fn().then(resolve, reject), ms));

const timerJob = (planId: string) => ({ data: { planId }, id: `approval.${planId}` }) as unknown as Job<ApprovalTimeoutJob>;

describe('approve vs reject vs timeout', () => {
  it(`has exactly one winner in each of ${RUNS} races, and the plan ends as the winner says`, async () => {
    const fireTimer = createApprovalTimeoutProcessor(ctx.deps);
    const wins = { approve: 0, reject: 0, expire: 0 };
    for (let run = 0; run < RUNS; run++) {
      const planId = await expiredPendingPlan();
      const base = `/v1/projects/${owner.projectId}/plans/${planId}`;
      // The HTTP calls go through auth and the project lookup first; the timer starts a little later
      // each run (0–7 ms) so that every contestant gets to win some of the races.
      const [approve, reject, timer] = await Promise.all([
        api.post(`${base}/approve`),
        api.post(`${base}/reject`, { reason: `race ${run}` }),
        after(run % 8, () => fireTimer(timerJob(planId))),
      ]);

      const winners = [approve.status === 200 && 'approve', reject.status === 200 && 'reject', timer.status === 'expired' && 'expire'].filter(
        (w): w is 'approve' | 'reject' | 'expire' => Boolean(w),
      );
      expect(winners, `run ${run}: ${approve.status} ${reject.status} ${timer.status}`).toHaveLength(1);
      const winner = winners[0]!;
      wins[winner]++;

      // Losers over HTTP get 409 naming the status the winner left; the timer is a no-op.
      for (const [name, res] of [['approve', approve], ['reject', reject]] as const) {
        if (name !== winner) {
          expect(res.status).toBe(409);
          expect(res.body.error.code).toBe('conflict');
        }
      }
      const expected = { approve: 'executing', reject: 'rejected', expire: 'expired' }[winner];
      if (winner !== 'expire') expect(timer.status).toBe(expected);

      const plan = await ctx.deps.db.selectFrom('task_plans').selectAll().where('id', '=', planId).executeTakeFirstOrThrow();
      expect(plan.status).toBe(expected);
      if (winner === 'approve') expect(approve.body.status).toBe('executing');
      if (winner === 'reject') expect(reject.body).toMatchObject({ status: 'rejected', decision_reason: `race ${run}` });

      const decided = (await eventRows(ctx.deps.db, planId)).map((e) => e.type).filter((t) => /^plan\.(approved|rejected|expired)$/.test(t));
      expect(decided).toEqual([{ approve: 'plan.approved', reject: 'plan.rejected', expire: 'plan.expired' }[winner]]);
    }
    // Who wins depends on timing; that more than one of them did shows the calls really overlapped.
    expect(Object.values(wins).filter((n) => n > 0).length, JSON.stringify(wins)).toBeGreaterThanOrEqual(2);
  });
});

describe('decisions one at a time', () => {
  it('records who rejected, when and why, and refuses a second decision', async () => {
    const control = createPlanControl(ctx.deps);
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'only' }], { requiresApproval: true });
    await control.dispatch(planId);
    const base = `/v1/projects/${owner.projectId}/plans/${planId}`;
    const pending = await api.get(base);
    expect(pending.body).toMatchObject({ status: 'pending_approval', requires_approval: true, approval_expires_at: expect.any(String) });

    const res = await api.post(`${base}/reject`, { reason: 'too expensive' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rejected', decided_by: owner.userId, decision_reason: 'too expensive', decided_at: expect.any(String) });
    expect(res.body.tasks.map((t: { status: string }) => t.status)).toEqual(['cancelled']);
    const events = await eventRows(ctx.deps.db, planId);
    expect(events.at(-1)).toMatchObject({ type: 'plan.rejected', payload: { reason: 'too expensive' } });

    for (const action of ['approve', 'reject', 'cancel']) {
      const again = await api.post(`${base}/${action}`);
      expect(again.status).toBe(409);
      expect(again.body.error.details).toEqual({ status: 'rejected' });
    }
  });

  it('rejects without a body, and refuses an unknown field or an empty reason', async () => {
    const control = createPlanControl(ctx.deps);
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'only' }], { requiresApproval: true });
    await control.dispatch(planId);
    const base = `/v1/projects/${owner.projectId}/plans/${planId}`;
    const unknown = await api.post(`${base}/reject`, { why: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].field).toBe('why');
    expect((await api.post(`${base}/reject`, { reason: '' })).status).toBe(400);
    const res = await api.post(`${base}/reject`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rejected', decision_reason: null });
  });

  it('answers 409 to approve or reject a plan that does not wait for approval', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'only' }]);
    const base = `/v1/projects/${owner.projectId}/plans/${planId}`;
    const approve = await api.post(`${base}/approve`);
    expect(approve.status).toBe(409);
    expect(approve.body.error.details).toEqual({ status: 'created' });
    expect((await api.post(`${base}/reject`)).status).toBe(409);
  });
});
