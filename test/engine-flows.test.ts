import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventRows, seedPlan, seedProject, seedUser, taskRows, waitForPlan, type SeedTask } from './helpers/seed.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';

let ctx: TestContext;
let workers: WorkerSet;
let owner: { userId: string; projectId: string; agents: Map<string, string> };

beforeAll(async () => {
  ctx = await createTestContext('engine-flows', { USER_MAX_RUNNING_TASKS: '64', TASK_BACKOFF_MS: '50', SIMULATED_LATENCY_MS: '20', RECONCILE_INTERVAL_MS: '60000' });
  workers = createWorkers(ctx.deps, { reconcile: false });
  const userId = await seedUser(ctx.deps.db, 'engine-user');
  owner = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 64 })) };
});
afterAll(async () => {
  await workers?.close();
  await ctx?.cleanup();
});

async function run(tasks: SeedTask[]) {
  const planId = await seedPlan(ctx.deps.db, owner, tasks);
  expect(await workers.engine.startExecution(planId)).toBe(true);
  const status = await waitForPlan(ctx.deps.db, planId);
  return { planId, status, tasks: await taskRows(ctx.deps.db, planId), events: await eventRows(ctx.deps.db, planId) };
}

const byId = <T extends { task_id: string }>(rows: T[]) => new Map(rows.map((r) => [r.task_id, r]));

describe('execution engine on BullMQ flows', () => {
  it('runs a diamond: the join starts only after both branches completed', async () => {
    const r = await run([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }, { id: 'd', deps: ['b', 'c'] }]);
    expect(r.status).toBe('completed');
    const t = byId(r.tasks);
    expect([...t.values()].every((x) => x.status === 'completed' && x.attempts === 1)).toBe(true);
    expect(t.get('d')!.started_at!.getTime()).toBeGreaterThanOrEqual(Math.max(t.get('b')!.completed_at!.getTime(), t.get('c')!.completed_at!.getTime()));
    expect(t.get('b')!.started_at!.getTime()).toBeGreaterThanOrEqual(t.get('a')!.completed_at!.getTime());
    // the join's prompt received both branches' results (the simulated agent quotes them)
    expect((t.get('d')!.result as { text: string }).text).toMatch(/It used 2 results: b \(researcher\) "\[simulated researcher\] Completed task b.*; c \(researcher\) "\[simulated researcher\] Completed task c/);
    expect((t.get('a')!.result as { text: string }).text).toMatch(/received no results/);
  });

  it('gives the plan a gap-free event sequence from 1 with one task.started per task', async () => {
    const r = await run([{ id: 'x' }, { id: 'y', deps: ['x'] }]);
    expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => i + 1));
    const types = r.events.map((e) => `${e.type}${e.task_id ? `:${e.task_id}` : ''}`);
    expect(types[0]).toBe('plan.executing');
    expect(types.filter((t) => t.startsWith('task.started'))).toEqual(['task.started:x', 'task.started:y']);
    expect(types.at(-1)).toBe('plan.completed');
    expect(types.indexOf('task.queued:y')).toBeGreaterThan(types.indexOf('task.completed:x'));
  });

  it('skips the dependents of a failing task and completes the other branch: partial_success', async () => {
    const r = await run([
      { id: 'root' },
      { id: 'bad', deps: ['root'], sim: { fail: 'always' } },
      { id: 'after_bad', deps: ['bad'] },
      { id: 'after_after', deps: ['after_bad'] },
      { id: 'good', deps: ['root'] },
      { id: 'join', deps: ['good', 'after_bad'] },
    ]);
    expect(r.status).toBe('partial_success');
    const t = byId(r.tasks);
    expect(t.get('bad')!.status).toBe('failed');
    expect(t.get('after_bad')!.status).toBe('skipped');
    expect(t.get('after_after')!.status).toBe('skipped');
    expect(t.get('join')!.status).toBe('skipped');
    expect(t.get('good')!.status).toBe('completed');
    expect(t.get('after_bad')!.started_at).toBeNull();
    const skipped = r.events.filter((e) => e.type === 'task.skipped').map((e) => e.task_id).sort();
    expect(skipped).toEqual(['after_after', 'after_bad', 'join']);
  });

  it('retries a transient failure and then completes the task', async () => {
    const r = await run([{ id: 'flaky', sim: { fail: 'transient' } }]);
    expect(r.status).toBe('completed');
    expect(r.tasks[0]!.attempts).toBe(2);
    const failed = r.events.filter((e) => e.type === 'task.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.payload).toMatchObject({ will_retry: true, attempt: 1 });
    expect(r.events.filter((e) => e.type === 'task.started')).toHaveLength(2);
  });

  it('fails a plan in which no task completed', async () => {
    const r = await run([{ id: 'only', sim: { fail: 'always' } }, { id: 'next', deps: ['only'] }]);
    expect(r.status).toBe('failed');
    expect(byId(r.tasks).get('next')!.status).toBe('skipped');
  });

  it('writes the manager summary on the plan and as an assistant message of the session', async () => {
    const r = await run([{ id: 's1' }, { id: 's2' }]);
    const plan = await ctx.deps.db.selectFrom('task_plans').selectAll().where('id', '=', r.planId).executeTakeFirstOrThrow();
    expect(plan.summary).toBeTruthy();
    expect(plan.total_actual_cost).toBeGreaterThan(0);
    const msgs = await ctx.deps.db.selectFrom('chat_messages').selectAll().where('plan_id', '=', r.planId).execute();
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.role).toBe('assistant');
    expect(msgs[0]!.content).toBe(plan.summary);
    expect(r.events.at(-1)!.payload).toMatchObject({ summary: plan.summary });
  });

  it('runs a 20-wide fan-out with its branches overlapping in time', async () => {
    const tasks: SeedTask[] = [{ id: 'src' }];
    for (let i = 0; i < 20; i++) tasks.push({ id: `w${i}`, deps: ['src'], sim: { latency_ms: 100 } });
    tasks.push({ id: 'sink', deps: tasks.slice(1).map((t) => t.id) });
    const r = await run(tasks);
    expect(r.status).toBe('completed');
    const wide = r.tasks.filter((t) => t.task_id.startsWith('w'));
    const lastStart = Math.max(...wide.map((t) => t.started_at!.getTime()));
    const firstEnd = Math.min(...wide.map((t) => t.completed_at!.getTime()));
    // every branch started before any branch finished: they ran together
    expect(lastStart).toBeLessThan(firstEnd);
  });

  it('runs an agent\'s tool calls through the registry, records them as events, and refuses tools outside its allowlist', async () => {
    const tools = '```tools\n[{"name":"calculator","arguments":{"expression":"6*7"}},{"name":"http_fetch","arguments":{"url":"http://example.com"}}]\n```';
    const r = await run([{ id: 'calc', agent: 'analyst', description: `Compute the answer. ${tools}` }]);
    expect(r.status).toBe('completed');
    const calls = r.events.filter((e) => e.type === 'task.tool_call');
    expect(calls.map((c) => c.payload.tool)).toEqual(['calculator', 'http_fetch']);
    expect(calls[0]!.payload.output).toMatchObject({ result: 42 });
    expect(calls[1]!.payload.output).toMatchObject({ error: { code: "TOOL_NOT_ALLOWED" } });
    expect((r.tasks[0]!.result as { text: string; tool_calls: number }).tool_calls).toBe(2);
  });

  it('delivers a message an agent left for another agent into that agent\'s later task', async () => {
    const researcher = owner.agents.get('researcher')!;
    const row = await ctx.deps.db.selectFrom('user_agents').select('config').where('id', '=', researcher).executeTakeFirstOrThrow();
    await ctx.deps.db.updateTable('user_agents').set({ config: JSON.stringify({ ...row.config, tools: ['send_message'] }) }).where('id', '=', researcher).execute();
    try {
      const send = '```tools\n[{"name":"send_message","arguments":{"to_agent":"writer","text":"cite the 2024 survey"}}]\n```';
      const r = await run([
        { id: 'find', agent: 'researcher', description: `Find sources. ${send}` },
        { id: 'draft', agent: 'writer', deps: ['find'] },
      ]);
      expect(r.status).toBe('completed');
      const msg = r.events.find((e) => e.type === 'task.message');
      expect(msg?.payload).toMatchObject({ from_agent: 'researcher', to_agent: 'writer', text: 'cite the 2024 survey' });
      const { loadPlanForTasks } = await import('../db/repositories/execution-repository.js');
      const inputs = (await loadPlanForTasks(ctx.deps.db, r.planId, ['draft'])).inputs.get('draft')!;
      expect(inputs.inbox).toEqual([{ from: 'researcher', text: 'cite the 2024 survey' }]);
      const { buildAgentMessages } = await import('../src/core/agent-prompt.js');
      const prompt = buildAgentMessages({
        agent: { name: 'writer', role: 'w', systemPrompt: 's' }, task: { taskId: 'draft', description: 'd' }, request: 'r',
        dependencies: [], inbox: inputs.inbox, context: [], dependencyTokenBudget: 100,
      });
      expect(prompt[1]!.content).toContain('- from researcher: cite the 2024 survey');
    } finally {
      await ctx.deps.db.updateTable('user_agents').set({ config: JSON.stringify(row.config) }).where('id', '=', researcher).execute();
    }
  });

  it('stops a plan whose owner has spent the daily budget before the next model call', async () => {
    const userId = await seedUser(ctx.deps.db, 'spent-user');
    const spender = { userId, ...(await seedProject(ctx.deps.db, userId, { max_parallel_tasks: 64 })) };
    await ctx.deps.db
      .insertInto('llm_calls')
      .values({ user_id: userId, purpose: 'task', provider: 'simulated', model: 'gpt-4o', cost: ctx.config.USER_DAILY_BUDGET_USD + 1, latency_ms: 1, outcome: 'ok', input_tokens: 0, output_tokens: 0, attempt: 1 } as never)
      .execute();
    const planId = await seedPlan(ctx.deps.db, spender, [{ id: 'one' }, { id: 'two', deps: ['one'] }]);
    await workers.engine.startExecution(planId);
    expect(await waitForPlan(ctx.deps.db, planId)).toBe('failed');
    const t = byId(await taskRows(ctx.deps.db, planId));
    expect(t.get('one')!.status).toBe('failed');
    expect(t.get('one')!.error).toMatch(/daily budget exceeded/);
    expect(t.get('one')!.attempts).toBe(1);
    expect(t.get('two')!.status).toBe('skipped');
    const calls = await ctx.deps.db.selectFrom('llm_calls').select('id').where('plan_id', '=', planId).execute();
    expect(calls).toHaveLength(0);
  });

  it('cancels a running plan: running work is aborted, pending tasks are cancelled', async () => {
    const planId = await seedPlan(ctx.deps.db, owner, [
      { id: 'slow', sim: { latency_ms: 5000 } },
      { id: 'later', deps: ['slow'] },
    ]);
    await workers.engine.startExecution(planId);
    await waitForPlan(ctx.deps.db, planId, { until: () => true }); // started
    const { eventually } = await import('./helpers/seed.js');
    await eventually(async () => (await taskRows(ctx.deps.db, planId)).find((t) => t.task_id === 'slow' && t.status === 'running'), 10_000, 'slow running');
    expect(await workers.engine.cancel(planId)).toBe(true);
    expect(await workers.engine.cancel(planId)).toBe(false);
    const t = byId(await eventually(async () => {
      const rows = await taskRows(ctx.deps.db, planId);
      return rows.every((x) => x.status === 'cancelled') ? rows : undefined;
    }, 10_000, 'tasks cancelled'));
    expect(t.get('later')!.started_at).toBeNull();
    const plan = await ctx.deps.db.selectFrom('task_plans').select(['status']).where('id', '=', planId).executeTakeFirstOrThrow();
    expect(plan.status).toBe('cancelled');
    const events = await eventRows(ctx.deps.db, planId);
    expect(events.filter((e) => e.type === 'plan.cancelled')).toHaveLength(1);
    expect(events.some((e) => e.type === 'task.completed')).toBe(false);
  });
});
