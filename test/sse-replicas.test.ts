import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows } from './helpers/seed.js';
import { signToken } from './helpers/http.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from './helpers/processes.js';
import { scriptedRequest } from './helpers/scripted.js';
import { openSse, readToEnd, type SseConnection, type SseMessage } from './helpers/sse-client.js';

/** Two API processes and one worker process, all the real entry point: live events cross processes. */
let ctx: TestContext;
const procs: ServiceProcess[] = [];
let apis: string[] = [];
let token: string;

const TERMINAL = /^plan\.(completed|failed|partial_success|cancelled|rejected|expired)$/;

beforeAll(async () => {
  ctx = await createTestContext('sse-replicas', { RECONCILE_INTERVAL_MS: '60000', SIMULATED_LATENCY_MS: '20' });
  const ports = [await freePort(), await freePort()];
  for (const port of ports) procs.push(spawnService({ ...ctx.env, PORT: String(port), HOST: '127.0.0.1' }, ['--api']));
  procs.push(spawnService(ctx.env, ['--workers']));
  apis = ports.map((p) => `http://127.0.0.1:${p}`);
  await Promise.all(apis.map((url, i) => waitForHttp(`${url}/health`, procs[i], 60_000)));
  token = await signToken({ sub: 'sse-replicas-user' });
}, 120_000);
afterAll(async () => {
  // SIGTERM: the APIs end their streams and close their subscriber connection on the way out
  const codes = await Promise.all(procs.map((p) => p.stop()));
  await ctx?.cleanup();
  expect(codes.slice(0, 2)).toEqual([0, 0]);
}, 60_000);

async function post(api: string, path: string, body: unknown) {
  const res = await fetch(`${api}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function readUntilTerminal(conn: SseConnection): Promise<SseMessage[]> {
  const got: SseMessage[] = [];
  for (;;) {
    const m = await conn.next(60_000);
    if (!m) throw new Error(`stream ended before the terminal event (${got.length} messages)`);
    got.push(m);
    if (TERMINAL.test(m.event)) return got;
  }
}

describe('SSE across processes', () => {
  it('a client on each API replica receives the full sequence of a plan started after they connected', async () => {
    const project = await post(apis[0]!, '/v1/projects', { name: 'replicas', settings: { approval_threshold_usd: 1000 } });
    expect(project.status).toBe(201);
    const projectId = project.body.id as string;
    const session = await post(apis[0]!, `/v1/projects/${projectId}/sessions`, { topic: 'replicas' });
    expect(session.status).toBe(201);
    const sessionId = session.body.id as string;

    // one session stream on each replica, open before the plan exists
    const watchers = await Promise.all(apis.map((api) => openSse(`${api}/v1/projects/${projectId}/sessions/${sessionId}/events`, { token })));
    expect(watchers.map((w) => w.status)).toEqual([200, 200]);

    const message = scriptedRequest(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => ({ id, deps: i === 0 ? [] : i < 4 ? ['a'] : ['b', 'c', 'd'], sim: { latency_ms: 50 } })),
      'Replicas',
    );
    const chat = await post(apis[1]!, `/v1/projects/${projectId}/chat`, { message, session_id: sessionId });
    expect(chat.status).toBe(202);
    const planId = chat.body.plan_id as string;
    // and a plan stream on each replica, opened once the plan id is known
    const planStreams = await Promise.all(apis.map((api) => openSse(`${api}/v1/projects/${projectId}/plans/${planId}/events`, { token })));

    const fromSessions = await Promise.all(watchers.map(readUntilTerminal));
    const fromPlans = await Promise.all(planStreams.map((s) => readToEnd(s, 60_000)));
    for (const w of watchers) w.close();

    const rows = await eventRows(ctx.deps.db, planId);
    expect(rows.at(-1)!.type).toBe('plan.completed');
    const expected = rows.map((r) => `${r.seq}:${r.type}`);
    for (const got of fromSessions) {
      const durable = got.filter((m) => m.event !== 'task.delta');
      expect(durable.map((m) => `${m.json.seq}:${m.event}`)).toEqual(expected);
      expect(durable.map((m) => m.id)).toEqual(rows.map((r) => String(r.id)));
    }
    for (const got of fromPlans) {
      expect(got.filter((m) => m.id !== undefined).map((m) => `${m.id}:${m.event}`)).toEqual(expected);
    }
    expect(planStreams.every((s) => s.isEnded())).toBe(true);
  });
});
