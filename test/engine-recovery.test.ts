import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, eventually, seedPlan, seedProject, seedUser, taskRows, waitForPlan, type SeedTask } from './helpers/seed.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from './helpers/processes.js';
import { createPlanControl, type PlanControl } from '../src/engine/plan-control.js';
import { createWorkers } from '../workers/index.js';

/**
 * Crash safety with real processes. This file uses its own Redis database
 * index (5) because it wipes it (FLUSHDB) in the middle of a run.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/5';

let ctx: TestContext;
let control: PlanControl;
let owner: { userId: string; projectId: string; agents: Map<string, string> };
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  ctx = await createTestContext('engine-recovery', {
    REDIS_URL,
    TASK_LEASE_MS: '2000',
    USER_MAX_RUNNING_TASKS: '100',
    RECONCILE_INTERVAL_MS: '1000',
    SHUTDOWN_TIMEOUT_MS: '300',
    AGENT_WORKER_INSTANCES: '2',
    WORKER_CONCURRENCY: '4',
  });
  control = createPlanControl(ctx.deps);
  const userId = await seedUser(ctx.deps.db, 'recovery-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 100 })) };
});
/** A worker process, started and answering on its metrics port (it is up and connected). */
async function startWorker(extra: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const proc = spawnService({ ...ctx.env, METRICS_PORT: String(port), ...extra }, ['--workers']);
  procs.push(proc);
  await waitForHttp(`http://127.0.0.1:${port}/health/live`, proc, 180_000);
  return proc;
}

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await ctx?.cleanup();
});

const completedOnce = async (planId: string) => {
  const events = await eventRows(ctx.deps.db, planId);
  const done = events.filter((e) => e.type === 'task.completed').map((e) => e.task_id);
  return { events, done };
};

function layered(width: number, depth: number, latency: number): SeedTask[] {
  const tasks: SeedTask[] = [];
  for (let l = 0; l < depth; l++)
    for (let w = 0; w < width; w++)
      tasks.push({ id: `l${l}w${w}`, deps: l === 0 ? [] : [`l${l - 1}w${w}`, `l${l - 1}w${(w + 1) % width}`], sim: { latency_ms: latency } });
  return tasks;
}

describe('crash safety and recovery', () => {
  it('completes a plan on three worker processes when one is SIGKILLed mid-task, each task completed once', async () => {
    const workers = await Promise.all([0, 1, 2].map(() => startWorker()));
    const tasks = layered(4, 3, 700);
    const planId = await seedPlan(ctx.deps.db, owner, tasks);
    expect(await control.startExecution(planId)).toBe(true);
    // Kill the process that holds a running task of the plan (its pid is in the lease).
    const holder = await eventually(async () => {
      const running = (await taskRows(ctx.deps.db, planId)).find((t) => t.status === 'running' && t.lease_token);
      const pid = running ? Number(running.lease_token!.split(':')[1]) : NaN;
      return workers.find((w) => w.child.pid === pid);
    }, 120_000, 'a task running in a spawned worker');
    await holder.kill();

    const status = await waitForPlan(ctx.deps.db, planId, { timeoutMs: 90_000 });
    expect(status, workers.map((w) => w.output()).join('\n')).toBe('completed');
    const { done } = await completedOnce(planId);
    expect(done.sort()).toEqual(tasks.map((t) => t.id).sort());
    const rows = await taskRows(ctx.deps.db, planId);
    expect(rows.every((r) => r.status === 'completed')).toBe(true);
    // the killed process's task was taken over: some task needed a second claim
    expect(rows.some((r) => r.attempts >= 2)).toBe(true);
    // the plan's tasks were spread over the processes
    const ranOn = new Set(rows.map((r) => (r.result as { worker?: string }).worker));
    expect(ranOn.size).toBeGreaterThanOrEqual(2);
    await Promise.all(workers.map((w) => w.stop()));
  }, 300_000);

  it('hands a running task back on SIGTERM so another process finishes it without waiting for the lease', async () => {
    // Both workers are up first; whichever takes the task is stopped.
    const pair = await Promise.all([startWorker({ TASK_LEASE_MS: '120000' }), startWorker({ TASK_LEASE_MS: '120000' })]);
    const planId = await seedPlan(ctx.deps.db, owner, [{ id: 'long', sim: { latency_ms: 5000 } }]);
    await control.startExecution(planId);
    const holder = await eventually(async () => {
      const t = (await taskRows(ctx.deps.db, planId))[0]!;
      const pid = t.status === 'running' && t.lease_token ? Number(t.lease_token.split(':')[1]) : NaN;
      return pair.find((w) => w.child.pid === pid);
    }, 120_000, 'the task running in one of the workers');
    const other = pair.find((w) => w !== holder)!;
    expect(await holder.stop()).toBe(0);
    // With a 120 s lease, only the hand-back lets the other worker take the task before the deadline.
    expect(await waitForPlan(ctx.deps.db, planId, { timeoutMs: 60_000 })).toBe('completed');
    const { events, done } = await completedOnce(planId);
    expect(done).toEqual(['long']);
    expect(events.filter((e) => e.type === 'task.started')).toHaveLength(2);
    const row = (await taskRows(ctx.deps.db, planId))[0]!;
    expect((row.result as { worker?: string }).worker).toMatch(new RegExp(`:${other.child.pid}$`));
    await other.stop();
  }, 300_000);

  it('rebuilds the queue state from PostgreSQL after Redis loses everything, and the plan completes', async () => {
    const workers = createWorkers(ctx.deps, {});
    try {
      const tasks: SeedTask[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i, all) => ({ id, deps: i ? [all[i - 1]!] : [], sim: { latency_ms: 400 } }));
      tasks.push({ id: 'side', deps: ['a'], sim: { latency_ms: 400 } });
      const planId = await seedPlan(ctx.deps.db, owner, tasks);
      await control.startExecution(planId);
      await eventually(async () => (await taskRows(ctx.deps.db, planId)).filter((t) => t.status === 'completed').length >= 2, 30_000, 'two tasks done');
      const admin = new Redis(REDIS_URL);
      await admin.flushdb();
      await admin.quit();
      expect(await waitForPlan(ctx.deps.db, planId, { timeoutMs: 60_000 })).toBe('completed');
      const { done } = await completedOnce(planId);
      expect(done.sort()).toEqual(tasks.map((t) => t.id).sort());
    } finally {
      await workers.close();
    }
  }, 120_000);

  it('is fair: user B’s one-task plan starts before user A’s 40-wide plan is half done', async () => {
    const workers = createWorkers(ctx.deps, { reconcile: false });
    try {
      const a = await seedUser(ctx.deps.db, 'fair-a');
      const b = await seedUser(ctx.deps.db, 'fair-b');
      // A's project may run 4 tasks at once; the process has 8 slots (2 instances × 4).
      const ownerA = { userId: a, ...(await seedProject(ctx.deps.db, a, { max_parallel_tasks: 4 })) };
      const ownerB = { userId: b, ...(await seedProject(ctx.deps.db, b)) };
      const wide = Array.from({ length: 40 }, (_, i) => ({ id: `w${i}`, sim: { latency_ms: 300 } }));
      const planA = await seedPlan(ctx.deps.db, ownerA, wide);
      const planB = await seedPlan(ctx.deps.db, ownerB, [{ id: 'solo', sim: { latency_ms: 50 } }]);
      await control.startExecution(planA);
      await control.startExecution(planB);
      await waitForPlan(ctx.deps.db, planB, { timeoutMs: 60_000 });
      await waitForPlan(ctx.deps.db, planA, { timeoutMs: 120_000 });
      const bStart = (await taskRows(ctx.deps.db, planB))[0]!.started_at!.getTime();
      const aEnds = (await taskRows(ctx.deps.db, planA)).map((t) => t.completed_at!.getTime()).sort((x, y) => x - y);
      expect(bStart).toBeLessThan(aEnds[19]!);
    } finally {
      await workers.close();
    }
  }, 180_000);
});

describe('the reconciler', () => {
  it('re-plans a planning plan whose planner job BullMQ failed, and rebuilds an executing plan whose finaliser failed', async () => {
    const { createReconciler } = await import('../src/engine/reconciler.js');
    const { createEngine } = await import('../src/engine/engine.js');
    const { jobId, QUEUE } = await import('../src/queues/catalog.js');
    const { Worker } = await import('bullmq');
    const engine = createEngine(ctx.deps);
    try {
      // A planning plan whose planner job sits in the failed set (as after too many stalls).
      const planning = await seedPlan(ctx.deps.db, owner, [{ id: 'x' }]);
      await ctx.deps.db.updateTable('task_plans').set({ status: 'planning', created_at: new Date(Date.now() - 60_000) }).where('id', '=', planning).execute();
      const plannerQ = ctx.deps.queues.byName[QUEUE.planner];
      await plannerQ.add('plan', { planId: planning }, { jobId: jobId.planner(planning), attempts: 1 });
      const failing = new Worker(QUEUE.planner, async () => { throw new Error('job stalled more than allowable limit'); }, { connection: ctx.deps.redis, prefix: ctx.deps.prefix });
      await eventually(async () => (await plannerQ.getJobState(jobId.planner(planning))) === 'failed', 20_000, 'planner job failed');
      await failing.close();

      // An executing plan whose finaliser failed.
      const executing = await seedPlan(ctx.deps.db, owner, [{ id: 'y', sim: { latency_ms: 1 } }]);
      await ctx.deps.db.updateTable('task_plans').set({ status: 'executing', started_at: new Date(Date.now() - 60_000) }).where('id', '=', executing).execute();
      const finalQ = ctx.deps.queues.byName[QUEUE.finalize];
      await finalQ.add('finalize', { planId: executing }, { jobId: jobId.finalize(executing), attempts: 1 });
      const failingFinal = new Worker(QUEUE.finalize, async () => { throw new Error('stalled'); }, { connection: ctx.deps.redis, prefix: ctx.deps.prefix });
      await eventually(async () => (await finalQ.getJobState(jobId.finalize(executing))) === 'failed', 20_000, 'finaliser failed');
      await failingFinal.close();

      const reconciler = createReconciler(ctx.deps, engine, { graceMs: 1000, dispatch: (id) => engine.dispatch(id) });
      const report = await eventually(() => reconciler.reconcileOnce(), 20_000, 'the reconcile lock');
      expect(report.replanned).toContain(planning);
      expect(report.rebuilt).toContain(executing);
      expect(await plannerQ.getJobState(jobId.planner(planning))).toBe('waiting');
      expect(['waiting', 'waiting-children']).toContain(await finalQ.getJobState(jobId.finalize(executing)));
    } finally {
      await engine.close();
    }
  }, 120_000);
});
