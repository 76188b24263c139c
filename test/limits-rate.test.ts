import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../api/app.js';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { createRedis } from '../src/redis.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, signToken } from './helpers/http.js';
import { seedPlan, seedProject, seedUser } from './helpers/seed.js';

// One request a minute sustained: nothing refills while a test runs, so the
// burst is exactly the number of requests allowed, however slow the machine.
const BURST = 5;
let ctx: TestContext;
let app: App;
let otherDeps: Deps;
let otherApp: App;

beforeAll(async () => {
  ctx = await createTestContext('limits-rate', { RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: String(BURST), SSE_HEARTBEAT_MS: '20' });
  app = createApp(ctx.deps);
  // A second API process: its own connections, the same Redis prefix and database.
  otherDeps = createDeps(loadConfig(ctx.env), { logger: createLogger('silent'), role: 'limits-rate-2' });
  otherApp = createApp(otherDeps);
});
afterAll(async () => {
  await otherApp?.close();
  await otherDeps?.close();
  await app?.close();
  await ctx?.cleanup();
});

const list = (a: App, token: string) => call(a, 'GET', '/v1/projects', { token });

describe('per-user request rate limit', () => {
  it('answers the request past the burst with 429, Retry-After and the contract error body', async () => {
    const token = await signToken({ sub: 'rate-solo' });
    for (let i = 0; i < BURST; i++) expect((await list(app, token)).status).toBe(200);
    const refused = await list(app, token);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('too many requests') } });
    const retryAfter = refused.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    // One request a minute: the next one is allowed within a minute, not sooner than the rest of the interval.
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
  });

  it('does the work of no refused request', async () => {
    const token = await signToken({ sub: 'rate-writes' });
    for (let i = 0; i < BURST; i++) expect((await call(app, 'POST', '/v1/projects', { token, body: { name: `p${i}` } })).status).toBe(201);
    expect((await call(app, 'POST', '/v1/projects', { token, body: { name: 'one too many' } })).status).toBe(429);
    const user = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', 'rate-writes').executeTakeFirstOrThrow();
    const projects = await ctx.deps.db.selectFrom('user_projects').select('name').where('user_id', '=', user.id).execute();
    expect(projects.map((p) => p.name).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  it('is shared by two API processes on the same Redis', async () => {
    const token = await signToken({ sub: 'rate-replicas' });
    const statuses: number[] = [];
    for (let i = 0; i < BURST + 2; i++) statuses.push((await list(i % 2 ? otherApp : app, token)).status);
    expect(statuses).toEqual([...Array(BURST).fill(200), 429, 429]);
  });

  it('leaves another user unaffected', async () => {
    const heavy = await signToken({ sub: 'rate-heavy' });
    const light = await signToken({ sub: 'rate-light' });
    for (let i = 0; i <= BURST; i++) await list(app, heavy);
    expect((await list(app, heavy)).status).toBe(429);
    expect((await list(app, light)).status).toBe(200);
  });

  it('keys on the user, not the token: a fresh token of the same subject is still limited', async () => {
    for (let i = 0; i < BURST; i++) await list(app, await signToken({ sub: 'rate-tokens' }));
    expect((await list(app, await signToken({ sub: 'rate-tokens', ttl: 60 }))).status).toBe(429);
  });

  it('does not limit unauthenticated routes nor count a 401 against anyone', async () => {
    for (let i = 0; i < BURST * 2; i++) expect((await call(app, 'GET', '/health/live')).status).toBe(200);
    for (let i = 0; i < BURST * 2; i++) expect((await call(app, 'GET', '/v1/projects', { token: 'not-a-jwt' })).status).toBe(401);
  });

  it('counts an event stream once, when it opens, however long it stays open', async () => {
    const userId = await seedUser(ctx.deps.db, 'rate-sse');
    const owner = { userId, ...(await seedProject(ctx.deps.db, userId)) };
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }]);
    const token = await signToken({ sub: 'rate-sse' });
    const ac = new AbortController();
    const res = await app.request(`/v1/projects/${owner.projectId}/plans/${planId}/events?access_token=${token}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    // Let the open stream deliver several heartbeats before spending the rest of the burst.
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/: ping/g) ?? []).length < 3) text += new TextDecoder().decode((await reader.read()).value);
    const statuses: number[] = [];
    for (let i = 0; i < BURST; i++) statuses.push((await call(app, 'GET', `/v1/projects/${owner.projectId}`, { token })).status);
    expect(statuses).toEqual([...Array(BURST - 1).fill(200), 429]);
    ac.abort();
    await reader.cancel().catch(() => undefined);
  });

  it('lets requests through when Redis cannot be reached (PostgreSQL-only routes keep working)', async () => {
    const deadRedis = createRedis('redis://127.0.0.1:1', 'limits-rate-dead', { lazyConnect: true, retryStrategy: () => 1000 });
    deadRedis.on('error', () => undefined);
    void deadRedis.connect().catch(() => undefined);
    const offline = createApp({ ...ctx.deps, redis: deadRedis });
    const token = await signToken({ sub: 'rate-offline' });
    try {
      for (let i = 0; i < BURST + 2; i++) expect((await list(offline, token)).status).toBe(200);
    } finally {
      deadRedis.disconnect();
      await offline.close();
    }
  });
});
