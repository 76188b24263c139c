import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { MAX_MESSAGE_CHARS, topicOf } from '../api/routes/chat.js';
import { createRedis } from '../src/redis.js';
import { createQueues } from '../src/queues/queues.js';
import { publishEvents } from '../src/events/event-log.js';
import { createEngine } from '../src/engine/engine.js';
import { createReconciler } from '../src/engine/reconciler.js';
import { QUEUE, jobId } from '../src/queues/catalog.js';
import type { Deps } from '../src/deps.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, clientFor, signToken, type Client } from './helpers/http.js';
import { eventRows } from './helpers/seed.js';

/** Chat without workers: what the request itself leaves in PostgreSQL and Redis. */
let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let alice: Client;
let bob: Client;
let projectId: string;

beforeAll(async () => {
  ctx = await createTestContext('api-chat');
  app = createApp(ctx.deps);
  alice = clientFor(app, await signToken({ sub: 'alice' }));
  bob = clientFor(app, await signToken({ sub: 'bob' }));
  projectId = (await alice.post('/v1/projects', { name: 'Chat' })).body.id;
});
afterAll(() => ctx.cleanup());

const chat = (client: Client, body: unknown, pid = projectId) => client.post(`/v1/projects/${pid}/chat`, body);
const planner = () => ctx.deps.queues.byName[QUEUE.planner];

describe('POST /chat', () => {
  it('answers 202 with the plan, a new session and the events URL', async () => {
    const res = await chat(alice, { message: 'Compare three pricing models for a SaaS product' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      plan_id: expect.any(String),
      session_id: expect.any(String),
      status: 'planning',
      events_url: `/v1/projects/${projectId}/plans/${res.body.plan_id}/events`,
    });
  });

  it('stores the plan in planning, the user message and the plan.planning event', async () => {
    const message = 'Summarise the quarterly report';
    const { body } = await chat(alice, { message });
    const db = ctx.deps.db;
    const plan = await db.selectFrom('task_plans').selectAll().where('id', '=', body.plan_id).executeTakeFirstOrThrow();
    expect(plan).toMatchObject({ status: 'planning', original_request: message, session_id: body.session_id, project_id: projectId });
    const messages = await db.selectFrom('chat_messages').selectAll().where('session_id', '=', body.session_id).execute();
    expect(messages.map((m) => ({ role: m.role, content: m.content, plan_id: m.plan_id }))).toEqual([
      { role: 'user', content: message, plan_id: body.plan_id },
    ]);
    const events = await eventRows(db, body.plan_id);
    expect(events.map((e) => [e.seq, e.type])).toEqual([[1, 'plan.planning']]);
  });

  it('creates a session titled with the start of the message', async () => {
    const message = `Write a migration plan for moving our billing service from a monolith to services, with rollback steps`;
    const { body } = await chat(alice, { message });
    const sessions = await alice.get(`/v1/projects/${projectId}/sessions?limit=100`);
    const session = sessions.body.items.find((s: { id: string }) => s.id === body.session_id);
    expect(session.topic).toBe(topicOf(message));
    expect([...session.topic].length).toBeLessThanOrEqual(80);
    expect(message.startsWith(session.topic.replace(/…$/, ''))).toBe(true);
  });

  it('uses the session it is given', async () => {
    const session = (await alice.post(`/v1/projects/${projectId}/sessions`, { topic: 'ongoing' })).body;
    const first = await chat(alice, { message: 'first question', session_id: session.id });
    const second = await chat(alice, { message: 'follow-up', session_id: session.id });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect([first.body.session_id, second.body.session_id]).toEqual([session.id, session.id]);
    const messages = await alice.get(`/v1/projects/${projectId}/sessions/${session.id}/messages`);
    expect(messages.body.items.map((m: { content: string; plan_id: string }) => [m.content, m.plan_id])).toEqual([
      ['first question', first.body.plan_id],
      ['follow-up', second.body.plan_id],
    ]);
  });

  it("answers 404 for another user's session and creates nothing", async () => {
    const bobProject = (await bob.post('/v1/projects', { name: 'Bob' })).body.id;
    const bobSession = (await bob.post(`/v1/projects/${bobProject}/sessions`, {})).body.id;
    const before = await ctx.deps.db.selectFrom('task_plans').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const res = await chat(alice, { message: 'hello', session_id: bobSession });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    const after = await ctx.deps.db.selectFrom('task_plans').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('answers 404 for a session of another project of the same user', async () => {
    const other = (await alice.post('/v1/projects', { name: 'Other' })).body.id;
    const session = (await alice.post(`/v1/projects/${other}/sessions`, {})).body.id;
    expect((await chat(alice, { message: 'hello', session_id: session })).status).toBe(404);
  });

  it("answers 404 for another user's project", async () => {
    expect((await chat(bob, { message: 'hello' })).status).toBe(404);
  });

  it.each([
    ['an empty message', { message: '' }, 'message'],
    ['a blank message', { message: '   \n ' }, 'message'],
    ['a message over 16,000 characters', { message: 'x'.repeat(MAX_MESSAGE_CHARS + 1) }, 'message'],
    ['a missing message', {}, 'message'],
    ['a message that is not a string', { message: 42 }, 'message'],
    ['a session id that is not a UUID', { message: 'hi', session_id: 'abc' }, 'session_id'],
    ['an unknown field', { message: 'hi', priority: 'high' }, 'priority'],
  ])('answers 400 naming the field for %s', async (_what, body, field) => {
    const res = await chat(alice, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('accepts exactly 16,000 characters, counting an emoji once', async () => {
    expect((await chat(alice, { message: 'y'.repeat(MAX_MESSAGE_CHARS) })).status).toBe(202);
    expect((await chat(alice, { message: '🙂'.repeat(MAX_MESSAGE_CHARS / 4) })).status).toBe(202);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await call(app, 'POST', `/v1/projects/${projectId}/chat`, { token: alice.token, raw: '{"message":', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
  });

  it('enqueues the planner job under the plan id', async () => {
    const { body } = await chat(alice, { message: 'plan me' });
    const job = await planner().getJob(jobId.planner(body.plan_id));
    expect(job?.data).toEqual({ planId: body.plan_id });
    expect(job?.opts.attempts).toBe(3);
  });

  it('turns 50 concurrent requests into 50 plans and 50 planner jobs, none twice', async () => {
    const project = (await alice.post('/v1/projects', { name: 'Burst' })).body.id;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => chat(alice, { message: `request ${i}` }, project)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(202));
    const planIds = results.map((r) => r.body.plan_id as string);
    expect(new Set(planIds).size).toBe(50);
    expect(new Set(results.map((r) => r.body.session_id)).size).toBe(50);

    const rows = await ctx.deps.db.selectFrom('task_plans').select(['id', 'original_request']).where('project_id', '=', project).execute();
    expect(rows.map((r) => r.id).sort()).toEqual([...planIds].sort());
    expect(new Set(rows.map((r) => r.original_request)).size).toBe(50);

    const jobs = await planner().getJobs(['waiting', 'prioritized', 'delayed', 'active'], 0, -1);
    const mine = jobs.filter((j) => planIds.includes(j.data.planId));
    expect(mine).toHaveLength(50);
    expect(new Set(mine.map((j) => j.id))).toEqual(new Set(planIds.map((id) => jobId.planner(id))));
  });

  it('does not plan twice when the job of a plan is enqueued again (a retried hand-off)', async () => {
    const { body } = await chat(alice, { message: 'once only' });
    const again = await planner().add('plan', { planId: body.plan_id }, { jobId: jobId.planner(body.plan_id) });
    expect(again.id).toBe(jobId.planner(body.plan_id));
    const jobs = await planner().getJobs(['waiting', 'prioritized', 'delayed', 'active'], 0, -1);
    expect(jobs.filter((j) => j.data.planId === body.plan_id)).toHaveLength(1);
  });
});

describe('POST /chat with Redis down', () => {
  it('still answers 202 after the commit, and the reconciler enqueues the plan later', async () => {
    // Real clients pointed at a closed port: every command waits in ioredis' offline queue.
    const dead = createRedis('redis://127.0.0.1:1/0', 'dead', { retryStrategy: () => 200 });
    dead.on('error', () => undefined);
    const deadQueues = createQueues(dead, ctx.config.QUEUE_PREFIX);
    for (const q of Object.values(deadQueues.byName)) q.on('error', () => undefined);
    deadQueues.flows.on('error', () => undefined);
    const deadDeps: Deps = { ...ctx.deps, redis: dead, queues: deadQueues, publish: (events) => publishEvents(dead, ctx.config.QUEUE_PREFIX, events) };
    const offline = clientFor(createApp(deadDeps), alice.token);
    try {
      const res = await offline.post(`/v1/projects/${projectId}/chat`, { message: 'while redis sleeps' });
      expect(res.status).toBe(202);
      const planId = res.body.plan_id as string;
      expect(await planner().getJob(jobId.planner(planId))).toBeUndefined();
      const plan = await ctx.deps.db.selectFrom('task_plans').select('status').where('id', '=', planId).executeTakeFirstOrThrow();
      expect(plan.status).toBe('planning');

      const engine = createEngine(ctx.deps);
      try {
        const reconciler = createReconciler(ctx.deps, engine, { graceMs: 0, dispatch: (id) => engine.dispatch(id) });
        const report = await reconciler.reconcileOnce();
        expect(report?.replanned).toContain(planId);
      } finally {
        await engine.close();
      }
      expect((await planner().getJob(jobId.planner(planId)))?.data).toEqual({ planId });
    } finally {
      dead.disconnect();
      await deadQueues.close().catch(() => undefined);
    }
  });
});
