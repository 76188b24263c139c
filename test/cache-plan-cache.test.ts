import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentSetVersion,
  createPlanCache,
  normalizeRequest,
  type CachedPlan,
  type PlanCache,
  type PlanCacheLookupEvent,
} from '../src/cache/plan-cache.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { createTestContext, type TestContext } from './helpers/context.js';

interface Row { id: string; text: string; paraphrase_of?: string; near_miss_of?: string }
// bench/data/plan-requests.jsonl holds /work/shared/data/plan-requests.jsonl verbatim plus the extended set.
const rows = readFileSync(new URL('../bench/data/plan-requests.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as Row);
const text = (id: string) => rows.find((r) => r.id === id)!.text;

const agents = [
  { name: 'researcher', config: { model: 'gpt-4o-mini', temperature: 0.2 }, status: 'active' },
  { name: 'writer', config: { model: 'claude-haiku-4-5', temperature: 0.7 }, status: 'active' },
];
const planFor = (label: string): CachedPlan => ({
  tasks: [
    { id: 't1', description: `research ${label}`, agent: 'researcher', dependencies: [] },
    { id: 't2', description: `write ${label}`, agent: 'writer', dependencies: ['t1'] },
  ],
});

let ctx: TestContext;
let cache: PlanCache;
const events: PlanCacheLookupEvent[] = [];
const version = agentSetVersion(agents);
const newScope = () => ({ userId: randomUUID(), projectId: randomUUID(), agentSetVersion: version });

beforeAll(async () => {
  ctx = await createTestContext('cache-plan-cache');
  cache = createPlanCache({
    redis: ctx.deps.redis,
    prefix: ctx.config.QUEUE_PREFIX,
    embedder: createHashedEmbedder(),
    vectorStore: createPostgresVectorStore({ db: ctx.deps.db }),
    ttlS: 3600,
    onLookup: (e) => events.push(e),
  });
});
afterAll(() => ctx?.cleanup());

describe('plan cache', () => {
  it('serves an exact hit for the same request, whatever its case, spacing and punctuation', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r01'), plan: planFor('r01') });
    const hit = await cache.lookup({ ...scope, request: `  ${text('r01').toUpperCase().replace(/,/g, ' ;')}  ` });
    expect(hit).toMatchObject({ kind: 'exact', similarity: 1, plan: planFor('r01') });
    expect(events.at(-1)).toEqual({ outcome: 'exact', similarity: 1 });
  });

  it('keys entries by prefix, user, project, agent-set version and the hash of the normalised request, with the TTL', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: 'Plan  the launch!', plan: planFor('launch') });
    const keys = await ctx.deps.redis.keys(`${ctx.config.QUEUE_PREFIX}:plancache:${scope.userId}:${scope.projectId}:${version}:*`);
    expect(keys).toHaveLength(1);
    expect(normalizeRequest('Plan  the launch!')).toBe('plan the launch');
    expect(keys[0]).toMatch(/:[0-9a-f]{64}$/);
    const ttl = await ctx.deps.redis.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('serves a similar hit for a labelled paraphrase', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r06'), plan: planFor('r06') });
    const hit = await cache.lookup({ ...scope, request: text('r06p') });
    expect(hit?.kind).toBe('similar');
    expect(hit?.plan).toEqual(planFor('r06'));
    expect(hit!.similarity).toBeLessThan(1);
    expect(events.at(-1)).toEqual({ outcome: 'similar', similarity: hit!.similarity });
  });

  it('misses an unrelated request', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r04'), plan: planFor('r04') });
    expect(await cache.lookup({ ...scope, request: text('r13') })).toBeNull();
    expect(events.at(-1)).toEqual({ outcome: 'miss' });
  });

  it('never serves a labelled near miss the plan of the request it resembles', async () => {
    const nearMisses = rows.filter((r) => r.near_miss_of);
    expect(nearMisses.length).toBeGreaterThan(5);
    for (const r of nearMisses) {
      const scope = newScope();
      await cache.store({ ...scope, request: text(r.near_miss_of!), plan: planFor(r.near_miss_of!) });
      expect(await cache.lookup({ ...scope, request: r.text }), `${r.id} must not hit ${r.near_miss_of}`).toBeNull();
    }
  });

  it('treats an expired entry as a miss, for exact and similar lookups', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r14'), plan: planFor('r14') });
    expect((await cache.lookup({ ...scope, request: text('r14p') }))?.kind).toBe('similar');
    const [key] = await ctx.deps.redis.keys(`${ctx.config.QUEUE_PREFIX}:plancache:${scope.userId}:*`);
    await ctx.deps.redis.pexpire(key!, 1);
    const deadline = Date.now() + 5000;
    while ((await ctx.deps.redis.exists(key!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await ctx.deps.redis.exists(key!)).toBe(0);
    expect(await cache.lookup({ ...scope, request: text('r14') })).toBeNull();
    expect(await cache.lookup({ ...scope, request: text('r14p') })).toBeNull();
  });

  it('expires entries after ttlS seconds', async () => {
    const short = createPlanCache({
      redis: ctx.deps.redis, prefix: ctx.config.QUEUE_PREFIX, embedder: createHashedEmbedder(),
      vectorStore: createPostgresVectorStore({ db: ctx.deps.db }), ttlS: 1,
    });
    const scope = newScope();
    await short.store({ ...scope, request: text('r10'), plan: planFor('r10') });
    expect((await short.lookup({ ...scope, request: text('r10') }))?.kind).toBe('exact');
    const deadline = Date.now() + 10_000;
    let hit = await short.lookup({ ...scope, request: text('r10') });
    while (hit && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      hit = await short.lookup({ ...scope, request: text('r10') });
    }
    expect(hit).toBeNull();
  });

  it('misses after the agent set changes: edited, added or disabled agent', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r03'), plan: planFor('r03') });
    const edited = agents.map((a) => (a.name === 'writer' ? { ...a, config: { ...a.config, temperature: 0.1 } } : a));
    const added = [...agents, { name: 'critic', config: { model: 'gpt-4o' }, status: 'active' }];
    const disabled = agents.map((a) => (a.name === 'writer' ? { ...a, status: 'disabled' } : a));
    for (const set of [edited, added, disabled]) {
      const v = agentSetVersion(set);
      expect(v).not.toBe(version);
      expect(await cache.lookup({ ...scope, agentSetVersion: v, request: text('r03') })).toBeNull();
      expect(await cache.lookup({ ...scope, agentSetVersion: v, request: text('r03p') })).toBeNull();
    }
    expect(agentSetVersion([...agents].reverse())).toBe(version);
    expect(agentSetVersion([{ ...agents[0]!, config: { temperature: 0.2, model: 'gpt-4o-mini' } }, agents[1]!])).toBe(version);
  });

  it('never serves a plan across projects or users', async () => {
    const scope = newScope();
    await cache.store({ ...scope, request: text('r12'), plan: planFor('r12') });
    const otherProject = { ...scope, projectId: randomUUID() };
    const otherUser = { ...scope, userId: randomUUID() };
    for (const s of [otherProject, otherUser]) {
      expect(await cache.lookup({ ...s, request: text('r12') })).toBeNull();
      expect(await cache.lookup({ ...s, request: text('r12p') })).toBeNull();
    }
    expect((await cache.lookup({ ...scope, request: text('r12') }))?.kind).toBe('exact');
  });

  it('invalidates every cached plan of a project and nothing else', async () => {
    const scope = newScope();
    const neighbour = { ...scope, projectId: randomUUID() };
    await cache.store({ ...scope, request: text('r14'), plan: planFor('r14') });
    await cache.store({ ...scope, agentSetVersion: 'older', request: text('r15'), plan: planFor('r15') });
    await cache.store({ ...neighbour, request: text('r14'), plan: planFor('r14') });
    expect(await cache.invalidateProject(scope.userId, scope.projectId)).toBe(2);
    expect(await cache.lookup({ ...scope, request: text('r14') })).toBeNull();
    expect(await cache.lookup({ ...scope, request: text('r14p') })).toBeNull();
    expect((await cache.lookup({ ...neighbour, request: text('r14p') }))?.kind).toBe('similar');
  });
});
