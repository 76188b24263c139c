import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { STARTER_AGENT_NAMES } from '../src/agents/starter-pack.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, walkPages, type Client } from './helpers/http.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let api: Client;
beforeAll(async () => {
  ctx = await createTestContext('api-projects');
  app = createApp(ctx.deps);
  api = clientFor(app, await signToken());
});
afterAll(() => ctx.cleanup());

const newClient = async () => clientFor(app, await signToken());

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
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    });
  });

  it('gives a new project the six starter agents in the same transaction', async () => {
    const p = await api.post('/v1/projects', { name: 'With pack' });
    const rows = await ctx.deps.db.selectFrom('user_agents').select(['name', 'starter_pack', 'status']).where('project_id', '=', p.body.id).execute();
    expect(rows.map((r) => r.name).sort()).toEqual([...STARTER_AGENT_NAMES].sort());
    expect(rows.every((r) => r.starter_pack && r.status === 'active')).toBe(true);
  });

  it('gets a project by id', async () => {
    const p = await api.post('/v1/projects', { name: 'Get me' });
    const res = await api.get(`/v1/projects/${p.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(p.body);
  });

  it('renames a project', async () => {
    const p = await api.post('/v1/projects', { name: 'Old' });
    const res = await api.patch(`/v1/projects/${p.body.id}`, { name: 'New' });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('New');
    expect((await api.get(`/v1/projects/${p.body.id}`)).body.name).toBe('New');
  });

  it('overrides one setting and keeps the defaults of the others', async () => {
    const p = await api.post('/v1/projects', { name: 'Settings' });
    const res = await api.patch(`/v1/projects/${p.body.id}`, { settings: { approval_threshold_usd: 2.5 } });
    expect(res.status).toBe(200);
    expect(res.body.settings).toEqual({
      approval_threshold_usd: 2.5,
      approval_timeout_s: ctx.config.APPROVAL_TIMEOUT_S,
      max_parallel_tasks: ctx.config.DEFAULT_MAX_PARALLEL_TASKS,
    });
  });

  it('merges successive settings patches and resets one with null', async () => {
    const p = await api.post('/v1/projects', { name: 'Merge', settings: { max_parallel_tasks: 3 } });
    expect(p.body.settings.max_parallel_tasks).toBe(3);
    await api.patch(`/v1/projects/${p.body.id}`, { settings: { approval_timeout_s: 60 } });
    const res = await api.patch(`/v1/projects/${p.body.id}`, { settings: { max_parallel_tasks: null } });
    expect(res.body.settings).toEqual({
      approval_threshold_usd: ctx.config.APPROVAL_COST_THRESHOLD_USD,
      approval_timeout_s: 60,
      max_parallel_tasks: ctx.config.DEFAULT_MAX_PARALLEL_TASKS,
    });
    const stored = await ctx.deps.db.selectFrom('user_projects').select('settings').where('id', '=', p.body.id).executeTakeFirstOrThrow();
    expect(stored.settings).toEqual({ approval_timeout_s: 60 });
  });

  it('deletes a project and its agents', async () => {
    const p = await api.post('/v1/projects', { name: 'Doomed' });
    const res = await api.delete(`/v1/projects/${p.body.id}`);
    expect(res.status).toBe(204);
    expect((await api.get(`/v1/projects/${p.body.id}`)).status).toBe(404);
    const agents = await ctx.deps.db.selectFrom('user_agents').select('id').where('project_id', '=', p.body.id).execute();
    expect(agents).toEqual([]);
  });

  it('rejects an empty name, naming the field', async () => {
    const res = await api.post('/v1/projects', { name: '' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'name', in: 'body' })]);
  });

  it('rejects a name over 200 characters', async () => {
    const res = await api.post('/v1/projects', { name: 'x'.repeat(201) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('name');
  });

  it('rejects a negative approval threshold, naming the nested field', async () => {
    const p = await api.post('/v1/projects', { name: 'Bad settings' });
    const res = await api.patch(`/v1/projects/${p.body.id}`, { settings: { approval_threshold_usd: -1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('settings.approval_threshold_usd');
  });

  it('rejects an unknown setting', async () => {
    const p = await api.post('/v1/projects', { name: 'Unknown setting' });
    const res = await api.patch(`/v1/projects/${p.body.id}`, { settings: { colour: 'red' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'settings.colour', message: 'unknown field' })]);
  });
});

describe('project pagination', () => {
  it('walks every project exactly once, newest first', async () => {
    const me = await newClient();
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await me.post('/v1/projects', { name: `p${i}` })).body.id);
    const { items, pages } = await walkPages<{ id: string }>(me, '/v1/projects', 3);
    const seen = items.map((p) => p.id);
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].reverse());
  });

  it('keeps rows that share a created_at timestamp on separate pages without loss', async () => {
    const me = await newClient();
    const user = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', await subjectOf(me)).executeTakeFirstOrThrow();
    const at = new Date('2025-01-01T00:00:00.123456Z').toISOString();
    const rows = await ctx.deps.db
      .insertInto('user_projects')
      .values(Array.from({ length: 5 }, (_, i) => ({ user_id: user.id, name: `same${i}`, settings: '{}', created_at: at })))
      .returning('id')
      .execute();
    const seen = (await walkPages<{ id: string }>(me, '/v1/projects', 2)).items.map((p) => p.id);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => rows.some((r) => r.id === id)).length).toBe(5);
  });

  it('keeps microsecond-apart rows apart across pages', async () => {
    const me = await newClient();
    const user = await ctx.deps.db.selectFrom('users').select('id').where('subject', '=', await subjectOf(me)).executeTakeFirstOrThrow();
    // Same millisecond, different microseconds: a millisecond cursor would repeat or skip rows.
    const times = ['2025-01-01T00:00:00.123100Z', '2025-01-01T00:00:00.123200Z', '2025-01-01T00:00:00.123300Z', '2025-01-01T00:00:00.123400Z'];
    for (const [i, t] of times.entries()) {
      await ctx.deps.db.insertInto('user_projects').values({ user_id: user.id, name: `us${i}`, settings: '{}', created_at: t }).execute();
    }
    const seen = (await walkPages<{ name: string }>(me, '/v1/projects', 1)).items.map((p) => p.name);
    expect(seen).toEqual(['us3', 'us2', 'us1', 'us0']);
  });

  it('rejects a tampered cursor with a 400 naming cursor', async () => {
    const res = await api.get('/v1/projects?cursor=not-a-cursor');
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'cursor', in: 'query' })]);
  });

  it('rejects a limit over 100', async () => {
    const res = await api.get('/v1/projects?limit=101');
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('limit');
  });
});

/** The subject a client's token carries. */
async function subjectOf(client: Client): Promise<string> {
  await client.get('/v1/projects?limit=1'); // provisions the user
  return JSON.parse(Buffer.from(client.token.split('.')[1]!, 'base64url').toString()).sub as string;
}
