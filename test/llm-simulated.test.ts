import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import type { ChatRequest } from '../src/core/llm.js';
import { isRetryableLlmError } from '../src/llm/errors.js';
import { costOf, DEFAULT_PRICES } from '../src/llm/prices.js';
import { createLlmRouter } from '../src/llm/router.js';
import { createSimulatedProvider } from '../src/llm/simulated-provider.js';
import { MAX_SIM_TASKS, simulatedPlan } from '../src/llm/simulated-plan.js';
import { countMessagesTokens } from '../src/llm/tokens.js';
import { parsePlanText } from '../src/core/plan/parse.js';
import { validatePlan } from '../src/core/plan/validate.js';
import { createTestContext, type TestContext } from './helpers/context.js';

const sim = createSimulatedProvider({ latencyMs: 5 });

const AGENTS = [
  { name: 'researcher', role: 'researcher', capabilities: ['research', 'web'] },
  { name: 'coder', role: 'coder', capabilities: ['code'] },
  { name: 'writer', role: 'writer', capabilities: ['writing'] },
  { name: 'reviewer', role: 'reviewer', capabilities: ['review'] },
  { name: 'analyst', role: 'analyst', capabilities: ['analysis'] },
];

function taskReq(over: Partial<ChatRequest> = {}): ChatRequest {
  return {
    provider: 'simulated',
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are the writer.' },
      { role: 'user', content: 'Write a short report on vector databases.' },
    ],
    meta: { purpose: 'task', taskId: 't2', agentName: 'writer', attempt: 1 },
    ...over,
  };
}

function planReq(request: string, agents = AGENTS): ChatRequest {
  return {
    provider: 'simulated',
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are the planner.' },
      { role: 'user', content: request },
    ],
    simContext: { request, agents },
    meta: { purpose: 'plan' },
  };
}

/** What the planner will check: unique ids, known agents, existing dependencies, no cycle. */
function assertValidPlan(plan: { tasks: Array<{ id: string; agent: string; dependencies: string[] }> }, agents = AGENTS) {
  const ids = plan.tasks.map((t) => t.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(plan.tasks.length).toBeGreaterThan(0);
  expect(plan.tasks.length).toBeLessThanOrEqual(MAX_SIM_TASKS);
  const seen = new Set<string>();
  for (const t of plan.tasks) {
    expect(agents.map((a) => a.name)).toContain(t.agent);
    // Every dependency is an earlier task: it exists and no cycle is possible.
    for (const d of t.dependencies) expect(seen.has(d)).toBe(true);
    seen.add(t.id);
  }
}

describe('simulated provider: planning', () => {
  it('returns a ```plan block verbatim, even when it is not a valid plan', async () => {
    const scripted = '{"tasks":[{"id":"t1","description":"x","agent":"ghost","dependencies":["t9"]}]}';
    const res = await sim.chat(planReq(`Do it.\n\`\`\`plan\n${scripted}\n\`\`\`\n`));
    expect(res.text).toBe(scripted);
    expect(res.provider).toBe('simulated');
    expect(res.toolCalls).toEqual([]);
  });

  it('scripts a repair conversation with several ```plan blocks, one per round', async () => {
    const request = 'Go.\n```plan\n{"tasks":"bad"}\n```\n```plan\n{"tasks":[]}\n```';
    const first = await sim.chat(planReq(request));
    expect(first.text).toBe('{"tasks":"bad"}');
    const repair = planReq(request);
    repair.messages = [...repair.messages, { role: 'assistant', content: first.text }, { role: 'user', content: 'Fix it.' }];
    expect((await sim.chat(repair)).text).toBe('{"tasks":[]}');
  });

  it('returns broken JSON in a ```plan block unchanged (the planner validates)', async () => {
    const res = await sim.chat(planReq('```plan\n{"tasks": [ oops\n```'));
    expect(res.text).toBe('{"tasks": [ oops');
  });

  it('plans a multi-step request with a fan-in and a chain, using the right agents', async () => {
    const res = await sim.chat(planReq('Research the top 3 vector databases, compare their pricing and write a short report, then review it for risks.'));
    const plan = JSON.parse(res.text);
    assertValidPlan(plan);
    expect(plan.tasks.map((t: { agent: string }) => t.agent)).toEqual(['researcher', 'researcher', 'writer', 'reviewer']);
    expect(plan.tasks[2].dependencies).toEqual(['t1', 't2']);
    expect(plan.tasks[3].dependencies).toEqual(['t3']);
  });

  it('is deterministic for the same input', async () => {
    const request = 'Find recent papers on RAG; analyse their benchmarks; implement a demo script and write a blog post.';
    const a = await sim.chat(planReq(request));
    const b = await sim.chat(planReq(request));
    expect(a.text).toBe(b.text);
    assertValidPlan(JSON.parse(a.text));
  });

  it("produces plans the planner's own parser and validator accept", async () => {
    for (const request of [
      'Compare Postgres, MySQL and SQLite, then write a summary and review it for risks.',
      'Calculate the monthly budget; research cheaper hosting; implement a cost report script.',
      'hello',
    ]) {
      const parsed = parsePlanText((await sim.chat(planReq(request))).text);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(validatePlan(parsed.plan, { activeAgents: AGENTS.map((a) => a.name), maxTasks: 50 })).toEqual([]);
    }
  });

  it('caps long requests at six tasks', () => {
    const request = 'Find A; find B; analyse C; write D; review E; implement F; write G; translate H.';
    const plan = simulatedPlan({ request, agents: AGENTS }, '');
    assertValidPlan(plan);
    expect(plan.tasks).toHaveLength(MAX_SIM_TASKS);
  });

  it('uses only the agents it is given, matching roles by capability', () => {
    const agents = [
      { name: 'scout', role: 'web researcher', capabilities: ['research'] },
      { name: 'scribe', role: 'author', capabilities: ['writing'] },
    ];
    const plan = simulatedPlan({ request: 'Research solar panels then write a summary', agents }, '');
    assertValidPlan(plan, agents);
    expect(plan.tasks.map((t) => t.agent)).toEqual(['scout', 'scribe']);
  });

  it('gives a one-line request a small pipeline with dependencies', () => {
    const plan = simulatedPlan({ request: 'Write a Python script that parses CSV files', agents: AGENTS }, '');
    assertValidPlan(plan);
    expect(plan.tasks.map((t) => t.agent)).toEqual(['researcher', 'coder', 'reviewer']);
  });
});

describe('simulated provider: agent calls', () => {
  it('names the task and quotes the dependency results it received', async () => {
    const res = await sim.chat(
      taskReq({
        messages: [
          { role: 'system', content: 'You are the writer.' },
          {
            role: 'user',
            content:
              'Write a report.\n\n<result task="t1" agent="researcher">Qdrant and pgvector lead the field today</result>\n\nResult of t3 (analyst):\nCosts are similar for small datasets\n',
          },
        ],
      }),
    );
    expect(res.text).toContain('Completed task t2: "Write a report."');
    expect(res.text).toContain('t1 (researcher) "Qdrant and pgvector lead the field…"');
    expect(res.text).toContain('t3 (analyst) "Costs are similar for small datasets"');
    expect(res.finishReason).toBe('stop');
  });

  it('reports sim.output_tokens, counts input tokens and prices by the named model', async () => {
    const req = taskReq({ model: 'claude-3-5-haiku-latest', sim: { output_tokens: 321 } });
    const res = await sim.chat(req);
    const input = countMessagesTokens(req.messages, 'simulated', req.model);
    expect(res.usage).toEqual({ inputTokens: input, outputTokens: 321 });
    expect(res.costUsd).toBeCloseTo(costOf(DEFAULT_PRICES, 'anthropic', 'claude-3-5-haiku-latest', input, 321), 12);
    expect(res.provider).toBe('simulated');
    expect(res.model).toBe('claude-3-5-haiku-latest');
  });

  it('defaults to 200 output tokens', async () => {
    expect((await sim.chat(taskReq())).usage.outputTokens).toBe(200);
  });

  it('streams the text in order, in several chunks', async () => {
    const deltas: string[] = [];
    const res = await sim.chat(taskReq({ onDelta: (t) => deltas.push(t) }));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(res.text);
    expect(res.ttftMs).toBeTypeOf('number');
  });

  it("fails permanently with sim.fail='always'", async () => {
    const err = await sim.chat(taskReq({ sim: { fail: 'always' }, meta: { purpose: 'task', attempt: 2 } })).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('LLM_PROVIDER_ERROR');
    expect(isRetryableLlmError(err)).toBe(false);
  });

  it("fails the first attempt only with sim.fail='transient'", async () => {
    const first = await sim.chat(taskReq({ sim: { fail: 'transient' } })).catch((e) => e);
    expect(first).toBeInstanceOf(AppError);
    expect(isRetryableLlmError(first)).toBe(true);
    const second = await sim.chat(taskReq({ sim: { fail: 'transient' }, meta: { purpose: 'task', attempt: 2 } }));
    expect(second.text).toContain('Completed');
  });

  it('stops waiting as soon as the call is aborted', async () => {
    const controller = new AbortController();
    const call = sim.chat(taskReq({ sim: { latency_ms: 60_000 }, signal: controller.signal }));
    controller.abort();
    const err = await call.catch((e) => e);
    expect(err.code).toBe('LLM_ABORTED');
  });

  it('asks for the tool calls of a ```tools block, then reports their outputs', async () => {
    const task = 'Compute it.\n```tools\n[{"name":"calculator","arguments":{"expression":"2+2"}}]\n```';
    const first = await sim.chat(taskReq({ messages: [{ role: 'user', content: task }] }));
    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([{ id: 'sim_call_1', name: 'calculator', arguments: { expression: '2+2' } }]);

    const second = await sim.chat(
      taskReq({
        messages: [
          { role: 'user', content: task },
          { role: 'assistant', content: '', toolCalls: first.toolCalls },
          { role: 'tool', content: '4', toolCallId: 'sim_call_1' },
        ],
      }),
    );
    expect(second.finishReason).toBe('stop');
    expect(second.toolCalls).toEqual([]);
    expect(second.text).toContain('calculator → 4');
  });
});

describe('router over the simulated provider', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('llm-simulated');
  });
  afterAll(async () => {
    await ctx.cleanup();
  });

  it('records the call with tokens, cost and outcome in llm_calls', async () => {
    const res = await ctx.deps.llm.chat(taskReq({ sim: { output_tokens: 500 }, meta: { purpose: 'task', agentName: 'writer-rec' } }));
    await ctx.deps.llm.settled?.(); // a task call's record is written off the call's path
    const rows = await ctx.deps.db.selectFrom('llm_calls').selectAll().where('agent_name', '=', 'writer-rec').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      provider: 'simulated',
      model: 'gpt-4o-mini',
      purpose: 'task',
      outcome: 'ok',
      input_tokens: res.usage.inputTokens,
      output_tokens: 500,
      attempt: 1,
    });
    expect(rows[0]!.cost).toBeCloseTo(res.costUsd, 12);
    expect(rows[0]!.cost).toBeGreaterThan(0);
  });

  it('surfaces a scripted transient failure without retrying it, and records it', async () => {
    const waits: number[] = [];
    const router = createLlmRouter({ config: ctx.config, db: ctx.deps.db, logger: ctx.deps.logger, sleep: async (ms) => void waits.push(ms) });
    const err = await router.chat(taskReq({ sim: { fail: 'transient' }, meta: { purpose: 'task', agentName: 'transient-rec' } })).catch((e) => e);
    expect(err.code).toBe('LLM_PROVIDER_ERROR');
    expect(waits).toEqual([]);
    const rows = await ctx.deps.db.selectFrom('llm_calls').select(['outcome', 'error']).where('agent_name', '=', 'transient-rec').execute();
    expect(rows).toEqual([{ outcome: 'error', error: expect.stringContaining('LLM_PROVIDER_ERROR') }]);
  });

  it('rejects an unconfigured provider when no fallback is configured', async () => {
    const err = await ctx.deps.llm.chat(taskReq({ provider: 'openai' })).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('LLM_PROVIDER_NOT_CONFIGURED');
    expect(err.category).toBe('unavailable');
  });
});
