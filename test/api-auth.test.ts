import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createDeps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { createTestContext, TEST_JWT_SECRET, type TestContext } from './helpers/context.js';
import { call, logSink, signToken, unsignedToken } from './helpers/http.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  ctx = await createTestContext('api-auth');
  app = createApp(ctx.deps);
});
afterAll(() => ctx.cleanup());

const now = () => Math.floor(Date.now() / 1000);

async function expect401(res: Awaited<ReturnType<typeof call>>) {
  expect(res.status).toBe(401);
  expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
}

describe('JWT', () => {
  it('accepts a valid HS256 token', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await signToken() });
    expect(res.status).toBe(200);
  });

  it('refuses a request with no token', async () => {
    await expect401(await call(app, 'GET', '/v1/projects'));
  });

  it('refuses a malformed token', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: 'not.a.jwt' }));
  });

  it('refuses an Authorization header that is not Bearer', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }));
  });

  it('refuses an unsigned alg:none token', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: unsignedToken() }));
  });

  it('refuses a token signed with another algorithm than the pinned one', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ alg: 'HS512' }) }));
  });

  it('refuses a token signed with another secret', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ secret: 'another-secret-0123456789' }) }));
  });

  it('refuses an expired token', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ ttl: -120, iat: now() - 3600 }) }));
  });

  it('accepts a token expired by less than the 30 s clock skew', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await signToken({ ttl: -10, iat: now() - 3600 }) });
    expect(res.status).toBe(200);
  });

  it('refuses a token whose nbf is in the future', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ nbf: now() + 120 }) }));
  });

  it('accepts a token whose nbf is within the clock skew', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await signToken({ nbf: now() + 10 }) });
    expect(res.status).toBe(200);
  });

  it('refuses a token issued in the future beyond the skew', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ iat: now() + 300 }) }));
  });

  it('refuses a token without exp', async () => {
    await expect401(await call(app, 'GET', '/v1/projects', { token: await signToken({ ttl: null }) }));
  });

  it('refuses a token without sub', async () => {
    const token = await signToken({ extra: { sub: undefined } });
    await expect401(await call(app, 'GET', '/v1/projects', { token }));
  });

  it('does not protect /health', async () => {
    expect((await call(app, 'GET', '/health')).status).toBe(200);
  });
});

describe('issuer and audience', () => {
  it('refuses a token of another issuer when JWT_ISSUER is set', async () => {
    const deps = createDeps({ ...ctx.config, JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'codelab' }, { logger: ctx.deps.logger });
    try {
      const strict = createApp(deps);
      const good = await signToken({ extra: { iss: 'https://id.example', aud: 'codelab' } });
      const badIss = await signToken({ extra: { iss: 'https://evil.example', aud: 'codelab' } });
      const badAud = await signToken({ extra: { iss: 'https://id.example', aud: 'other' } });
      expect((await call(strict, 'GET', '/v1/projects', { token: good })).status).toBe(200);
      await expect401(await call(strict, 'GET', '/v1/projects', { token: badIss }));
      await expect401(await call(strict, 'GET', '/v1/projects', { token: badAud }));
    } finally {
      await deps.close();
    }
  });
});

describe('query-string tokens', () => {
  const eventsPath = () => `/v1/projects/${crypto.randomUUID()}/plans/${crypto.randomUUID()}/events`;

  it('are accepted on SSE paths', async () => {
    const token = await signToken();
    const res = await call(app, 'GET', `${eventsPath()}?access_token=${token}`);
    // Authenticated, then the (unknown) project is a 404: not a 401.
    expect(res.status).toBe(404);
  });

  it('are refused on other routes', async () => {
    const token = await signToken();
    await expect401(await call(app, 'GET', `/v1/projects?access_token=${token}`));
  });

  it('never reach the logs', async () => {
    const sink = logSink();
    const deps = { ...ctx.deps, logger: createLogger('trace', { destination: sink }) };
    const logged = createApp(deps);
    const token = await signToken();
    await call(logged, 'GET', `${eventsPath()}?access_token=${token}`);
    await call(logged, 'GET', `/v1/projects?access_token=${token}`);
    expect(sink.lines.length).toBeGreaterThan(0);
    expect(sink.lines.join('\n')).not.toContain(token);
    expect(sink.lines.join('\n')).not.toContain(token.split('.')[2]);
  });
});

describe('just-in-time provisioning', () => {
  it('creates the users row on the first request with its claims', async () => {
    const sub = `jit-${crypto.randomUUID()}`;
    await call(app, 'GET', '/v1/projects', { token: await signToken({ sub, email: 'a@example.com', name: 'Ada' }) });
    const rows = await ctx.deps.db.selectFrom('users').selectAll().where('subject', '=', sub).execute();
    expect(rows).toEqual([expect.objectContaining({ subject: sub, email: 'a@example.com', username: 'Ada' })]);
  });

  it('creates exactly one row under concurrent first requests', async () => {
    const sub = `race-${crypto.randomUUID()}`;
    const token = await signToken({ sub });
    const results = await Promise.all(Array.from({ length: 12 }, () => call(app, 'POST', '/v1/projects', { token, body: { name: 'race' } })));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(201));
    const users = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', sub).execute();
    expect(users).toHaveLength(1);
    const owners = await ctx.deps.db.selectFrom('user_projects').select('user_id').where('id', 'in', results.map((r) => r.body.id)).execute();
    expect(new Set(owners.map((o) => o.user_id))).toEqual(new Set([users[0]!.id]));
  });

  it('reuses the row on later requests', async () => {
    const sub = `again-${crypto.randomUUID()}`;
    const token = await signToken({ sub });
    const p = await call(app, 'POST', '/v1/projects', { token, body: { name: 'mine' } });
    const later = await call(app, 'GET', `/v1/projects/${p.body.id}`, { token: await signToken({ sub }) });
    expect(later.status).toBe(200);
  });
});

describe('npm run token', () => {
  it('prints a token the API accepts', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bin/token.ts', '--sub', 'cli-user', '--role', 'admin', '--ttl', '600'], {
      env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, NODE_ENV: 'test' },
    });
    const token = stdout.trim();
    const res = await call(app, 'GET', '/v1/projects', { token });
    expect(res.status).toBe(200);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(payload).toMatchObject({ sub: 'cli-user', role: 'admin' });
    expect(payload.exp - payload.iat).toBe(600);
  });
});
