import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, seedPlan, seedProject, seedUser, taskRows, waitForPlan } from './helpers/seed.js';
import { randomDag } from './helpers/random-dag.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';

const PLANS = 200;
// Plans run a few at a time, with more worker slots than their total width,
// so that siblings can always overlap: the width allows it by construction.
const BATCH = 8;

let ctx: TestContext;
let workers: WorkerSet;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

beforeAll(async () => {
  ctx = await createTestContext('engine-property', {
    USER_MAX_RUNNING_TASKS: '1000',
    RECONCILE_INTERVAL_MS: '60000',
    AGENT_WORKER_INSTANCES: '8',
    WORKER_CONCURRENCY: '32',
  });
  workers = createWorkers(ctx.deps, { reconcile: false });
  const userId = await seedUser(ctx.deps.db, 'property-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 1000 })) };
});
afterAll(async () => {
  await workers?.close();
  await ctx?.cleanup();
});

describe(`${PLANS} random DAGs (chains, fan-outs, fan-ins, diamonds, layers, random)`, () => {
  it('start every task exactly once, only after all its dependencies completed, with siblings overlapping', async () => {
    let overlapChecked = 0;
    for (let b = 0; b < PLANS; b += BATCH) {
      const dags = Array.from({ length: BATCH }, (_, i) => ({ seed: 1000 + b + i, ...randomDag(1000 + b + i, 30, () => 60) }));
      const ids = await Promise.all(
        dags.map(async (d) => {
          const id = await seedPlan(ctx.deps.db, owner, d.tasks);
          await workers.engine.startExecution(id);
          return id;
        }),
      );
      await Promise.all(ids.map((id) => waitForPlan(ctx.deps.db, id, { timeoutMs: 120_000 })));

      for (const [i, planId] of ids.entries()) {
        const dag = dags[i]!;
        const where = `seed ${dag.seed} (${dag.shape}, ${dag.tasks.length} tasks)`;
        const rows = new Map((await taskRows(ctx.deps.db, planId)).map((r) => [r.task_id, r]));
        const events = await eventRows(ctx.deps.db, planId);
        expect(events.at(-1)!.type, where).toBe('plan.completed');
        expect(events.map((e) => e.seq), where).toEqual(events.map((_, k) => k + 1));
        for (const t of dag.tasks) {
          const row = rows.get(t.id)!;
          expect(row.status, where).toBe('completed');
          expect(events.filter((e) => e.type === 'task.started' && e.task_id === t.id), `${where} ${t.id}`).toHaveLength(1);
          for (const d of t.deps ?? []) {
            expect(row.started_at!.getTime(), `${where}: ${t.id} started before ${d} completed`).toBeGreaterThanOrEqual(rows.get(d)!.completed_at!.getTime());
          }
        }
        // Siblings (tasks with identical dependencies) ran at the same time:
        // at some instant at least two of them were running (the worker slots
        // exceed the batch's total width, so the width always allows it).
        const groups = new Map<string, string[]>();
        for (const t of dag.tasks) groups.set(JSON.stringify(t.deps ?? []), [...(groups.get(JSON.stringify(t.deps ?? [])) ?? []), t.id]);
        for (const g of groups.values()) {
          if (g.length < 2) continue;
          const runs = g.map((id) => rows.get(id)!);
          const edges = runs.flatMap((x) => [
            { t: x.started_at!.getTime(), d: 1 },
            { t: x.completed_at!.getTime(), d: -1 },
          ]).sort((p, q) => p.t - q.t || p.d - q.d);
          let running = 0;
          let peak = 0;
          for (const e of edges) peak = Math.max(peak, (running += e.d));
          expect(peak, `${where}: siblings ${g.join(',')} never ran at the same time`).toBeGreaterThanOrEqual(2);
          overlapChecked++;
        }
      }
    }
    expect(overlapChecked).toBeGreaterThan(20);
  }, 600_000);
});
