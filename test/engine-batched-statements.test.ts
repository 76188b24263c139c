import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, seedPlan, seedProject, seedUser, taskRows } from './helpers/seed.js';
import {
  claimAndLoad, completeTasks, loadPlanForTasks, markQueuedIfReady, startPlan, type TaskOutput, type TaskRow,
} from '../db/repositories/execution-repository.js';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Claims through claimAndLoad, keeping only each claim's outcome. */
async function claimTasks(db: Kysely<Database>, planId: string, claims: Array<{ task: TaskRow; token: string; attempt: number }>, leaseMs: number) {
  const r = await claimAndLoad(db, planId, claims.map((c) => ({ taskId: c.task.taskId, claim: { token: c.token, attempt: c.attempt } })), leaseMs);
  return r.claims;
}

/**
 * The batched hot-path statements the agent workers group per plan: one
 * statement for many tasks must do exactly what one statement per task did
 * (guards, events, gap-free sequence), and tell the tasks' outcomes apart.
 */
let ctx: TestContext;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

beforeAll(async () => {
  ctx = await createTestContext('engine-batched');
  const userId = await seedUser(ctx.deps.db, 'batched-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId)) };
});
afterAll(async () => ctx?.cleanup());

const out = (text: string, costUsd = 0.001): TaskOutput => ({ text, costUsd, inputTokens: 10, outputTokens: 5, durationS: 0.1 });

async function executingFanOut(width: number) {
  const planId = await seedPlan(ctx.deps.db, owner, [
    { id: 'src' },
    ...Array.from({ length: width }, (_, i) => ({ id: `f${i}`, deps: ['src'] })),
  ]);
  expect((await startPlan(ctx.deps.db, planId)).ok).toBe(true);
  return planId;
}
const task = (tasks: TaskRow[], id: string) => tasks.find((t) => t.taskId === id)!;

describe('batched claim, load and completion statements', () => {
  it('load many tasks at once: each gets its own agent and only its dependencies’ results', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [
      { id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'], agent: 'coder' }, { id: 'd', deps: ['a', 'b'], agent: 'writer' },
    ]);
    await startPlan(ctx.deps.db, planId);
    let { tasks } = await loadPlanForTasks(ctx.deps.db, planId, []);
    const [ca, cb] = await claimTasks(ctx.deps.db, planId, [
      { task: task(tasks, 'a'), token: 'w:a', attempt: 1 },
      { task: task(tasks, 'b'), token: 'w:b', attempt: 1 },
    ], 30_000);
    expect(ca!.ok && cb!.ok).toBe(true);
    await completeTasks(ctx.deps.db, planId, [
      { task: task(tasks, 'a'), token: 'w:a', out: out('result of a') },
      { task: task(tasks, 'b'), token: 'w:b', out: out('result of b') },
    ]);
    const r = await loadPlanForTasks(ctx.deps.db, planId, ['c', 'd', 'nope']);
    tasks = r.tasks;
    expect(r.plan?.status).toBe('executing');
    expect(tasks.map((t) => t.taskId)).toEqual(['a', 'b', 'c', 'd']);
    expect(r.inputs.get('c')?.agent?.name).toBe('coder');
    expect([...r.inputs.get('c')!.results]).toEqual([['a', 'result of a']]);
    expect(r.inputs.get('d')?.agent?.name).toBe('writer');
    expect(new Map(r.inputs.get('d')!.results)).toEqual(new Map([['a', 'result of a'], ['b', 'result of b']]));
    expect(r.inputs.has('nope')).toBe(false);
  });

  it('claims a batch: every claim is told apart, a held task is refused, the sequence stays gap-free', async () => {
    const planId = await executingFanOut(6);
    const { tasks } = await loadPlanForTasks(ctx.deps.db, planId, []);
    // src is queued by startPlan; claim and complete it alone.
    const [src] = await claimTasks(ctx.deps.db, planId, [{ task: task(tasks, 'src'), token: 'w:src', attempt: 1 }], 30_000);
    expect(src!.events.map((e) => e.type)).toEqual(['task.started']);
    await completeTasks(ctx.deps.db, planId, [{ task: task(tasks, 'src'), token: 'w:src', out: out('s') }]);

    // f0 is already held by a live worker: its claim in the batch must fail, the others succeed.
    await claimTasks(ctx.deps.db, planId, [{ task: task(tasks, 'f0'), token: 'other:f0', attempt: 1 }], 30_000);
    const batch = ['f0', 'f1', 'f2', 'f3'].map((id) => ({ task: task(tasks, id), token: `w:${id}`, attempt: 1 }));
    const res = await claimTasks(ctx.deps.db, planId, batch, 30_000);
    expect(res.map((r) => r.ok)).toEqual([false, true, true, true]);
    for (const [i, r] of res.entries()) {
      if (!r.ok) continue;
      // straight from pending: queued then started, both for this task only
      expect(r.events.map((e) => [e.type, e.taskId])).toEqual([['task.queued', batch[i]!.task.taskId], ['task.started', batch[i]!.task.taskId]]);
      expect(r.events[1]!.data).toEqual({ agent_name: 'researcher', attempt: 1 });
    }
    const rows = new Map((await taskRows(ctx.deps.db, planId)).map((t) => [t.task_id, t]));
    expect(rows.get('f0')!.lease_token).toBe('other:f0');
    expect(rows.get('f2')!.lease_token).toBe('w:f2');

    // A batch naming one task twice: exactly one of the two wins it.
    const dup = await claimTasks(ctx.deps.db, planId, [
      { task: task(tasks, 'f4'), token: 'x:1', attempt: 1 },
      { task: task(tasks, 'f4'), token: 'x:2', attempt: 1 },
      { task: task(tasks, 'f5'), token: 'x:3', attempt: 1 },
    ], 30_000);
    expect(dup.map((r) => r.ok)).toEqual([true, false, true]);

    // Completions in one batch: the wrong token is refused, the plan's cost adds up.
    const done = await completeTasks(ctx.deps.db, planId, [
      { task: task(tasks, 'f1'), token: 'w:f1', out: out('one', 0.25) },
      { task: task(tasks, 'f2'), token: 'wrong', out: out('two', 0.5) },
      { task: task(tasks, 'f3'), token: 'w:f3', out: out('three', 0.125) },
    ]);
    expect(done.map((r) => r.ok)).toEqual([true, false, true]);
    expect(done[0]!.events).toMatchObject([{ type: 'task.completed', taskId: 'f1', data: { result: 'one', actual_cost: 0.25 } }]);
    const after = new Map((await taskRows(ctx.deps.db, planId)).map((t) => [t.task_id, t]));
    expect(after.get('f1')!.status).toBe('completed');
    expect(after.get('f2')!.status).toBe('running');
    expect((after.get('f3')!.result as { text: string }).text).toBe('three');
    const plan = await ctx.deps.db.selectFrom('task_plans').select(['total_actual_cost', 'event_seq']).where('id', '=', planId).executeTakeFirstOrThrow();
    expect(Number(plan.total_actual_cost)).toBeCloseTo(0.001 + 0.25 + 0.125, 6);

    const seqs = (await eventRows(ctx.deps.db, planId)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(plan.event_seq).toBe(seqs.length);
  });

  it('concurrent batches of one plan neither deadlock nor double-claim', async () => {
    const planId = await executingFanOut(40);
    const { tasks } = await loadPlanForTasks(ctx.deps.db, planId, []);
    await claimTasks(ctx.deps.db, planId, [{ task: task(tasks, 'src'), token: 'w:src', attempt: 1 }], 30_000);
    await completeTasks(ctx.deps.db, planId, [{ task: task(tasks, 'src'), token: 'w:src', out: out('s') }]);
    const ids = Array.from({ length: 40 }, (_, i) => `f${i}`);
    // Four "processes" each claim all 40 in a different order: every task is won exactly once.
    const orders = [ids, [...ids].reverse(), ids.filter((_, i) => i % 2).concat(ids.filter((_, i) => !(i % 2))), [...ids].sort()];
    const results = await Promise.all(
      orders.map((order, w) => claimTasks(ctx.deps.db, planId, order.map((id) => ({ task: task(tasks, id), token: `p${w}:${id}`, attempt: 1 })), 30_000)),
    );
    const winners = new Map<string, number>();
    results.forEach((res, w) => res.forEach((r, k) => r.ok && winners.set(orders[w]![k]!, (winners.get(orders[w]![k]!) ?? 0) + 1)));
    expect([...winners.keys()].sort()).toEqual([...ids].sort());
    expect([...winners.values()].every((n) => n === 1)).toBe(true);
    const seqs = (await eventRows(ctx.deps.db, planId)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it('claims only tasks whose dependencies all completed, and loads the state the refusal is decided from', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'a' }, { id: 'b' }, { id: 'j', deps: ['a', 'b'] }]);
    await startPlan(ctx.deps.db, planId);
    let { tasks } = await loadPlanForTasks(ctx.deps.db, planId, []);
    await claimTasks(ctx.deps.db, planId, [{ task: task(tasks, 'a'), token: 'w:a', attempt: 1 }], 30_000);
    await completeTasks(ctx.deps.db, planId, [{ task: task(tasks, 'a'), token: 'w:a', out: out('A') }]);

    // b is still open: j can be neither claimed nor marked queued.
    const early = await claimAndLoad(ctx.deps.db, planId, [{ taskId: 'j', claim: { token: 'w:j', attempt: 1 } }, { taskId: 'b' }], 30_000);
    expect(early.claims.map((c) => c.ok)).toEqual([false, false]);
    expect(early.loaded.tasks.find((t) => t.taskId === 'b')!.status).toBe('queued');
    expect([...early.loaded.inputs.get('j')!.results]).toEqual([['a', 'A']]);
    expect((await markQueuedIfReady(ctx.deps.db, planId, 'j')).ok).toBe(false);

    ({ tasks } = early.loaded);
    await claimTasks(ctx.deps.db, planId, [{ task: task(tasks, 'b'), token: 'w:b', attempt: 1 }], 30_000);
    await completeTasks(ctx.deps.db, planId, [{ task: task(tasks, 'b'), token: 'w:b', out: out('B') }]);
    const queued = await markQueuedIfReady(ctx.deps.db, planId, 'j');
    expect(queued.events).toMatchObject([{ type: 'task.queued', taskId: 'j', data: { agent_name: 'researcher', attempt: 1 } }]);
    expect((await markQueuedIfReady(ctx.deps.db, planId, 'j')).ok).toBe(false);

    const now = await claimAndLoad(ctx.deps.db, planId, [{ taskId: 'j', claim: { token: 'w:j', attempt: 1 } }], 30_000);
    expect(now.claims[0]!.events.map((e) => e.type)).toEqual(['task.started']);
    // the load shows the plan as it was before this statement's own claim
    expect(now.loaded.tasks.find((t) => t.taskId === 'j')!.status).toBe('queued');
    expect(new Map(now.loaded.inputs.get('j')!.results)).toEqual(new Map([['a', 'A'], ['b', 'B']]));
  });
});
