import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../api/app.js';
import { createRateLimiter } from '../src/limits/rate-limiter.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, signToken } from './helpers/http.js';

/** The rate limit checks a user's concurrent requests together (one script call): the decisions must not change. */
const BURST = 5;
let ctx: TestContext;
let app: App;

beforeAll(async () => {
  ctx = await createTestContext('limits-rate-batch', { RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: String(BURST) });
  app = createApp(ctx.deps);
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

describe('per-user rate limit under concurrent requests', () => {
  it('allows exactly the burst of requests that arrive at once, and refuses the rest with Retry-After', async () => {
    const token = await signToken({ sub: 'rate-burst' });
    const results = await Promise.all(Array.from({ length: BURST + 3 }, () => call(app, 'GET', '/v1/projects', { token })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(BURST);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(3);
    for (const r of refused) expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('decides a batch of one script call as the same calls one by one would be decided', async () => {
    const limiter = createRateLimiter(ctx.deps.redis, `${ctx.deps.prefix}:direct`, { perMinute: 60, burst: 3 });
    const decisions = await Promise.all(Array.from({ length: 5 }, () => limiter.take('someone')));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(decisions.slice(0, 3).map((d) => d.remaining)).toEqual([2, 1, 0]);
    // 60 a minute: the next request is allowed about a second later.
    for (const d of decisions.slice(3)) expect(d.retryAfterMs).toBeGreaterThan(900);
    for (const d of decisions.slice(3)) expect(d.retryAfterMs).toBeLessThanOrEqual(1000);
  });
});
