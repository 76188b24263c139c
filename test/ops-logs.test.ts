import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { seedPlan, seedProject, seedUser, waitForPlan } from './helpers/seed.js';
import { logSink, signToken } from './helpers/http.js';
import { createApp } from '../api/app.js';
import { createWorkers } from '../workers/index.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import { createLogger } from '../src/logger.js';
import type { Deps } from '../src/deps.js';

let ctx: TestContext;
let sink: ReturnType<typeof logSink>;
let deps: Deps;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  ctx = await createTestContext('ops-logs', { BULL_BOARD_USER: 'ops', BULL_BOARD_PASSWORD: 'pa55-word-never-logged', TASK_BACKOFF_MS: '20' });
  sink = logSink();
  // The same deps with a logger that writes every level to the sink.
  deps = { ...ctx.deps, logger: createLogger('trace', { destination: sink }) };
  app = createApp(deps);
  app.get('/test/explode', (c) => {
    c.get('logger').info({ headers: { authorization: c.req.header('authorization') }, apiKey: 'sk-live-apikey-0001' }, 'about to fail');
    throw new Error(`failed while calling ${c.req.url}`);
  });
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

const parsed = () => sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('structured logs', () => {
  it('carry the request id and the user id on every line of an authenticated request', async () => {
    const token = await signToken({ sub: 'log-user' });
    sink.lines.length = 0;
    const res = await app.request('/v1/projects', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-logs-0001' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-logs-0001');
    const lines = parsed().filter((l) => l.requestId === 'req-logs-0001');
    expect(lines.length).toBeGreaterThan(0);
    const access = lines.find((l) => l.msg === 'request');
    expect(access).toMatchObject({ method: 'GET', path: '/v1/projects', status: 200 });
    expect(typeof access!.userId).toBe('string');
    // No line of the process lacks the request id while this request ran.
    expect(parsed().every((l) => l.requestId === 'req-logs-0001')).toBe(true);
  });

  it('never write a bearer token, an access_token query value, a basic-auth password or an API key', async () => {
    const token = await signToken({ sub: 'secret-user' });
    const badToken = `${token.slice(0, -4)}AAAA`;
    sink.lines.length = 0;
    await app.request('/v1/projects', { headers: { authorization: `Bearer ${token}` } });
    await app.request('/v1/projects', { headers: { authorization: `Bearer ${badToken}` } });
    const streamPath = '/v1/projects/3f1c1f52-7d5b-4c59-9a57-0a6f0f7b2f11/plans/3f1c1f52-7d5b-4c59-9a57-0a6f0f7b2f12/events';
    await app.request(`${streamPath}?access_token=${encodeURIComponent(token)}`);
    await app.request(`${streamPath}?access_token=${encodeURIComponent(badToken)}`);
    await app.request('/admin/queues', { headers: { authorization: `Basic ${Buffer.from('ops:pa55-word-never-logged').toString('base64')}` } });
    await app.request('/admin/queues', { headers: { authorization: `Basic ${Buffer.from('ops:wrong-pa55-word').toString('base64')}` } });
    const exploded = await app.request(`/test/explode?access_token=${token}`, { headers: { authorization: `Bearer ${token}` } });
    expect(exploded.status).toBe(500);
    await ctx.deps.metrics.settled();

    const out = sink.lines.join('\n');
    expect(sink.lines.length).toBeGreaterThan(5);
    // The 500 was logged with its stack, the way an operator needs it.
    expect(parsed().some((l) => l.msg === 'unhandled error' && JSON.stringify(l.err).includes('at '))).toBe(true);
    for (const secret of [token, badToken, token.split('.')[2]!, 'pa55-word-never-logged', 'wrong-pa55-word', 'sk-live-apikey-0001']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
  });

  it('scrub credentials out of an err on any line, Error or message (worker lines too)', () => {
    const lines: string[] = [];
    const log = createLogger('info', { destination: { write: (l: string) => void lines.push(l) } });
    const leaky = new Error('GET https://api.example.com/v1?api_key=sk-live-apikey-0002 failed: Bearer abc.def.ghi');
    log.warn({ err: leaky }, 'provider call failed');
    log.warn({ err: 'fetch https://user:pa55-in-url@example.com/x?access_token=tok-0003 refused' }, 'task attempt failed');
    const out = lines.join('\n');
    for (const secret of ['sk-live-apikey-0002', 'abc.def.ghi', 'pa55-in-url', 'tok-0003']) expect(out).not.toContain(secret);
    expect(JSON.parse(lines[0]!).err).toMatchObject({ type: 'Error', message: expect.stringContaining('[redacted]') });
    expect(JSON.parse(lines[0]!).err.stack).toContain('at ');
  });

  it('put the plan id on every engine line and the task id on task lines', async () => {
    const workers = createWorkers(deps, { reconcile: false });
    try {
      const userId = await seedUser(deps.db, 'logs-engine');
      const owner = { userId, ...(await seedProject(deps.db, userId)) };
      const planId = await seedPlan(deps.db, owner, [{ id: 'a' }, { id: 'b', deps: ['a'], sim: { fail: 'always' } }, { id: 'c', deps: ['a'], sim: { fail: 'transient' } }]);
      sink.lines.length = 0;
      await createPlanControl(deps).startExecution(planId);
      expect(await waitForPlan(deps.db, planId)).toBe('partial_success');
      const engine = parsed().filter((l) => typeof l.msg === 'string' && /^(plan|task) /.test(l.msg));
      expect(engine.length).toBeGreaterThanOrEqual(3);
      for (const l of engine) expect(l.plan_id).toBe(planId);
      const taskLines = engine.filter((l) => (l.msg as string).startsWith('task '));
      expect(taskLines.map((l) => l.task_id).sort()).toEqual(expect.arrayContaining(['b', 'c']));
    } finally {
      await workers.close();
    }
  });
});
