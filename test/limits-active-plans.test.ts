import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApp, type App } from '../api/app.js';
import { ACTIVE_PLANS_RETRY_AFTER_S } from '../api/middleware/rate-limit.js';
import { activePlansQuery, countActivePlans } from '../src/limits/active-plans.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';

const CAP = 3;
let ctx: TestContext;
let app: App;

beforeAll(async () => {
  ctx = await createTestContext('limits-active-plans', { USER_MAX_EXECUTING_PLANS: String(CAP) });
  app = createApp(ctx.deps);
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

async function newUser(sub: string): Promise<{ client: Client; projectId: string; userId: string }> {
  const client = clientFor(app, await signToken({ sub }));
  const projectId = (await client.post('/v1/projects', { name: 'cap' })).body.id as string;
  const { id } = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', sub).executeTakeFirstOrThrow();
  return { client, projectId, userId: id };
}

const chat = (u: { client: Client; projectId: string }, message = 'do something', projectId = u.projectId) =>
  u.client.post(`/v1/projects/${projectId}/chat`, { message });
const plansOf = (userId: string) => ctx.deps.db.selectFrom('task_plans').select(['id', 'status']).where('user_id', '=', userId).execute();
const setStatus = (planId: string, status: 'completed' | 'pending_approval' | 'executing') =>
  ctx.deps.db.updateTable('task_plans').set({ status }).where('id', '=', planId).execute();

describe('cap on active plans per user', () => {
  it('answers the chat past the cap with 429, Retry-After and the contract error body, recording nothing', async () => {
    const u = await newUser('cap-solo');
    for (let i = 0; i < CAP; i++) expect((await chat(u, `request ${i}`)).status).toBe(202);
    const before = await plansOf(u.userId);
    const refused = await chat(u, 'one too many');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe(String(ACTIVE_PLANS_RETRY_AFTER_S));
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', details: { active_plans: CAP, max_active_plans: CAP } });
    expect(refused.body.error.message).toContain(`at most ${CAP}`);
    expect(await plansOf(u.userId)).toEqual(before);
    expect(await ctx.deps.db.selectFrom('chat_messages').select('id').where('content', '=', 'one too many').execute()).toEqual([]);
  });

  it('counts planning, created and executing plans across all of the user’s projects', async () => {
    const u = await newUser('cap-projects');
    const second = (await u.client.post('/v1/projects', { name: 'second' })).body.id as string;
    const a = (await chat(u)).body.plan_id as string;
    const b = (await chat(u, 'x', second)).body.plan_id as string;
    await setStatus(a, 'executing');
    await ctx.deps.db.updateTable('task_plans').set({ status: 'created' }).where('id', '=', b).execute();
    expect((await chat(u, 'third', second)).status).toBe(202);
    expect(await countActivePlans(ctx.deps.db, u.userId)).toBe(CAP);
    expect((await chat(u)).status).toBe(429);
  });

  it('does not count plans waiting for approval or finished', async () => {
    const u = await newUser('cap-waiting');
    const ids: string[] = [];
    for (let i = 0; i < CAP; i++) ids.push((await chat(u, `r${i}`)).body.plan_id);
    expect((await chat(u)).status).toBe(429);
    await setStatus(ids[0]!, 'pending_approval');
    expect((await chat(u)).status).toBe(202);
    expect((await chat(u)).status).toBe(429);
    await setStatus(ids[1]!, 'completed');
    expect((await chat(u)).status).toBe(202);
  });

  it('leaves another user unaffected, and keeps another user’s project a 404 for a user at the cap', async () => {
    const full = await newUser('cap-full');
    const other = await newUser('cap-other');
    for (let i = 0; i < CAP; i++) await chat(full);
    expect((await chat(full)).status).toBe(429);
    expect((await chat(other)).status).toBe(202);
    const intrusion = await chat(full, 'x', other.projectId);
    expect(intrusion.status).toBe(404);
    expect(intrusion.body.error.code).toBe('not_found');
  });

  it('limits only the chat: reading and deciding still work at the cap', async () => {
    const u = await newUser('cap-reads');
    const ids: string[] = [];
    for (let i = 0; i < CAP; i++) ids.push((await chat(u)).body.plan_id);
    expect((await u.client.get(`/v1/projects/${u.projectId}/plans`)).status).toBe(200);
    expect((await u.client.post(`/v1/projects/${u.projectId}/sessions`, {})).status).toBe(201);
    // Cancelling frees a slot.
    expect((await u.client.post(`/v1/projects/${u.projectId}/plans/${ids[0]}/cancel`)).status).toBe(200);
    expect((await chat(u)).status).toBe(202);
  });

  it('counts through the partial index of active plans, not the user’s whole history', async () => {
    const u = await newUser('cap-explain');
    await chat(u);
    const { session_id } = await ctx.deps.db.selectFrom('task_plans').select('session_id').where('user_id', '=', u.userId).executeTakeFirstOrThrow();
    // Twenty thousand finished plans: a user's history after months of use.
    await sql`
      INSERT INTO task_plans (user_id, project_id, session_id, original_request, status, critical_path)
      SELECT ${u.userId}, ${u.projectId}, ${session_id}, 'old', 'completed', '[]'::jsonb FROM generate_series(1, 20000)`.execute(ctx.deps.db);
    await sql`ANALYZE task_plans`.execute(ctx.deps.db);
    const plan = (await activePlansQuery(ctx.deps.db, u.userId).explain()).map((r) => String(r['QUERY PLAN'])).join('\n');
    expect(plan).toContain('ix_task_plans_user_id_active');
    expect(await countActivePlans(ctx.deps.db, u.userId)).toBe(1);
  });
});
