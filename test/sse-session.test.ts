import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventually, seedPlan, seedProject, seedUser, type SeedTask } from './helpers/seed.js';
import { signToken } from './helpers/http.js';
import { openSse, type SseConnection, type SseMessage } from './helpers/sse-client.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createApp, type App } from '../api/app.js';
import { startApiServer, type ApiServer } from '../api/server.js';

let ctx: TestContext;
let workers: WorkerSet;
let app: App;
let server: ApiServer;
let base: string;
let token: string;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

const TERMINAL = /^plan\.(completed|failed|partial_success|cancelled|rejected|expired)$/;

beforeAll(async () => {
  ctx = await createTestContext('sse-session', { SSE_HEARTBEAT_MS: '200', USER_MAX_RUNNING_TASKS: '64', RECONCILE_INTERVAL_MS: '60000' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  app = createApp(ctx.deps);
  server = await startApiServer(ctx.deps, app, { port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${server.port}`;
  const userId = await seedUser(ctx.deps.db, 'sse-session-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 8 })) };
  token = await signToken({ sub: 'sse-session-user' });
});
afterAll(async () => {
  await server?.close();
  await workers?.close();
  await ctx?.cleanup();
});

const sessionUrl = (sessionId: string) => `${base}/v1/projects/${owner.projectId}/sessions/${sessionId}/events`;
const key = (m: SseMessage) => `${m.json.plan_id}#${m.json.seq}`;

async function sessionRows(sessionId: string) {
  return ctx.deps.db.selectFrom('plan_events').selectAll().where('session_id', '=', sessionId).orderBy('id').execute();
}

/** Reads until both plans' terminal events arrived (nothing follows a terminal event). */
async function readUntilTerminal(conn: SseConnection, plans: number): Promise<SseMessage[]> {
  const got: SseMessage[] = [];
  while (got.filter((m) => TERMINAL.test(m.event)).length < plans) got.push((await conn.next(30_000))!);
  return got;
}

describe('session event stream', () => {
  let sessionId: string;
  let live: SseMessage[];

  it('streams the events of two plans of the session running at once, each exactly once, ids increasing', async () => {
    const tasks: SeedTask[] = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, deps: i ? ['a'] : [], sim: { latency_ms: 50 } }));
    const p1 = await seedPlan(ctx.deps.db, owner, tasks);
    const p2 = await seedPlan(ctx.deps.db, owner, tasks);
    sessionId = (await ctx.deps.db.selectFrom('task_plans').select('session_id').where('id', '=', p1).executeTakeFirstOrThrow()).session_id;
    await ctx.deps.db.updateTable('task_plans').set({ session_id: sessionId }).where('id', '=', p2).execute();

    const conn = await openSse(sessionUrl(sessionId), { token });
    expect(conn.status).toBe(200);
    await Promise.all([workers.engine.startExecution(p1), workers.engine.startExecution(p2)]);
    live = (await readUntilTerminal(conn, 2)).filter((m) => m.event !== 'task.delta');
    conn.close();

    const rows = await sessionRows(sessionId);
    expect(new Set(rows.map((r) => r.plan_id))).toEqual(new Set([p1, p2]));
    expect(live.map(key).sort()).toEqual(rows.map((r) => `${r.plan_id}#${r.seq}`).sort());
    expect(new Set(live.map(key)).size).toBe(live.length);
    for (const p of [p1, p2]) {
      const seqs = live.filter((m) => m.json.plan_id === p).map((m) => m.json.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    const ids = live.filter((m) => m.id !== undefined).map((m) => BigInt(m.id!));
    expect(ids.length).toBeGreaterThan(0);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    // with ids, the `id:` is the stored global id of that event
    const byKey = new Map(rows.map((r) => [`${r.plan_id}#${r.seq}`, String(r.id)]));
    expect(live.filter((m) => m.id !== undefined).every((m) => byKey.get(key(m)) === m.id)).toBe(true);
  });

  it('resumes from a global id: the rest of both plans, exactly once, and stays open', async () => {
    const rows = await sessionRows(sessionId);
    const cut = rows[Math.floor(rows.length / 2)]!;
    const conn = await openSse(sessionUrl(sessionId), { token, lastEventId: String(cut.id) });
    // the first heartbeat is written after the replay: everything replayed is in by then
    await eventually(async () => conn.comments.length > 0, 10_000, 'heartbeat after replay');
    const replayed = conn.messages.slice(0, conn.comments[0]!.afterMessages);
    expect(replayed.map((m) => m.id)).toEqual(rows.filter((r) => BigInt(r.id) > BigInt(cut.id)).map((r) => String(r.id)));
    expect(conn.isEnded()).toBe(false);
    conn.close();
  });

  it('replays the whole session to a client without Last-Event-ID', async () => {
    const rows = await sessionRows(sessionId);
    const conn = await openSse(sessionUrl(sessionId), { token });
    await eventually(async () => conn.comments.length > 0, 10_000, 'heartbeat after replay');
    expect(conn.messages.slice(0, conn.comments[0]!.afterMessages).map((m) => m.id)).toEqual(rows.map((r) => String(r.id)));
    conn.close();
  });
});
