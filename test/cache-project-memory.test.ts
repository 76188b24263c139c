import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectMemory, type ProjectMemory } from '../src/cache/project-memory.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { createTestContext, type TestContext } from './helpers/context.js';

let ctx: TestContext;
let memory: ProjectMemory;
const ids = { alice: '', bob: '', aliceP1: '', aliceP2: '', bobP1: '' };

beforeAll(async () => {
  ctx = await createTestContext('cache-project-memory');
  const db = ctx.deps.db;
  const user = (subject: string) => db.insertInto('users').values({ subject, email: null, username: null }).returning('id').executeTakeFirstOrThrow();
  const project = (user_id: string, name: string) =>
    db.insertInto('user_projects').values({ user_id, name, settings: '{}' }).returning('id').executeTakeFirstOrThrow();
  ids.alice = (await user('alice')).id;
  ids.bob = (await user('bob')).id;
  ids.aliceP1 = (await project(ids.alice, 'p1')).id;
  ids.aliceP2 = (await project(ids.alice, 'p2')).id;
  ids.bobP1 = (await project(ids.bob, 'p1')).id;
  memory = createProjectMemory({ db, embedder: createHashedEmbedder(), vectorStore: createPostgresVectorStore({ db }) });
});
afterAll(() => ctx?.cleanup());

describe('project memory', () => {
  it('finds the most relevant entries first', async () => {
    const scope = { userId: ids.alice, projectId: ids.aliceP1 };
    await memory.write({ ...scope, kind: 'decision', content: 'We chose PostgreSQL for the billing database because of transactions.', source: 'plan:1' });
    await memory.write({ ...scope, content: 'The marketing site is deployed on Vercel.' });
    await memory.write({ ...scope, content: 'Billing invoices are generated monthly by a cron job.' });
    const found = await memory.search({ ...scope, query: 'which database does billing use?', k: 2 });
    expect(found).toHaveLength(2);
    expect(found[0]).toMatchObject({ kind: 'decision', source: 'plan:1' });
    expect(found[0]!.content).toMatch(/PostgreSQL/);
    expect(found[0]!.score).toBeGreaterThanOrEqual(found[1]!.score);
  });

  it('keeps the results within the token budget (about 4 characters per token)', async () => {
    const scope = { userId: ids.alice, projectId: ids.aliceP2 };
    await memory.write({ ...scope, content: `Deployment notes: ${'the deploy pipeline runs canary checks first. '.repeat(20)}` });
    await memory.write({ ...scope, content: 'Deployment uses a canary stage before production.' });
    const tight = await memory.search({ ...scope, query: 'deployment canary', k: 5, tokenBudget: 20 });
    expect(tight.map((e) => e.content)).toEqual(['Deployment uses a canary stage before production.']);
    expect(tight[0]!.tokens).toBe(Math.ceil('Deployment uses a canary stage before production.'.length / 4));
    const roomy = await memory.search({ ...scope, query: 'deployment canary', k: 5, tokenBudget: 10_000 });
    expect(roomy).toHaveLength(2);
    expect(roomy.reduce((s, e) => s + e.tokens, 0)).toBeLessThanOrEqual(10_000);
  });

  it('never returns another project’s or another user’s memory', async () => {
    const secret = 'The launch codename is Bluebird and ships in May.';
    await memory.write({ userId: ids.bob, projectId: ids.bobP1, content: secret });
    await memory.write({ userId: ids.alice, projectId: ids.aliceP1, content: 'Alice notes the launch date is still open.' });
    const alice = await memory.search({ userId: ids.alice, projectId: ids.aliceP1, query: secret, k: 10 });
    expect(alice.map((e) => e.content)).not.toContain(secret);
    expect(alice.length).toBeGreaterThan(0);
    const aliceP2 = await memory.search({ userId: ids.alice, projectId: ids.aliceP2, query: secret, k: 10 });
    expect(aliceP2.map((e) => e.content)).not.toContain(secret);
    // Bob's project id under Alice's user id: still nothing of Bob's.
    expect(await memory.search({ userId: ids.alice, projectId: ids.bobP1, query: secret, k: 10 })).toEqual([]);
    const bob = await memory.search({ userId: ids.bob, projectId: ids.bobP1, query: secret, k: 10 });
    expect(bob.map((e) => e.content)).toEqual([secret]);
  });
});
