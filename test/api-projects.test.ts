import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { STARTER_AGENT_NAMES } from '../src/agents/starter-pack.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';

let ctx: TestContext;
let api: Client;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  ctx = await createTestContext('api-projects');
  app = createApp(ctx.deps);
  api = clientFor(app, await signToken());
});
afterAll(() => ctx.cleanup());

describe('projects', () => {
  it('creates a project with the effective default settings', async () => {
    const res = await api.post('/v1/projects', { name: 'Alpha' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Alpha',
      settings: {
        approval_threshold_usd: ctx.config.APPROVAL_COST_THRESHOLD_USD,
        approval_timeout_s: ctx.config.APPROVAL_TIMEOUT_S,
        max_parallel_tasks: ctx.config.DEFAULT_MAX_PARALLEL_TASKS,
      },
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
    });
  });

  it('gives a new project the six starter agents', async () => {
    const p = await api.post('/v1/projects', { name: 'With pack' });
    const agents = await api.get(`/v1/projects/${p.body.id}/agents`);
    expect(agents.status).toBe(200);
    expect(agents.body.items.map((a: { name: string }) => a.name).sort()).toEqual([...STARTER_AGENT_NAMES].sort());
    expect(agents.body.items.every((a: { starter_pack: boolean; status: string }) => a.starter_pack && a.status === 'active')).toBe(true);
  });
});
