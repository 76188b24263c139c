import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, clientFor, signToken, walkPages, type Client } from './helpers/http.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let api: Client;
let projectId: string;
beforeAll(async () => {
  ctx = await createTestContext('api-sessions');
  app = createApp(ctx.deps);
  api = clientFor(app, await signToken());
  projectId = (await api.post('/v1/projects', { name: 'Chats' })).body.id;
});
afterAll(() => ctx.cleanup());

const sessions = () => `/v1/projects/${projectId}/sessions`;

async function addMessages(sessionId: string, n: number): Promise<string[]> {
  const project = await ctx.deps.db.selectFrom('user_projects').select('user_id').where('id', '=', projectId).executeTakeFirstOrThrow();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = await ctx.deps.db
      .insertInto('chat_messages')
      .values({ session_id: sessionId, user_id: project.user_id, project_id: projectId, role: i % 2 ? 'assistant' : 'user', content: `m${i}`, plan_id: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(row.id);
  }
  return ids;
}

describe('sessions', () => {
  it('creates a session with a topic', async () => {
    const res = await api.post(sessions(), { topic: 'Pricing' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), project_id: projectId, topic: 'Pricing', created_at: expect.any(String) });
  });

  it('creates a session with no body at all', async () => {
    const res = await call(app, 'POST', sessions(), { token: api.token });
    expect(res.status).toBe(201);
    expect(res.body.topic).toBeNull();
  });

  it('lists sessions newest first', async () => {
    const a = await api.post(sessions(), { topic: 'first' });
    const b = await api.post(sessions(), { topic: 'second' });
    const res = await api.get(`${sessions()}?limit=2`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((s: { id: string }) => s.id)).toEqual([b.body.id, a.body.id]);
    expect(res.body.next_cursor).toEqual(expect.any(String));
  });

  it('rejects a topic over 500 characters', async () => {
    const res = await api.post(sessions(), { topic: 't'.repeat(501) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('topic');
  });
});

describe('session messages', () => {
  it('lists messages oldest first in the contract shape', async () => {
    const s = await api.post(sessions(), {});
    const ids = await addMessages(s.body.id, 3);
    const res = await api.get(`${sessions()}/${s.body.id}/messages`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((m: { id: string }) => m.id)).toEqual(ids);
    expect(res.body.items[1]).toEqual({ id: ids[1], role: 'assistant', content: 'm1', plan_id: null, created_at: expect.any(String) });
    expect(res.body.next_cursor).toBeNull();
  });

  it('pages through messages without duplicates or gaps', async () => {
    const s = await api.post(sessions(), {});
    const ids = await addMessages(s.body.id, 11);
    const seen = (await walkPages<{ id: string }>(api, `${sessions()}/${s.body.id}/messages`, 4)).items.map((m) => m.id);
    expect(seen).toEqual(ids);
  });

  it('answers 404 for a session of another project of the same user', async () => {
    const other = (await api.post('/v1/projects', { name: 'Other' })).body.id;
    const s = await api.post(`/v1/projects/${other}/sessions`, {});
    const res = await api.get(`${sessions()}/${s.body.id}/messages`);
    expect(res.status).toBe(404);
  });
});
