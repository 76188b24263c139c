import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { freePort, spawnService, waitForHttp } from './helpers/processes.js';
import { eventually } from './helpers/seed.js';
import { createApp } from '../api/app.js';
import { createLifecycle } from '../src/ops/lifecycle.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('ops-health');
});
afterAll(() => ctx?.cleanup());

describe('liveness and readiness', () => {
  it('/health/ready answers 200 with the checks, then 503 once the process is draining; /health/live stays 200', async () => {
    const lifecycle = createLifecycle();
    const app = createApp(ctx.deps, { lifecycle });
    try {
      const ready = await app.request('/health/ready');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', vector: 'disabled' } });
      expect((await app.request('/health/live')).status).toBe(200);

      lifecycle.markDraining();
      const draining = await app.request('/health/ready');
      expect(draining.status).toBe(503);
      expect(await draining.json()).toEqual({ status: 'draining' });
      expect((await app.request('/health/live')).status).toBe(200);
      // /health keeps its contract: liveness plus dependencies.
      expect((await app.request('/health')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('/health/ready answers 503 when a dependency is down', async () => {
    const down = await createTestContext('ops-health-down');
    const app = createApp(down.deps);
    try {
      down.deps.redis.disconnect();
      const res = await app.request('/health/ready');
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'unavailable', checks: { redis: 'down', postgres: 'ok' } });
    } finally {
      await app.close();
      await down.cleanup();
    }
  });

  it('a SIGTERM makes the API process not ready before its server closes, then it exits cleanly', async () => {
    const port = await freePort();
    const proc = spawnService({ ...ctx.env, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_DRAIN_DELAY_MS: '5000' }, ['--api']);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, proc);
      proc.child.kill('SIGTERM');
      const body = await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
        return res.status === 503 ? res.json() : undefined;
      }, 5_000, 'readiness 503 while draining');
      expect(body).toEqual({ status: 'draining' });
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
      expect(await proc.exited).toBe(0);
    } finally {
      await proc.kill();
    }
  });
});
