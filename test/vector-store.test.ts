import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VectorFilter, VectorStore } from '../src/core/vector-store.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { createQdrantVectorStore } from '../src/vector/qdrant-vector-store.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { startFakeQdrant, type FakeQdrant } from './helpers/fake-qdrant.js';

const DIMS = 8;
/** A unit basis vector mixed with a little of another, so scores are known exactly. */
const vec = (main: number, other = -1, mix = 0): number[] => {
  const v = Array.from({ length: DIMS }, (_, i) => (i === main ? 1 : i === other ? mix : 0));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

/**
 * One behaviour suite, run against every VectorStore implementation.
 * `inspect` gives implementation-specific checks of collection creation.
 */
function vectorStoreSpec(
  name: string,
  setup: () => Promise<{ store: VectorStore; afterEnsure: (collection: string) => Promise<void> }>,
) {
  describe(`${name} vector store`, () => {
    let store: VectorStore;
    let afterEnsure: (collection: string) => Promise<void>;
    const col = `c_${randomUUID().slice(0, 8)}`;
    const alice = { user_id: randomUUID(), project_id: randomUUID() };
    const aliceOther = { user_id: alice.user_id, project_id: randomUUID() };
    const bob = { user_id: randomUUID(), project_id: alice.project_id };

    beforeAll(async () => {
      ({ store, afterEnsure } = await setup());
      await store.ensureCollection(col, DIMS);
    });

    it('creates a collection once and accepts ensureCollection again', async () => {
      await store.ensureCollection(col, DIMS);
      await afterEnsure(col);
    });

    it('returns the nearest points best first with their cosine scores and payloads', async () => {
      const scope = { user_id: randomUUID(), project_id: randomUUID() };
      await store.upsert(col, [
        { id: 'near', vector: vec(0, 1, 0.2), payload: { ...scope, kind: 'doc', title: 'near' } },
        { id: 'exact', vector: vec(0), payload: { ...scope, kind: 'doc', title: 'exact' } },
        { id: 'far', vector: vec(3), payload: { ...scope, kind: 'doc', title: 'far' } },
      ]);
      const hits = await store.search(col, vec(0), { filter: scope, limit: 2 });
      expect(hits.map((h) => h.id)).toEqual(['exact', 'near']);
      expect(hits[0]!.score).toBeCloseTo(1, 5);
      expect(hits[1]!.score).toBeCloseTo(1 / Math.hypot(1, 0.2), 5);
      expect(hits[0]!.payload).toMatchObject({ ...scope, kind: 'doc', title: 'exact' });
    });

    it('never returns another project’s or another user’s points, even closer ones', async () => {
      await store.upsert(col, [
        { id: 'alice-1', vector: vec(2, 3, 0.5), payload: { ...alice, kind: 'doc' } },
        { id: 'alice-other-project', vector: vec(2), payload: { ...aliceOther, kind: 'doc' } },
        { id: 'bob-same-project-id', vector: vec(2), payload: { ...bob, kind: 'doc' } },
      ]);
      const hits = await store.search(col, vec(2), { filter: alice, limit: 10 });
      expect(hits.map((h) => h.id)).toEqual(['alice-1']);
      expect((await store.search(col, vec(2), { filter: bob, limit: 10 })).map((h) => h.id)).toEqual(['bob-same-project-id']);
    });

    it('filters by kind when asked', async () => {
      const scope = { user_id: randomUUID(), project_id: randomUUID() };
      await store.upsert(col, [
        { id: 'k-doc', vector: vec(4), payload: { ...scope, kind: 'doc' } },
        { id: 'k-plan', vector: vec(4), payload: { ...scope, kind: 'plan_request' } },
      ]);
      expect((await store.search(col, vec(4), { filter: { ...scope, kind: 'plan_request' }, limit: 10 })).map((h) => h.id)).toEqual(['k-plan']);
      expect((await store.search(col, vec(4), { filter: scope, limit: 10 })).map((h) => h.id).sort()).toEqual(['k-doc', 'k-plan']);
    });

    it('drops points below minScore', async () => {
      const scope = { user_id: randomUUID(), project_id: randomUUID() };
      await store.upsert(col, [
        { id: 'm-close', vector: vec(5, 6, 0.1), payload: { ...scope, kind: 'doc' } },
        { id: 'm-mid', vector: vec(5, 6, 1), payload: { ...scope, kind: 'doc' } },
      ]);
      const hits = await store.search(col, vec(5), { filter: scope, limit: 10, minScore: 0.9 });
      expect(hits.map((h) => h.id)).toEqual(['m-close']);
    });

    it('replaces a point upserted again under the same id', async () => {
      const scope = { user_id: randomUUID(), project_id: randomUUID() };
      await store.upsert(col, [{ id: 'same', vector: vec(1), payload: { ...scope, kind: 'doc', v: 1 } }]);
      await store.upsert(col, [{ id: 'same', vector: vec(7), payload: { ...scope, kind: 'doc', v: 2 } }]);
      const hits = await store.search(col, vec(7), { filter: scope, limit: 10 });
      expect(hits).toHaveLength(1);
      expect(hits[0]).toMatchObject({ id: 'same', payload: { v: 2 } });
      expect(hits[0]!.score).toBeCloseTo(1, 5);
    });

    it('deletes by filter only the matching project’s points (and only the kind named)', async () => {
      const scope = { user_id: randomUUID(), project_id: randomUUID() };
      const neighbour = { user_id: scope.user_id, project_id: randomUUID() };
      await store.upsert(col, [
        { id: 'd-1', vector: vec(0), payload: { ...scope, kind: 'doc' } },
        { id: 'd-2', vector: vec(1), payload: { ...scope, kind: 'note' } },
        { id: 'd-3', vector: vec(0), payload: { ...neighbour, kind: 'doc' } },
      ]);
      await store.deleteByFilter(col, { ...scope, kind: 'doc' });
      expect((await store.search(col, vec(0), { filter: scope, limit: 10 })).map((h) => h.id)).toEqual(['d-2']);
      await store.deleteByFilter(col, scope);
      expect(await store.search(col, vec(0), { filter: scope, limit: 10 })).toEqual([]);
      expect((await store.search(col, vec(0), { filter: neighbour, limit: 10 })).map((h) => h.id)).toEqual(['d-3']);
    });

    it('refuses a search or delete without both user_id and project_id', async () => {
      const noProject = { user_id: alice.user_id } as unknown as VectorFilter;
      await expect(store.search(col, vec(0), { filter: noProject, limit: 1 })).rejects.toThrow(/user_id and project_id/);
      await expect(store.deleteByFilter(col, { project_id: alice.project_id } as unknown as VectorFilter)).rejects.toThrow(/user_id and project_id/);
      expect((await store.search(col, vec(2), { filter: alice, limit: 10 })).map((h) => h.id)).toEqual(['alice-1']);
    });
  });
}

let ctx: TestContext;
let qdrant: FakeQdrant;
beforeAll(async () => {
  ctx = await createTestContext('vector-store');
  qdrant = await startFakeQdrant();
});
afterAll(async () => {
  await qdrant?.close();
  await ctx?.cleanup();
});

vectorStoreSpec('PostgreSQL', async () => ({
  store: createPostgresVectorStore({ db: ctx.deps.db }),
  afterEnsure: async (collection) => {
    const rows = await ctx.deps.db.selectFrom('vector_collections').selectAll().where('name', '=', collection).execute();
    expect(rows).toMatchObject([{ name: collection, dims: DIMS }]);
    await expect(createPostgresVectorStore({ db: ctx.deps.db }).ensureCollection(collection, DIMS * 2)).rejects.toThrow(/8 dimensions/);
  },
}));

vectorStoreSpec('Qdrant', async () => ({
  store: createQdrantVectorStore({ url: qdrant.url, checkCompatibility: false }),
  afterEnsure: async (collection) => {
    const c = qdrant.collections.get(collection);
    expect(c).toMatchObject({ size: DIMS, distance: 'Cosine', indexes: { user_id: 'keyword', project_id: 'keyword' } });
    const creates = qdrant.requests.filter((r) => r.method === 'PUT' && r.path === `/collections/${collection}`);
    expect(creates).toHaveLength(1);
  },
}));

describe('PostgreSQL vector store at scale', () => {
  it('keeps the project filter when the sketch stage preselects fewer candidates than there are points', async () => {
    const store = createPostgresVectorStore({ db: ctx.deps.db, candidates: 4 });
    await store.ensureCollection('scale', DIMS);
    const mine = { user_id: randomUUID(), project_id: randomUUID() };
    const theirs = { user_id: randomUUID(), project_id: randomUUID() };
    const points = Array.from({ length: 60 }, (_, i) => ({
      id: `p${i}`,
      vector: vec(i % DIMS, (i + 1) % DIMS, (i % 7) / 10),
      payload: { ...(i % 2 ? mine : theirs), kind: 'doc' },
    }));
    await store.upsert('scale', points);
    const hits = await store.search('scale', vec(3), { filter: mine, limit: 3 });
    expect(hits).toHaveLength(3);
    for (const h of hits) expect(h.payload.project_id).toBe(mine.project_id);
    expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[1]!.score);
  });
});
