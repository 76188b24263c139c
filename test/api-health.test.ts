import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createApp } from '../api/app.js';
import { startApiServer } from '../api/server.js';
import { createDb } from '../db/connection.js';
import { createTestContext, TEST_DATABASE_URL, type TestContext } from './helpers/context.js';
import { call } from './helpers/http.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('api-health');
});
afterAll(() => ctx.cleanup());

describe('GET /health', () => {
  it('answers 200 when PostgreSQL and Redis answer', async () => {
    const res = await call(createApp(ctx.deps), 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok', vector: 'disabled' } });
  });

  it('answers 503 marking redis when Redis is unreachable', async () => {
    // A real client on a port where nothing listens.
    const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    await redis.connect().catch(() => undefined);
    try {
      const res = await call(createApp({ ...ctx.deps, redis }), 'GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'unavailable', checks: { postgres: 'ok', redis: 'down', vector: 'disabled' } });
    } finally {
      redis.disconnect();
    }
  });

  it('answers 503 marking postgres when the database does not exist', async () => {
    const db = createDb({ url: TEST_DATABASE_URL.replace(/\/[^/]+$/, '/no_such_database_for_health'), poolSize: 1 });
    try {
      const started = Date.now();
      const res = await call(createApp({ ...ctx.deps, db }), 'GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body.checks).toEqual({ postgres: 'down', redis: 'ok', vector: 'disabled' });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await db.destroy();
    }
  });

  it('marks the vector store down when QDRANT_URL points nowhere', async () => {
    const app = createApp({ ...ctx.deps, config: { ...ctx.config, QDRANT_URL: 'http://127.0.0.1:1' } });
    const res = await call(app, 'GET', '/health');
    expect(res.status).toBe(503);
    expect(res.body.checks.vector).toBe('down');
  });
});

describe('API documentation', () => {
  it('serves an OpenAPI 3.1 document of every /v1 route', async () => {
    const res = await call(createApp(ctx.deps), 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining([
      '/v1/projects', '/v1/projects/{projectId}', '/v1/projects/{projectId}/agents', '/v1/projects/{projectId}/agents/{agentId}',
      '/v1/projects/{projectId}/sessions', '/v1/projects/{projectId}/sessions/{sessionId}/messages',
    ]));
    expect(res.body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The documented body is the validated one: strict, so unknown fields are visible as not allowed.
    expect(res.body.components.schemas.CreateProject.additionalProperties).toBe(false);
  });

  it('serves the interactive reference at /docs', async () => {
    const res = await createApp(ctx.deps).request('/docs');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('/openapi.json');
  });
});

describe('startApiServer', () => {
  it('serves over HTTP and stops accepting connections on close, twice', async () => {
    const server = await startApiServer(ctx.deps, createApp(ctx.deps), { port: 0, host: '127.0.0.1' });
    const res = await fetch(`http://127.0.0.1:${server.port}/health`);
    expect(res.status).toBe(200);
    await server.close();
    await server.close();
    await expect(fetch(`http://127.0.0.1:${server.port}/health`)).rejects.toThrow();
  });
});
