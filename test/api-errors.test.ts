import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { AppError } from '../src/core/errors.js';
import { createLogger } from '../src/logger.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, logSink, signToken } from './helpers/http.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let token: string;
let projectId: string;
const sink = logSink();
beforeAll(async () => {
  ctx = await createTestContext('api-errors');
  app = createApp({ ...ctx.deps, logger: createLogger('info', { destination: sink }) });
  app.get('/test/boom', () => {
    throw new Error('db password is hunter2');
  });
  app.get('/test/busy', () => {
    throw new AppError('TOO_MANY', 'rate_limited', 'slow down', { retryAfterS: 7 });
  });
  token = await signToken();
  projectId = (await call(app, 'POST', '/v1/projects', { token, body: { name: 'Errors' } })).body.id;
});
afterAll(() => ctx.cleanup());

describe('bad bodies', () => {
  it('answers invalid JSON with 400', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, raw: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  it('answers a wrong type with 400 naming the field', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, body: { name: 42 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: 'name', in: 'body', message: expect.any(String) }]);
  });

  it('answers a JSON array body with 400', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, body: [{ name: 'x' }] });
    expect(res.status).toBe(400);
  });

  it('answers an unknown field with 400 naming it', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, body: { name: 'x', owner: 'me' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: 'owner', in: 'body', message: 'unknown field' }]);
  });

  it('answers a 70 KiB body with 413', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, body: { name: 'x'.repeat(70 * 1024) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('answers a 70 KiB body that declares no length with 413', async () => {
    const big = JSON.stringify({ name: 'y'.repeat(70 * 1024) });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const res = await app.request('/v1/projects', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  it('accepts application/json with a charset parameter', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, raw: '{"name":"cs"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(201);
  });

  it('answers a non-JSON content type with 415', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('answers a body without content type with 415', async () => {
    const res = await call(app, 'POST', '/v1/projects', { token, raw: '{"name":"x"}' });
    expect(res.status).toBe(415);
  });
});

describe('path ids', () => {
  it.each([
    ['project', () => '/v1/projects/not-a-uuid', 'projectId'],
    ['project with SQL', () => `/v1/projects/${encodeURIComponent("1' OR '1'='1")}/agents`, 'projectId'],
    ['agent', () => `/v1/projects/${projectId}/agents/123`, 'agentId'],
    ['session', () => `/v1/projects/${projectId}/sessions/abc/messages`, 'sessionId'],
  ])('answers a non-UUID %s id with 400 naming it', async (_, path, field) => {
    const res = await call(app, 'GET', path(), { token });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field, in: 'path' })]);
  });

  it('answers a well-formed unknown project id with 404', async () => {
    const res = await call(app, 'GET', `/v1/projects/${crypto.randomUUID()}`, { token });
    expect(res.status).toBe(404);
  });
});

describe('error handling', () => {
  it('answers an unknown route with the 404 error body', async () => {
    const res = await call(app, 'GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('hides an unexpected error behind a generic 500 and logs its stack', async () => {
    const res = await call(app, 'GET', '/test/boom');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal', message: 'internal server error' } });
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    const logged = sink.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
    expect(logged.err.stack).toContain('hunter2');
  });

  it('sends Retry-After with a 429', async () => {
    const res = await call(app, 'GET', '/test/busy');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.body.error.code).toBe('rate_limited');
  });
});

describe('request id', () => {
  it('echoes a client X-Request-Id', async () => {
    const res = await call(app, 'GET', '/health', { headers: { 'x-request-id': 'req-abc.123' } });
    expect(res.headers.get('x-request-id')).toBe('req-abc.123');
  });

  it('generates one when none is sent, also on errors', async () => {
    const res = await call(app, 'GET', '/v1/projects');
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('replaces a client id that is not printable and short', async () => {
    const res = await call(app, 'GET', '/health', { headers: { 'x-request-id': 'a b<script>' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('tags log lines with the request id and user id', async () => {
    await call(app, 'GET', '/v1/projects', { token, headers: { 'x-request-id': 'trace-me' } });
    const line = sink.lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'trace-me' && l.msg === 'request');
    expect(line).toMatchObject({ userId: expect.any(String), status: 200, path: '/v1/projects' });
  });
});
