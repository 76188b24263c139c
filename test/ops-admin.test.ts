import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { signToken } from './helpers/http.js';
import { createApp } from '../api/app.js';
import { ADMIN_COOKIE } from '../api/middleware/admin-auth.js';
import { ALL_QUEUES } from '../src/queues/catalog.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  ctx = await createTestContext('ops-admin', { BULL_BOARD_USER: 'ops', BULL_BOARD_PASSWORD: 'correct horse battery' });
  app = createApp(ctx.deps);
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers });

describe('Bull Board at /admin/queues', () => {
  it('answers 401 without credentials, asking for basic auth', async () => {
    const res = await get('/admin/queues');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: 'admin credentials are required' } });
    expect((await get('/admin/queues/api/queues')).status).toBe(401);
  });

  it('serves the dashboard to an admin token (header or cookie)', async () => {
    const token = await signToken({ role: 'admin' });
    const res = await get('/admin/queues', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const html = await res.text();
    // Every asset URL of the UI is relative to this base.
    expect(html).toContain('<base href="/admin/queues/" />');
    const viaCookie = await get('/admin/queues', { cookie: `${ADMIN_COOKIE}=${token}` });
    expect(viaCookie.status).toBe(200);
  });

  it('serves the UI assets under the base path', async () => {
    const token = await signToken({ role: 'admin' });
    const html = await (await get('/admin/queues', { authorization: `Bearer ${token}` })).text();
    const asset = /src="(static\/js\/main[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const res = await get(`/admin/queues/${asset}`, { cookie: `${ADMIN_COOKIE}=${token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
  });

  it('refuses a valid token without the admin role, and an invalid one', async () => {
    const user = await signToken({ role: 'user' });
    expect((await get('/admin/queues', { authorization: `Bearer ${user}` })).status).toBe(401);
    expect((await get('/admin/queues', { authorization: `Bearer ${await signToken()}` })).status).toBe(401);
    const forged = await signToken({ role: 'admin', secret: 'another-secret-0123456789' });
    expect((await get('/admin/queues', { authorization: `Bearer ${forged}` })).status).toBe(401);
    expect((await get('/admin/queues', { cookie: `${ADMIN_COOKIE}=${user}` })).status).toBe(401);
  });

  it('accepts the configured basic-auth user and refuses a wrong password', async () => {
    expect((await get('/admin/queues', { authorization: basic('ops', 'correct horse battery') })).status).toBe(200);
    expect((await get('/admin/queues', { authorization: basic('ops', 'wrong') })).status).toBe(401);
    expect((await get('/admin/queues', { authorization: basic('admin', 'correct horse battery') })).status).toBe(401);
  });

  it('lists every queue of the catalog in its API, gates included', async () => {
    const res = await get('/admin/queues/api/queues', { authorization: basic('ops', 'correct horse battery') });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...ALL_QUEUES].sort());
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
  });

  it('is read-only by default: pausing a queue is refused and the queue keeps running', async () => {
    const res = await app.request('/admin/queues/api/queues/planner/pause', {
      method: 'PUT',
      headers: { authorization: basic('ops', 'correct horse battery') },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await ctx.deps.queues.byName.planner.isPaused()).toBe(false);
  });
});

describe('Bull Board with BULL_BOARD_READ_ONLY=false', () => {
  it('lets an admin pause a queue', async () => {
    const rw = await createTestContext('ops-admin-rw', { BULL_BOARD_READ_ONLY: 'false' });
    const rwApp = createApp(rw.deps);
    try {
      const token = await signToken({ role: 'admin' });
      const res = await rwApp.request('/admin/queues/api/queues/maintenance/pause', { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBeLessThan(300);
      expect(await rw.deps.queues.byName.maintenance.isPaused()).toBe(true);
      // Without basic-auth configured, a 401 does not ask the browser for it.
      const denied = await rwApp.request('/admin/queues');
      expect(denied.status).toBe(401);
      expect(denied.headers.get('www-authenticate') ?? '').not.toMatch(/Basic/);
    } finally {
      await rwApp.close();
      await rw.cleanup();
    }
  });
});
