import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventually, seedPlan, seedProject, seedUser, sql, waitForPlan } from './helpers/seed.js';
import { call, signToken } from './helpers/http.js';
import { freePort, spawnService, waitForHttp } from './helpers/processes.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import { createApp } from '../api/app.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { createPlanCache } from '../src/cache/plan-cache.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { ALL_QUEUES } from '../src/queues/catalog.js';

let ctx: TestContext;
let workers: WorkerSet;
let app: ReturnType<typeof createApp>;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

beforeAll(async () => {
  ctx = await createTestContext('ops-metrics', { TASK_BACKOFF_MS: '20', SIMULATED_LATENCY_MS: '5', RECONCILE_INTERVAL_MS: '60000' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  app = createApp(ctx.deps);
  const userId = await seedUser(ctx.deps.db, 'metrics-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 16, approval_timeout_s: 1 })) };
});
afterAll(async () => {
  await (app as { close?: () => Promise<void> })?.close?.();
  await workers?.close();
  await ctx?.cleanup();
});

type Samples = Map<string, number>;

/** Parses the text exposition into `name{a="x",b="y"}` (labels sorted) → value. */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}="${v}"`)
      .sort()
      .join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;
const val = (s: Samples, name: string, labels: Record<string, string> = {}) => s.get(key(name, labels)) ?? 0;
/** Sum over every series of `name` whose labels include `labels`. */
const sum = (s: Samples, name: string, labels: Record<string, string> = {}) => {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const [k, v] of s) {
    if (!k.startsWith(`${name}{`)) continue;
    if (want.every((w) => k.includes(w))) total += v;
  }
  return total;
};

async function scrape(): Promise<{ text: string; samples: Samples }> {
  await ctx.deps.metrics.settled();
  const res = await app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

describe('GET /metrics after a scripted plan ran', () => {
  it('moves task, plan, job, LLM and cost-ratio metrics by what the plan did, matching llm_calls', async () => {
    const before = (await scrape()).samples;
    const planId = await seedPlan(ctx.deps.db, owner, [
      { id: 'a', sim: { output_tokens: 120 } },
      { id: 'b', deps: ['a'], sim: { output_tokens: 80 } },
      { id: 'c', deps: ['a'], sim: { fail: 'transient', output_tokens: 50 } },
    ]);
    await ctx.deps.db.updateTable('task_plans').set({ total_estimated_cost: 0.001 }).where('id', '=', planId).execute();
    expect(await createPlanControl(ctx.deps).startExecution(planId)).toBe(true);
    expect(await waitForPlan(ctx.deps.db, planId)).toBe('completed');
    // The finalize job's own `completed` event follows the plan's commit: wait for it.
    await eventually(async () => val((await scrape()).samples, 'codelab_jobs_total', { queue: 'finalize', outcome: 'completed' }) >= 1, 10_000, 'finalize job counted');
    const { samples: after, text } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);

    expect(delta('codelab_tasks_total', { status: 'completed' })).toBe(3);
    expect(delta('codelab_tasks_total', { status: 'retrying' })).toBe(1);
    expect(delta('codelab_tasks_total', { status: 'running' })).toBe(4);
    expect(delta('codelab_tasks_total', { status: 'failed' })).toBe(0);
    expect(delta('codelab_plans_finished_total', { status: 'completed' })).toBe(1);
    expect(delta('codelab_task_duration_seconds_count')).toBe(3);
    expect(delta('codelab_jobs_total', { queue: 'agents', outcome: 'completed' })).toBe(3);
    expect(delta('codelab_jobs_total', { queue: 'agents', outcome: 'failed' })).toBe(1);
    expect(delta('codelab_job_duration_seconds_count', { queue: 'agents' })).toBe(4);

    // LLM metrics equal what the router wrote to llm_calls (every call of this schema, per provider and model).
    const rows = await ctx.deps.db
      .selectFrom('llm_calls')
      .select(['provider', 'model', sql<number>`count(*)::int`.as('n'), sql<number>`sum(cost)::float8`.as('cost'),
        sql<number>`sum(input_tokens)::int`.as('input'), sql<number>`sum(output_tokens)::int`.as('output')])
      .groupBy(['provider', 'model'])
      .execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.reduce((n, r) => n + r.n, 0)).toBe(5); // a, b, c twice, the manager's synthesis
    for (const r of rows) {
      const labels = { provider: r.provider, model: r.model };
      expect(delta('codelab_llm_calls_total', labels)).toBe(r.n);
      expect(delta('codelab_llm_tokens_total', { ...labels, direction: 'input' })).toBe(r.input);
      expect(delta('codelab_llm_tokens_total', { ...labels, direction: 'output' })).toBe(r.output);
      expect(delta('codelab_llm_cost_usd_total', labels)).toBeCloseTo(r.cost, 9);
    }
    expect(delta('codelab_llm_tokens_total', { direction: 'output' })).toBeGreaterThanOrEqual(120 + 80 + 50);

    const plan = await ctx.deps.db.selectFrom('task_plans').select('total_actual_cost').where('id', '=', planId).executeTakeFirstOrThrow();
    expect(plan.total_actual_cost).toBeGreaterThan(0);
    expect(delta('codelab_plan_cost_ratio_count')).toBe(1);
    expect(delta('codelab_plan_cost_ratio_sum')).toBeCloseTo(Number(plan.total_actual_cost) / 0.001, 6);

    // No id of any kind becomes a label value.
    expect(text).not.toContain(planId);
    expect(text).not.toContain(owner.userId);
  });

  it('reports every queue of the catalog by state, read at scrape time', async () => {
    await ctx.deps.queues.byName.maintenance.add('probe', {}, { delay: 60_000 });
    const { samples } = await scrape();
    for (const q of ALL_QUEUES) {
      expect(samples.has(key('codelab_queue_jobs', { queue: q, state: 'waiting' }))).toBe(true);
      expect(samples.has(key('codelab_queue_jobs', { queue: q, state: 'active' }))).toBe(true);
    }
    expect(val(samples, 'codelab_queue_jobs', { queue: 'maintenance', state: 'delayed' })).toBe(1);
  });

  it('counts approval outcomes with the time from pending_approval to the decision', async () => {
    const before = (await scrape()).samples;
    const control = createPlanControl(ctx.deps);
    const approved = await seedPlan(ctx.deps.db, owner, [{ id: 'x' }], { requiresApproval: true });
    const rejected = await seedPlan(ctx.deps.db, owner, [{ id: 'x' }], { requiresApproval: true });
    const expired = await seedPlan(ctx.deps.db, owner, [{ id: 'x' }], { requiresApproval: true });
    for (const id of [approved, rejected, expired]) await control.dispatch(id);
    expect(await control.approve(approved, owner.userId)).toBe(true);
    expect(await control.reject(rejected, owner.userId, 'no')).toBe(true);
    // approval_timeout_s is 1: the approvals worker expires the third.
    expect(await waitForPlan(ctx.deps.db, expired, { until: (s) => s === 'expired', timeoutMs: 15_000 })).toBe('expired');
    await waitForPlan(ctx.deps.db, approved);
    const after = (await scrape()).samples;
    const delta = (name: string, labels: Record<string, string>) => sum(after, name, labels) - sum(before, name, labels);
    for (const outcome of ['approved', 'rejected', 'expired']) {
      expect(delta('codelab_approvals_total', { outcome })).toBe(1);
      expect(delta('codelab_approval_decision_seconds_count', { outcome })).toBe(1);
    }
    expect(delta('codelab_plans_finished_total', { status: 'rejected' })).toBe(1);
    expect(delta('codelab_plans_finished_total', { status: 'expired' })).toBe(1);
    expect(delta('codelab_approval_decision_seconds_sum', { outcome: 'expired' })).toBeGreaterThan(0);
  });

  it('labels HTTP requests by route template, method and status', async () => {
    const token = await signToken();
    const missing = '3f1c1f52-7d5b-4c59-9a57-0a6f0f7b2f11';
    expect((await call(app, 'GET', `/v1/projects/${missing}`, { token })).status).toBe(404);
    expect((await call(app, 'GET', '/no/such/route')).status).toBe(404);
    await call(app, 'GET', '/health');
    const { samples, text } = await scrape();
    expect(val(samples, 'codelab_http_requests_total', { method: 'GET', route: '/v1/projects/:projectId', status: '404' })).toBe(1);
    expect(val(samples, 'codelab_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(val(samples, 'codelab_http_requests_total', { method: 'GET', route: '/health', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(val(samples, 'codelab_http_request_duration_seconds_count', { method: 'GET', route: '/health', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(missing);
    expect(text).not.toContain('/no/such/route');
  });

  it('counts plan-cache lookups through the cache onLookup hook', async () => {
    const cache = createPlanCache({
      redis: ctx.deps.redis, prefix: ctx.deps.prefix, embedder: createHashedEmbedder(),
      vectorStore: createPostgresVectorStore({ db: ctx.deps.db }), ttlS: 60,
      onLookup: ctx.deps.metrics.observeCacheLookup,
    });
    const scope = { userId: owner.userId, projectId: owner.projectId, agentSetVersion: 'v1', request: 'summarise the quarterly sales report' };
    const before = (await scrape()).samples;
    expect(await cache.lookup(scope)).toBeNull();
    await cache.store({ ...scope, plan: { tasks: [{ id: 't1', description: 'd', agent: 'researcher', dependencies: [] }] } });
    expect((await cache.lookup(scope))?.kind).toBe('exact');
    const after = (await scrape()).samples;
    expect(val(after, 'codelab_plan_cache_lookups_total', { outcome: 'miss' }) - val(before, 'codelab_plan_cache_lookups_total', { outcome: 'miss' })).toBe(1);
    expect(val(after, 'codelab_plan_cache_lookups_total', { outcome: 'exact' }) - val(before, 'codelab_plan_cache_lookups_total', { outcome: 'exact' })).toBe(1);
  });
});

describe('metrics registry', () => {
  it('is owned by each instance: two in one process do not share values', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.observeCacheLookup({ outcome: 'miss' });
    expect(parse((await a.scrape()).body).get('codelab_plan_cache_lookups_total{outcome="miss"}')).toBe(1);
    expect(parse((await b.scrape()).body).get('codelab_plan_cache_lookups_total{outcome="miss"}')).toBeUndefined();
  });

  it('tracks open SSE streams (counted and read at scrape time) and the delivery delay', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let live = 2;
    m.trackOpenStreams(() => live);
    const close = m.streamOpened();
    m.observeDelivery(12);
    m.observeDelivery(30);
    let s = parse((await m.scrape()).body);
    expect(s.get('codelab_sse_open_streams{}')).toBe(3);
    expect(s.get('codelab_event_delivery_delay_seconds_count{}')).toBe(2);
    expect(s.get('codelab_event_delivery_delay_seconds_sum{}')).toBeCloseTo(0.042, 6);
    close();
    close();
    live = 0;
    s = parse((await m.scrape()).body);
    expect(s.get('codelab_sse_open_streams{}')).toBe(0);
  });

  it('folds model names past the cap into "other" so configuration cannot grow series without bound', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const call = { provider: 'openai', purpose: 'task', outcome: 'ok', inputTokens: 1, outputTokens: 1, costUsd: 0, latencyMs: 1 };
    for (let i = 0; i < 150; i++) m.observeLlmCall({ ...call, model: `custom-model-${i}` });
    const s = parse((await m.scrape()).body);
    const models = new Set([...s.keys()].filter((k) => k.startsWith('codelab_llm_calls_total{')).map((k) => /model="([^"]*)"/.exec(k)![1]));
    expect(models.size).toBe(101);
    expect(s.get('codelab_llm_calls_total{model="other",outcome="ok",provider="openai",purpose="task"}')).toBe(50);
  });
});

describe('worker process metrics port', () => {
  it('serves Prometheus text on METRICS_PORT in a --workers process', async () => {
    const port = await freePort();
    const proc = spawnService({ ...ctx.env, METRICS_PORT: String(port), HOST: '127.0.0.1' }, ['--workers']);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/live`, proc);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('process_cpu_user_seconds_total');
      for (const q of ALL_QUEUES) expect(text).toContain(`codelab_queue_jobs{queue="${q}",state="waiting"}`);
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  });
});
