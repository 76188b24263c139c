import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, eventually, seedPlan, seedProject, seedUser, waitForPlan, type SeedTask } from './helpers/seed.js';
import { signToken } from './helpers/http.js';
import { openSse, readToEnd, type SseMessage } from './helpers/sse-client.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createApp, type App } from '../api/app.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { appendEvents, channels, publishEphemeral, publishEvents } from '../src/events/event-log.js';

let ctx: TestContext;
let workers: WorkerSet;
let app: App;
let server: ApiServer;
let base: string;
let token: string;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

const TERMINAL = /^plan\.(completed|failed|partial_success|cancelled|rejected|expired)$/;

beforeAll(async () => {
  ctx = await createTestContext('sse-plan', {
    SSE_HEARTBEAT_MS: '200',
    USER_MAX_RUNNING_TASKS: '64',
    RECONCILE_INTERVAL_MS: '60000',
  });
  workers = createWorkers(ctx.deps, { reconcile: false });
  app = createApp(ctx.deps);
  server = await startApiServer(ctx.deps, app, { port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${server.port}`;
  const userId = await seedUser(ctx.deps.db, 'sse-plan-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 8 })) };
  token = await signToken({ sub: 'sse-plan-user' });
});
afterAll(async () => {
  await server?.close();
  await workers?.close();
  await ctx?.cleanup();
});

const planUrl = (planId: string) => `${base}/v1/projects/${owner.projectId}/plans/${planId}/events`;

/** 12 tasks: a → b,c,d → e → f,g → h → i,j → k → l, each ~100 ms in the simulated model. */
const TWELVE: SeedTask[] = [
  ['a', []], ['b', ['a']], ['c', ['a']], ['d', ['a']], ['e', ['b', 'c', 'd']], ['f', ['e']], ['g', ['e']],
  ['h', ['f', 'g']], ['i', ['h']], ['j', ['h']], ['k', ['i', 'j']], ['l', ['k']],
].map(([id, deps]) => ({ id: id as string, deps: deps as string[], sim: { latency_ms: 100 } }));

const durable = (ms: SseMessage[]) => ms.filter((m) => m.id !== undefined);

async function expectExactlyThePlanLog(planId: string, got: SseMessage[]) {
  const rows = await eventRows(ctx.deps.db, planId);
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  expect(got.map((m) => Number(m.id))).toEqual(rows.map((r) => r.seq));
  expect(got.map((m) => m.event)).toEqual(rows.map((r) => r.type));
  expect(got.map((m) => m.json.seq)).toEqual(rows.map((r) => r.seq));
  expect(got.every((m) => m.json.plan_id === planId && m.json.type === m.event)).toBe(true);
  return rows;
}

describe('plan event stream', () => {
  let runPlanId: string;

  it('a client that disconnects after 3 events and resumes with Last-Event-ID gets every event exactly once, then the stream closes', async () => {
    runPlanId = await seedPlan(ctx.deps.db, owner, TWELVE);
    const first = await openSse(planUrl(runPlanId), { token });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await workers.engine.startExecution(runPlanId)).toBe(true);

    const before: SseMessage[] = [];
    while (durable(before).length < 3) before.push((await first.next())!);
    first.close();
    const lastSeen = durable(before).at(-1)!.id!;
    expect(lastSeen).toBe('3');

    const second = await openSse(planUrl(runPlanId), { token, lastEventId: lastSeen });
    expect(second.status).toBe(200);
    const after = await readToEnd(second);
    expect(second.isEnded()).toBe(true);

    const all = durable([...before, ...after]);
    const rows = await expectExactlyThePlanLog(runPlanId, all);
    expect(rows.length).toBeGreaterThan(12 * 3);
    expect(all.at(-1)!.event).toMatch(TERMINAL);
    expect(await waitForPlan(ctx.deps.db, runPlanId)).toBe('completed');
    // ephemeral deltas (if the model streamed any) carry no id
    expect([...before, ...after].filter((m) => m.id === undefined).every((m) => m.event === 'task.delta')).toBe(true);
  });

  it('replays a terminal plan in full, then closes', async () => {
    const conn = await openSse(planUrl(runPlanId), { token });
    const got = await readToEnd(conn);
    expect(conn.isEnded()).toBe(true);
    await expectExactlyThePlanLog(runPlanId, got);
  });

  it('?last_event_id= resumes like the header, and the header wins over it', async () => {
    const rows = await eventRows(ctx.deps.db, runPlanId);
    const viaQuery = await readToEnd(await openSse(`${planUrl(runPlanId)}?last_event_id=5`, { token }));
    expect(viaQuery.map((m) => Number(m.id))).toEqual(rows.filter((r) => r.seq > 5).map((r) => r.seq));
    const both = await readToEnd(await openSse(`${planUrl(runPlanId)}?last_event_id=5`, { token, lastEventId: String(rows.length - 2) }));
    expect(both.map((m) => Number(m.id))).toEqual([rows.length - 1, rows.length]);
  });

  it('rejects a Last-Event-ID that is not an event id with 400', async () => {
    const conn = await openSse(planUrl(runPlanId), { token, lastEventId: 'abc' });
    expect(conn.status).toBe(400);
    expect(conn.body.error.code).toBe('invalid_request');
  });

  it('fills a seq gap left by a lost publish from PostgreSQL, drops a duplicate, and sends deltas live without id', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }]);
    const conn = await openSse(planUrl(planId), { token });
    expect(conn.status).toBe(200);
    // the first heartbeat comes after the (empty) replay: from here on only the live path can deliver
    await eventually(async () => conn.comments.length > 0, 10_000, 'replay done');
    const { db, redis, prefix } = ctx.deps;
    // seq 1 and 2 committed but never published (a worker died between commit and publish)
    await appendEvents(db, planId, [{ type: 'task.queued', taskId: 'a', data: { agent_name: 'researcher', attempt: 1 } }]);
    await appendEvents(db, planId, [{ type: 'task.started', taskId: 'a', data: { agent_name: 'researcher', attempt: 1 } }]);
    const third = await appendEvents(db, planId, [{ type: 'task.tool_call', taskId: 'a', data: { tool: 'calculator', input: '1+1' } }]);
    await publishEvents(redis, prefix, third);
    await publishEphemeral(redis, prefix, planId, third[0]!.sessionId, 'task.delta', 'a', { text: 'hel' });
    await publishEvents(redis, prefix, third); // a duplicate publish
    const fourth = await appendEvents(db, planId, [{ type: 'plan.completed', data: { total_actual_cost: 0 } }]);
    await publishEvents(redis, prefix, fourth);

    const got = await readToEnd(conn);
    expect(got.map((m) => [m.id, m.event])).toEqual([
      ['1', 'task.queued'], ['2', 'task.started'], ['3', 'task.tool_call'], [undefined, 'task.delta'], ['4', 'plan.completed'],
    ]);
    expect(got[3]!.json).toMatchObject({ type: 'task.delta', plan_id: planId, task_id: 'a', text: 'hel' });
    expect(got[3]!.json.seq).toBeUndefined();
    expect(conn.isEnded()).toBe(true);
  });

  it('catches up from PostgreSQL when a plan ends while the stream is idle and every publish was lost', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }]);
    const conn = await openSse(planUrl(planId), { token });
    await eventually(async () => conn.comments.length > 0, 10_000, 'replay done');
    await appendEvents(ctx.deps.db, planId, [{ type: 'plan.cancelled', data: { total_actual_cost: 0 } }]);
    // no publish at all: the idle stream's periodic catch-up (4 heartbeats) finds it
    const got = await readToEnd(conn);
    expect(got.map((m) => m.event)).toEqual(['plan.cancelled']);
  });

  it('sends `: ping` on an idle stream', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }]);
    const conn = await openSse(planUrl(planId), { token });
    await eventually(async () => conn.comments.some((c) => c.text === 'ping'), 10_000, 'a heartbeat');
    expect(conn.messages).toEqual([]);
    conn.close();
  });

  it('unsubscribes the channel and frees the slot when the last client disconnects', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }]);
    const channel = channels.plan(ctx.deps.prefix, planId);
    const numsub = async () => Number(((await ctx.deps.redis.pubsub('NUMSUB', channel)) as [string, number])[1]);
    const baseline = app.streams.openStreams();
    const a = await openSse(planUrl(planId), { token });
    const b = await openSse(planUrl(planId), { token });
    expect(await numsub()).toBe(1); // one subscriber connection per process, however many clients
    expect(app.streams.openStreams()).toBe(baseline + 2);
    a.close();
    await eventually(async () => app.streams.openStreams() === baseline + 1, 10_000, 'first stream detached');
    expect(await numsub()).toBe(1);
    b.close();
    await eventually(async () => (await numsub()) === 0, 10_000, 'channel unsubscribed');
    expect(app.streams.openStreams()).toBe(baseline);
  });
});

