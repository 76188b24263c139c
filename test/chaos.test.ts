import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestContext, type TestContext } from './helpers/context.js';
import { signToken } from './helpers/http.js';
import { scriptedRequest } from './helpers/scripted.js';
import {
  ApiPool, Cluster, expectedOutcome, randomChaosPlan, redisLeftovers, sleep, type ChaosPlanSpec,
} from './helpers/chaos.js';

/**
 * Chaos: 2 API processes and 3 worker processes run N random scripted plans
 * while a random worker is SIGKILLed every few seconds (and replaced), one
 * API process is SIGKILLed and restarted, and Redis is wiped once (FLUSHDB).
 * Every plan must end as its script says, every completed result be stored
 * once, every event sequence be gap-free, and no job be left in Redis.
 *
 * `npm test` runs the short form (20 plans, about half a minute); `npm run
 * test:chaos` the full one (100; CHAOS_PLANS=n for another size). CHAOS_SEED
 * replays a run's plans (not its timing). CHAOS_LOG_DIR=<dir> leaves every
 * process's whole output there (TEST_LOG_LEVEL=info for the workers' logs).
 * This file uses its own Redis database index (4) because it wipes it.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/4';
const PLANS = Number(process.env.CHAOS_PLANS ?? 20); // the short form, as `npm test` runs it
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const USERS = 4;
const TERMINAL = ['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled'];

let ctx: TestContext;
let cluster: Cluster;
let pool: ApiPool;

beforeAll(async () => {
  ctx = await createTestContext('chaos', {
    REDIS_URL,
    TASK_LEASE_MS: '3000',
    RECONCILE_INTERVAL_MS: '1000',
    GATE_RECHECK_MS: '3000',
    RATE_LIMIT_PER_MINUTE: '0',
    USER_MAX_EXECUTING_PLANS: '0',
    USER_DAILY_BUDGET_USD: '0',
    USER_MAX_RUNNING_TASKS: '16',
    SIMULATED_LATENCY_MS: '20',
    TASK_BACKOFF_MS: '200',
    AGENT_WORKER_INSTANCES: '2',
    WORKER_CONCURRENCY: '4',
    SHUTDOWN_TIMEOUT_MS: '300',
  });
  const admin = new Redis(REDIS_URL);
  await admin.flushdb();
  await admin.quit();
  cluster = new Cluster({ ...ctx.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' });
  await Promise.all([cluster.startApi(), cluster.startApi(), cluster.startWorker(), cluster.startWorker(), cluster.startWorker()]);
  pool = new ApiPool(cluster);
}, 240_000);

afterAll(async () => {
  await cluster?.stopAll();
  await ctx?.cleanup();
}, 60_000);

interface Submitted {
  spec: ChaosPlanSpec;
  token: string;
  projectId: string;
  planId: string;
  decided?: number;
}

describe('chaos', () => {
  it(`runs ${PLANS} random plans through worker kills, an API restart and a Redis wipe, and every plan ends as its script says`, async () => {
    const db = ctx.deps.db;
    // each user has an auto-start project and one whose every plan needs approval
    const users = await Promise.all(
      Array.from({ length: USERS }, async (_, u) => {
        const token = await signToken({ sub: `chaos-user-${u}` });
        const project = async (threshold: number) => {
          const res = await pool.request(token, 'POST', '/v1/projects', {
            name: `chaos ${u} ${threshold}`,
            settings: { approval_threshold_usd: threshold, max_parallel_tasks: 8 },
          });
          expect(res.status, JSON.stringify(res.body)).toBe(201);
          return res.body.id as string;
        };
        return { token, auto: await project(1000), held: await project(0) };
      }),
    );

    const plans: Submitted[] = [];
    const chaos = { kills: 0, restarts: 0, flushes: 0, errors: [] as string[] };
    let submitting = true;
    let aborted = false;
    const terminal = new Map<string, string>();
    const allTerminal = () => aborted || (!submitting && terminal.size === plans.length);
    const chaosSteps: Promise<void>[] = [];

    const submit = async () => {
      try {
        await submitAll();
      } catch (err) {
        aborted = true;
        throw err;
      }
      submitting = false;
    };
    const submitAll = async () => {
      for (let k = 0; k < PLANS; k++) {
        const spec = randomChaosPlan(SEED, k);
        const user = users[k % USERS]!;
        const projectId = spec.decision === 'none' ? user.auto : user.held;
        const res = await pool.request(user.token, 'POST', `/v1/projects/${projectId}/chat`, {
          message: scriptedRequest(spec.tasks, `Chaos plan ${k} of seed ${SEED}`),
        });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        plans.push({ spec, token: user.token, projectId, planId: res.body.plan_id });
        if (k === Math.floor(PLANS / 2)) chaosSteps.push(flushOnce());
        if (k === Math.floor((PLANS * 3) / 4)) chaosSteps.push(restartApiOnce());
        await sleep(300);
      }
    };

    const flushOnce = async () => {
      const admin = new Redis(REDIS_URL);
      await admin.flushdb();
      await admin.quit();
      chaos.flushes++;
    };
    const restartApiOnce = async () => {
      await pool.restart(Math.floor(Math.random() * cluster.apis.length));
      chaos.restarts++;
    };

    // approves or rejects, through the API, every plan that waits for a decision
    const decide = async () => {
      while (!allTerminal()) {
        const waiting = plans.filter((p) => p.spec.decision !== 'none' && p.decided === undefined);
        if (waiting.length) {
          const rows = await db.selectFrom('task_plans').select(['id', 'status']).where('id', 'in', waiting.map((p) => p.planId)).execute();
          for (const row of rows.filter((r) => r.status === 'pending_approval')) {
            const p = waiting.find((w) => w.planId === row.id)!;
            const res = await pool.request(p.token, 'POST', `/v1/projects/${p.projectId}/plans/${p.planId}/${p.spec.decision}`, p.spec.decision === 'reject' ? { reason: 'chaos says no' } : undefined);
            p.decided = res.status;
            if (res.status !== 200) chaos.errors.push(`${p.spec.decision} ${p.planId}: ${res.status} ${JSON.stringify(res.body)}`);
          }
        }
        await sleep(200);
      }
    };

    // a random worker is SIGKILLed every 2–4 s and a replacement started at once (it joins when up; two stay up at least)
    const replacements: Promise<unknown>[] = [];
    const killer = async () => {
      while (!allTerminal()) {
        await sleep(2000 + Math.random() * 2000);
        if (allTerminal()) break;
        if (cluster.workers.length < 2) continue;
        await cluster.killWorker(Math.floor(Math.random() * cluster.workers.length));
        chaos.kills++;
        replacements.push(cluster.startWorker());
      }
      await Promise.all(replacements);
    };

    // polls the plans' statuses; until it has once seen a running plan's jobs, it also checks that the leftover scan sees them
    let scanSawJobs = 0;
    const scanRedis = new Redis(REDIS_URL);
    const poll = async () => {
      const deadline = Date.now() + 90_000 + PLANS * 3_000;
      while (!allTerminal()) {
        if (plans.length) {
          const rows = await db.selectFrom('task_plans').select(['id', 'status']).where('id', 'in', plans.map((p) => p.planId)).execute();
          for (const r of rows) if (TERMINAL.includes(r.status)) terminal.set(r.id, r.status);
          const executing = rows.filter((r) => r.status === 'executing').map((r) => r.id);
          if (!scanSawJobs && executing.length) scanSawJobs = (await redisLeftovers(scanRedis, ctx.config.QUEUE_PREFIX, executing)).length;
        }
        if (Date.now() > deadline) {
          // the stuck plans are reported below; the other loops stop too
          aborted = true;
          break;
        }
        await sleep(250);
      }
    };

    const t0 = Date.now();
    await Promise.all([submit(), decide(), killer(), poll()]);
    await Promise.all(chaosSteps);
    await scanRedis.quit();
    const runS = Math.round((Date.now() - t0) / 1000);

    // --- every plan is terminal, in the state its script implies ---
    const statuses = new Map(
      (await db.selectFrom('task_plans').select(['id', 'status']).where('id', 'in', plans.map((p) => p.planId)).execute()).map((r) => [r.id, r.status]),
    );
    const taskRows = await db
      .selectFrom('task_plan_tasks')
      .select(['plan_id', 'task_id', 'status', 'result', 'attempts', 'error'])
      .where('plan_id', 'in', plans.map((p) => p.planId))
      .execute();
    const events = await db
      .selectFrom('plan_events')
      .select(['plan_id', 'seq', 'type', 'task_id'])
      .where('plan_id', 'in', plans.map((p) => p.planId))
      .orderBy('plan_id')
      .orderBy('seq')
      .execute();
    const seqs = new Map((await db.selectFrom('task_plans').select(['id', 'event_seq']).where('id', 'in', plans.map((p) => p.planId)).execute()).map((r) => [r.id, r.event_seq]));

    const problems: string[] = [...chaos.errors];
    let tasks = 0;
    let lost = 0;
    for (const p of plans) {
      const want = expectedOutcome(p.spec);
      const got = statuses.get(p.planId);
      const rows = taskRows.filter((t) => t.plan_id === p.planId);
      const evs = events.filter((e) => e.plan_id === p.planId);
      const describePlan = () =>
        `plan ${p.planId} (#${p.spec.key}, seed ${SEED}): ${got}, expected ${want.status}; script ${JSON.stringify(p.spec.tasks.map((t) => [t.id, t.deps, t.sim?.fail]))}; ` +
        `tasks ${JSON.stringify(rows.map((t) => [t.task_id, t.status, t.attempts, ...(t.error ? [t.error] : [])]))}; events ${evs.map((e) => `${e.seq}:${e.type}${e.task_id ? `(${e.task_id})` : ''}`).join(' ')}`;
      if (!got || !TERMINAL.includes(got)) {
        lost++;
        // Known bug (reported): a planner job that BullMQ fails as "stalled more than allowable limit" (its worker was
        // SIGKILLed twice) leaves the plan in `planning`, and the reconciler does not re-plan it since the failed job exists.
        const planner = await ctx.deps.redis.hget(`${ctx.config.QUEUE_PREFIX}:planner:plan.${p.planId}`, 'failedReason');
        problems.push(`STUCK ${describePlan()}${planner ? `; planner job failed in BullMQ: ${planner}` : ''}`);
        continue;
      }
      if (got !== want.status) problems.push(`WRONG OUTCOME ${describePlan()}`);
      // every event sequence is gap-free from 1, and matches the plan's counter
      const gap = evs.findIndex((e, i) => Number(e.seq) !== i + 1);
      if (gap >= 0 || evs.length !== Number(seqs.get(p.planId))) problems.push(`EVENT GAP at index ${gap} (event_seq ${seqs.get(p.planId)}) ${describePlan()}`);
      if (p.spec.decision === 'reject') {
        if (evs.some((e) => e.type.startsWith('task.'))) problems.push(`REJECTED PLAN RAN ${describePlan()}`);
        continue;
      }
      for (const [taskId, outcome] of want.tasks) {
        tasks++;
        const row = rows.find((t) => t.task_id === taskId);
        const completedEvents = evs.filter((e) => e.type === 'task.completed' && e.task_id === taskId).length;
        if (row?.status !== outcome) {
          if (outcome === 'completed') lost++;
          problems.push(`TASK ${taskId} is ${row?.status}, expected ${outcome}: ${describePlan()}`);
        }
        if (outcome === 'completed' && (row?.result === null || row?.result === undefined)) problems.push(`NO RESULT for ${taskId}: ${describePlan()}`);
        if (completedEvents !== (outcome === 'completed' ? 1 : 0)) problems.push(`${completedEvents} task.completed events for ${taskId}: ${describePlan()}`);
      }
    }

    // --- no job of a finished plan is left in Redis (see redisLeftovers for the retention rule) ---
    const redis = new Redis(REDIS_URL);
    let leftovers: string[] = [];
    try {
      const finished = plans.filter((p) => TERMINAL.includes(statuses.get(p.planId) ?? '')).map((p) => p.planId);
      const deadline = Date.now() + 30_000;
      for (;;) {
        leftovers = await redisLeftovers(redis, ctx.config.QUEUE_PREFIX, finished);
        if (leftovers.length === 0 || Date.now() > deadline) break;
        await sleep(500);
      }
    } finally {
      await redis.quit();
    }
    const cleanS = Math.round((Date.now() - t0) / 1000) - runS;
    // Seen once (seed 494989295): a delayed approval timer of a decided plan, added after the decision (a re-arm racing the
    // approve/reject's disarm). Its timestamp against the decision tells which came last.
    const timers = await Promise.all(
      [...new Set(leftovers.map((k) => k.match(/approval\.([0-9a-f-]{36})/)?.[1]).filter((x): x is string => Boolean(x)))].map(async (id) => {
        const added = await ctx.deps.redis.hget(`${ctx.config.QUEUE_PREFIX}:approvals:approval.${id}`, 'timestamp');
        const row = await db.selectFrom('task_plans').select(['status', 'decided_at']).where('id', '=', id).executeTakeFirst();
        return `timer of ${id} added ${added ? new Date(Number(added)).toISOString() : '?'}, plan ${row?.status} decided ${row?.decided_at?.toISOString()}`;
      }),
    );
    if (timers.length) problems.push(`STALE APPROVAL TIMERS: ${timers.join('; ')}`);
    if (leftovers.length) problems.push(`REDIS LEFTOVERS of finished plans: ${leftovers.slice(0, 30).join(', ')}${leftovers.length > 30 ? ` … (${leftovers.length})` : ''}`);

    const outcomes = [...statuses.values()].reduce<Record<string, number>>((a, s) => ((a[s] = (a[s] ?? 0) + 1), a), {});
    console.log(
      `chaos seed=${SEED}: plans ${plans.length}, kills ${chaos.kills}, restarts ${chaos.restarts}, flushes ${chaos.flushes}, tasks ${tasks}, lost: ${lost}` +
        ` (outcomes ${JSON.stringify(outcomes)}, api requests ${pool.requests}, all terminal after ${runS} s, Redis clean ${cleanS} s later, problems ${problems.length})`,
    );
    if (problems.length) console.log(`${problems.slice(0, 20).join('\n')}\n\nprocess logs:\n${cluster.logs(3000)}`);
    // CHAOS_LOG_DIR=<dir>: every process's whole output is left there (TEST_LOG_LEVEL=info for the workers' logs)
    if (process.env.CHAOS_LOG_DIR) cluster.dumpLogs(process.env.CHAOS_LOG_DIR);

    expect(scanSawJobs, 'the leftover scan sees the jobs of an executing plan').toBeGreaterThan(0);
    expect(chaos.kills, 'at least one worker was killed while plans ran').toBeGreaterThan(0);
    expect([chaos.restarts, chaos.flushes]).toEqual([1, 1]);
    expect(plans).toHaveLength(PLANS);
    expect(problems, problems.slice(0, 5).join('\n\n')).toEqual([]);
    expect(lost).toBe(0);
  }, 1_800_000);
});
