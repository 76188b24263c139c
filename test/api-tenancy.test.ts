import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, type Client } from './helpers/http.js';

let ctx: TestContext;
let alice: Client;
let bob: Client;
let ids: { project: string; agent: string; session: string };

/** Everything of Alice's as stored, to prove Bob's attempts changed nothing. */
async function aliceSnapshot() {
  const db = ctx.deps.db;
  return {
    project: await db.selectFrom('user_projects').selectAll().where('id', '=', ids.project).executeTakeFirst(),
    agents: await db.selectFrom('user_agents').selectAll().where('project_id', '=', ids.project).orderBy('id').execute(),
    sessions: await db.selectFrom('chat_sessions').selectAll().where('project_id', '=', ids.project).orderBy('id').execute(),
  };
}

beforeAll(async () => {
  ctx = await createTestContext('api-tenancy');
  const app = createApp(ctx.deps);
  alice = clientFor(app, await signToken({ sub: 'alice' }));
  bob = clientFor(app, await signToken({ sub: 'bob' }));
  const project = (await alice.post('/v1/projects', { name: "Alice's" })).body.id as string;
  const agent = (await alice.get(`/v1/projects/${project}/agents`)).body.items[0].id as string;
  const session = (await alice.post(`/v1/projects/${project}/sessions`, { topic: 'secret' })).body.id as string;
  ids = { project, agent, session };
  await bob.post('/v1/projects', { name: "Bob's" });
});
afterAll(() => ctx.cleanup());

const agentConfig = { role: 'r', system_prompt: 'p', model: 'gpt-4o-mini' };
const attempts: Array<[string, (c: Client) => Promise<{ status: number; body: any }>]> = [
  ['GET project', (c) => c.get(`/v1/projects/${ids.project}`)],
  ['PATCH project', (c) => c.patch(`/v1/projects/${ids.project}`, { name: 'pwned', settings: { max_parallel_tasks: 1 } })],
  ['DELETE project', (c) => c.delete(`/v1/projects/${ids.project}`)],
  ['GET agents', (c) => c.get(`/v1/projects/${ids.project}/agents`)],
  ['POST agent', (c) => c.post(`/v1/projects/${ids.project}/agents`, { name: 'intruder', config: agentConfig })],
  ['GET agent', (c) => c.get(`/v1/projects/${ids.project}/agents/${ids.agent}`)],
  ['PATCH agent', (c) => c.patch(`/v1/projects/${ids.project}/agents/${ids.agent}`, { status: 'disabled' })],
  ['DELETE agent', (c) => c.delete(`/v1/projects/${ids.project}/agents/${ids.agent}`)],
  ['POST session', (c) => c.post(`/v1/projects/${ids.project}/sessions`, { topic: 'x' })],
  ['GET sessions', (c) => c.get(`/v1/projects/${ids.project}/sessions`)],
  ['GET messages', (c) => c.get(`/v1/projects/${ids.project}/sessions/${ids.session}/messages`)],
];

describe("another user's resources", () => {
  it.each(attempts)('%s answers 404 with the error body', async (_, attempt) => {
    const res = await attempt(bob);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it("leave Alice's data unchanged after every attempt", async () => {
    const before = await aliceSnapshot();
    for (const [, attempt] of attempts) await attempt(bob);
    expect(await aliceSnapshot()).toEqual(before);
    expect(before.project).toBeDefined();
    expect(before.agents).toHaveLength(6);
  });

  it("keep Alice's project out of Bob's list", async () => {
    const res = await bob.get('/v1/projects');
    expect(res.body.items.map((p: { id: string }) => p.id)).not.toContain(ids.project);
    expect(res.body.items).toHaveLength(1);
  });

  it("404 when Bob addresses Alice's agent through his own project", async () => {
    const own = (await bob.get('/v1/projects')).body.items[0].id;
    expect((await bob.get(`/v1/projects/${own}/agents/${ids.agent}`)).status).toBe(404);
    expect((await bob.patch(`/v1/projects/${own}/agents/${ids.agent}`, { status: 'disabled' })).status).toBe(404);
    expect((await bob.delete(`/v1/projects/${own}/agents/${ids.agent}`)).status).toBe(404);
    expect((await bob.get(`/v1/projects/${own}/sessions/${ids.session}/messages`)).status).toBe(404);
    const agent = await ctx.deps.db.selectFrom('user_agents').select('status').where('id', '=', ids.agent).executeTakeFirst();
    expect(agent?.status).toBe('active');
  });

  it('still work for their owner', async () => {
    expect((await alice.get(`/v1/projects/${ids.project}/agents/${ids.agent}`)).status).toBe(200);
  });
});
