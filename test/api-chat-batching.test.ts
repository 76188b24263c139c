import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../api/app.js';
import { createChatCommitter } from '../api/routes/chat-commit.js';
import { appendEvents } from '../src/events/event-log.js';
import { QUEUE, jobId } from '../src/queues/catalog.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, clientFor, signToken, type Client } from './helpers/http.js';
import { eventRows, seedProject, seedUser } from './helpers/seed.js';

/**
 * Concurrent chats share one statement (api/routes/chat-commit.ts): every
 * request of a batch must still get exactly what it would have got alone.
 */
const CAP = 3;
let ctx: TestContext;
let app: App;
let alice: Client;
let bob: Client;
let aliceProject: string;
let bobProject: string;

beforeAll(async () => {
  ctx = await createTestContext('api-chat-batching', { USER_MAX_EXECUTING_PLANS: String(CAP) });
  app = createApp(ctx.deps);
  alice = clientFor(app, await signToken({ sub: 'alice' }));
  bob = clientFor(app, await signToken({ sub: 'bob' }));
  aliceProject = (await alice.post('/v1/projects', { name: 'A' })).body.id;
  bobProject = (await bob.post('/v1/projects', { name: 'B' })).body.id;
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

const chat = (client: Client, projectId: string, body: unknown) => client.post(`/v1/projects/${projectId}/chat`, body);
const freshUser = async (sub: string) => {
  const client = clientFor(app, await signToken({ sub }));
  return { client, projectId: (await client.post('/v1/projects', { name: sub })).body.id as string };
};

describe('chats written together', () => {
  it('give each request its own plan, session, message and first event, for several users at once', async () => {
    const [a1, b1, a2] = await Promise.all([
      chat(alice, aliceProject, { message: 'alice one' }),
      chat(bob, bobProject, { message: 'bob one' }),
      chat(alice, aliceProject, { message: 'alice two' }),
    ]);
    expect([a1.status, b1.status, a2.status]).toEqual([202, 202, 202]);
    for (const [res, message, projectId] of [[a1, 'alice one', aliceProject], [b1, 'bob one', bobProject], [a2, 'alice two', aliceProject]] as const) {
      const plan = await ctx.deps.db.selectFrom('task_plans').selectAll().where('id', '=', res.body.plan_id).executeTakeFirstOrThrow();
      expect(plan).toMatchObject({ original_request: message, project_id: projectId, session_id: res.body.session_id, status: 'planning', event_seq: 1 });
      const messages = await ctx.deps.db.selectFrom('chat_messages').select(['content', 'plan_id']).where('session_id', '=', res.body.session_id).execute();
      expect(messages).toEqual([{ content: message, plan_id: res.body.plan_id }]);
      expect((await eventRows(ctx.deps.db, res.body.plan_id)).map((e) => [e.seq, e.type])).toEqual([[1, 'plan.planning']]);
      expect((await ctx.deps.queues.byName[QUEUE.planner].getJob(jobId.planner(res.body.plan_id)))?.data).toEqual({ planId: res.body.plan_id });
      await ctx.deps.db.updateTable('task_plans').set({ status: 'completed' }).where('id', '=', res.body.plan_id).execute();
    }
  });

  it('leave the plan ready for its next event (seq 2)', async () => {
    const { body } = await chat(alice, aliceProject, { message: 'next event' });
    const [next] = await appendEvents(ctx.deps.db, body.plan_id, [{ type: 'plan.created' }]);
    expect(next!.seq).toBe(2);
    await ctx.deps.db.updateTable('task_plans').set({ status: 'completed' }).where('id', '=', body.plan_id).execute();
  });

  it("refuse a request naming another user's session without failing the others of its batch", async () => {
    const bobSession = (await bob.post(`/v1/projects/${bobProject}/sessions`, {})).body.id;
    const u = await freshUser('batch-session');
    const [intruder, fine] = await Promise.all([
      chat(alice, aliceProject, { message: 'not mine', session_id: bobSession }),
      chat(u.client, u.projectId, { message: 'mine' }),
    ]);
    expect(intruder.status).toBe(404);
    expect(intruder.body.error.code).toBe('not_found');
    expect(fine.status).toBe(202);
    expect(await ctx.deps.db.selectFrom('chat_messages').select('id').where('content', '=', 'not mine').execute()).toEqual([]);
  });

  it('refuse a message PostgreSQL cannot store (NUL) alone, and write the rest of its batch', async () => {
    const u = await freshUser('batch-nul');
    const [bad, good] = await Promise.all([
      chat(u.client, u.projectId, { message: 'before\u0000after' }),
      chat(u.client, u.projectId, { message: 'plain text' }),
    ]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(good.status).toBe(202);
  });

  it('hold the cap on active plans exactly, however many of a user’s chats arrive at once', async () => {
    const u = await freshUser('batch-cap');
    const results = await Promise.all(Array.from({ length: CAP * 3 }, (_, i) => chat(u.client, u.projectId, { message: `at once ${i}` })));
    expect(results.filter((r) => r.status === 202)).toHaveLength(CAP);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(CAP * 2);
    for (const r of refused) expect(r.body.error).toMatchObject({ code: 'rate_limited', details: { active_plans: CAP, max_active_plans: CAP } });
    const plans = await ctx.deps.db.selectFrom('task_plans').innerJoin('users', 'users.id', 'task_plans.user_id').select('task_plans.id')
      .where('users.subject', '=', 'batch-cap').execute();
    expect(plans).toHaveLength(CAP);
  });
});

describe('the chat statement', () => {
  it('is the tenancy check of last resort: a project that is not the user’s writes nothing', async () => {
    const commit = createChatCommitter(ctx.deps.db, 0);
    const userId = await seedUser(ctx.deps.db, 'statement-intruder');
    const owner = await seedUser(ctx.deps.db, 'statement-owner');
    const { projectId } = await seedProject(ctx.deps.db, owner);
    const outcome = await commit({ userId, projectId, sessionId: null, topic: 't', message: 'into a project that is not mine' });
    expect(outcome).toEqual({ status: 'no_project' });
    const plans = await ctx.deps.db.selectFrom('task_plans').select('id').where('project_id', '=', projectId).execute();
    expect(plans).toEqual([]);
  });
});

describe('the project scope, read in batches', () => {
  it("answers the owner and refuses another user in the same batch", async () => {
    const [own, other] = await Promise.all([
      call(app, 'GET', `/v1/projects/${aliceProject}`, { token: alice.token }),
      call(app, 'GET', `/v1/projects/${aliceProject}`, { token: bob.token }),
    ]);
    expect([own.status, other.status]).toEqual([200, 404]);
  });

  it('caches nothing: a deleted project is a 404 on the next request', async () => {
    const u = await freshUser('scope-delete');
    expect((await u.client.get(`/v1/projects/${u.projectId}`)).status).toBe(200);
    await ctx.deps.db.deleteFrom('user_projects').where('id', '=', u.projectId).execute();
    expect((await u.client.get(`/v1/projects/${u.projectId}`)).status).toBe(404);
    expect((await chat(u.client, u.projectId, { message: 'too late' })).status).toBe(404);
  });
});

describe('the body limit', () => {
  it('answers 413 from the Content-Length alone, and lets a body under it through', async () => {
    const big = JSON.stringify({ message: 'x'.repeat(70 * 1024) });
    const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)) };
    const refused = await call(app, 'POST', `/v1/projects/${aliceProject}/chat`, { token: alice.token, raw: big, headers });
    expect(refused.status).toBe(413);
    expect(refused.body.error.code).toBe('payload_too_large');
    const small = JSON.stringify({ topic: 'short' });
    const ok = await call(app, 'POST', `/v1/projects/${aliceProject}/sessions`, {
      token: alice.token, raw: small, headers: { 'content-type': 'application/json', 'content-length': String(small.length) },
    });
    expect(ok.status).toBe(201);
  });
});
