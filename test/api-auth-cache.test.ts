import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../api/app.js';
import { createVerifiedTokenCache } from '../api/middleware/verified-token-cache.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, signToken } from './helpers/http.js';
import { eventually } from './helpers/seed.js';

describe('the verified-token cache', () => {
  it('serves a value until the time it was given, and not from then on', () => {
    const cache = createVerifiedTokenCache<string>({ maxEntries: 10, maxAgeMs: 60_000 });
    cache.set('t', 'alice', 5_000, 1_000);
    expect(cache.get('t', 4_999)).toBe('alice');
    expect(cache.get('t', 5_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps nothing longer than maxAgeMs, whatever the token’s own expiry', () => {
    const cache = createVerifiedTokenCache<string>({ maxEntries: 10, maxAgeMs: 100 });
    cache.set('t', 'alice', 1_000_000, 0);
    expect(cache.get('t', 99)).toBe('alice');
    expect(cache.get('t', 100)).toBeUndefined();
  });

  it('does not keep a token that is already past its time', () => {
    const cache = createVerifiedTokenCache<string>({ maxEntries: 10, maxAgeMs: 100 });
    cache.set('t', 'alice', 50, 50);
    expect(cache.size).toBe(0);
  });

  it('drops the oldest entry past maxEntries', () => {
    const cache = createVerifiedTokenCache<number>({ maxEntries: 2, maxAgeMs: 1_000 });
    cache.set('a', 1, 500, 0);
    cache.set('b', 2, 500, 0);
    cache.set('c', 3, 500, 0);
    expect([cache.get('a', 1), cache.get('b', 1), cache.get('c', 1)]).toEqual([undefined, 2, 3]);
  });
});

describe('authentication with cached tokens', () => {
  let ctx: TestContext;
  let app: App;
  beforeAll(async () => {
    ctx = await createTestContext('api-auth-cache');
    app = createApp(ctx.deps);
  });
  afterAll(async () => {
    await app?.close();
    await ctx?.cleanup();
  });

  it('refuses a token once it expires, though it was accepted (and cached) before', async () => {
    const now = Math.floor(Date.now() / 1000);
    // Expired 28 s ago: within the 30 s clock skew for another 2 s at most.
    const token = await signToken({ sub: 'cache-expiry', iat: now - 60, extra: { exp: now - 28 } });
    expect((await call(app, 'GET', '/v1/projects', { token })).status).toBe(200);
    const refused = await eventually(async () => {
      const res = await call(app, 'GET', '/v1/projects', { token });
      return res.status === 401 ? res : undefined;
    }, 5_000, 'the cached token to be refused');
    expect(refused.body.error).toMatchObject({ code: 'unauthorized', message: 'the token has expired' });
  });

  it('refuses a cached token whose signature was tampered with', async () => {
    const token = await signToken({ sub: 'cache-tamper' });
    expect((await call(app, 'GET', '/v1/projects', { token })).status).toBe(200);
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const forged = `${head}.${payload}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await call(app, 'GET', '/v1/projects', { token: forged })).status).toBe(401);
  });

  it('still provisions the user of a new token of a known subject with its new claims', async () => {
    await call(app, 'GET', '/v1/projects', { token: await signToken({ sub: 'cache-claims', email: 'old@example.com' }) });
    await call(app, 'GET', '/v1/projects', { token: await signToken({ sub: 'cache-claims', email: 'new@example.com', ttl: 1800 }) });
    const row = await ctx.deps.db.selectFrom('users').select('email').where('subject', '=', 'cache-claims').executeTakeFirstOrThrow();
    expect(row.email).toBe('new@example.com');
  });
});
