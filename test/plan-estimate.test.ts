import { describe, expect, it } from 'vitest';
import { estimatePlan, type EstimateAgent, type EstimateInput, type PriceBook } from '../src/core/plan/estimate.js';
import { approvalThreshold, decideApproval, formatUsd } from '../src/core/plan/approval.js';
import type { PlanTaskSpec } from '../src/core/plan/plan-schema.js';

/** One token per word: makes every number below computable by hand. */
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const prices: PriceBook = {
  openai: { m: { input: 1, output: 10 }, 'text-embedding-3-small': { input: 0.02, output: 0, embedding: 0.02 } },
  simulated: { m: { input: 1, output: 10 } },
};
const agent = (name: string, extra: Partial<EstimateAgent> = {}): EstimateAgent => ({
  name, provider: 'openai', model: 'm', systemPrompt: 'You write', maxOutputTokens: 1000, tools: [], ...extra,
});
const task = (id: string, dependencies: string[] = [], agentName = 'writer', sim?: PlanTaskSpec['sim']): PlanTaskSpec => ({
  id, description: `do ${id}`, agent: agentName, dependencies, ...(sim ? { sim } : {}),
});
const base = (tasks: PlanTaskSpec[], agents: EstimateAgent[], extra: Partial<EstimateInput> = {}): EstimateInput => ({
  tasks,
  agents: new Map(agents.map((a) => [a.name, a])),
  countTokens: words,
  prices,
  simulatedLatencyMs: 200,
  approvalThresholdUsd: 0.1,
  planningCostUsd: 0,
  ...extra,
});

describe('plan estimates', () => {
  it('a chain: default output of half max_output_tokens, dependency results in the input, durations add up', () => {
    const e = estimatePlan(base([task('t1'), task('t2', ['t1']), task('t3', ['t2'])], [agent('writer')], { planningCostUsd: 0.001 }));
    // input = system 2 + description 2 + framing 60 (+ 500 per dependency result); output = 1000 × 0.5
    expect(e.tasks.map((t) => [t.inputTokens, t.outputTokens, t.outputSource])).toEqual([
      [64, 500, 'default'], [564, 500, 'default'], [564, 500, 'default'],
    ]);
    // ($1/M × input + $10/M × output)
    expect(e.tasks.map((t) => t.costUsd)).toEqual([0.005064, 0.005564, 0.005564].map((v) => expect.closeTo(v, 12)));
    expect(e.totalCostUsd).toBeCloseTo(0.005064 + 2 * 0.005564 + 0.001, 12);
    // openai default: 700 ms to first token, then 500 tokens at 60 tokens/s
    const each = 0.7 + 500 / 60;
    expect(e.tasks[0]!.durationS).toBeCloseTo(each, 9);
    expect(e.totalDurationS).toBeCloseTo(3 * each, 9);
    expect(e.analysis.criticalPath).toEqual(['t1', 't2', 't3']);
  });

  it("a diamond on the simulated provider: scripted latency and tokens, duration of the longest path", () => {
    const tasks = [
      task('a', [], 'writer', { latency_ms: 100, output_tokens: 10 }),
      task('b', ['a'], 'writer', { latency_ms: 300, output_tokens: 20 }),
      task('c', ['a'], 'writer', { latency_ms: 200 }),
      task('d', ['b', 'c'], 'writer', { latency_ms: 50, output_tokens: 5 }),
    ];
    const e = estimatePlan(base(tasks, [agent('writer')], { executionProvider: () => 'simulated' }));
    expect(e.tasks.map((t) => t.outputTokens)).toEqual([10, 20, 500, 5]);
    // d reads b's 20 and c's 500 tokens of results
    expect(e.byTaskId.get('d')!.inputTokens).toBe(64 + 20 + 500);
    expect(e.byTaskId.get('d')!.costUsd).toBeCloseTo((584 + 50) / 1e6, 12);
    expect(e.analysis.criticalPath).toEqual(['a', 'b', 'd']);
    expect(e.totalDurationS).toBeCloseTo(0.45, 12);
    expect(e.totalDurationS).toBeLessThan(e.tasks.reduce((s, t) => s + t.durationS, 0));
  });

  it('a wide fan-out: history of ≥ 5 calls replaces the default, learned latency replaces the default profile', () => {
    const leaves = Array.from({ length: 8 }, (_, i) => task(`l${i}`, ['root'], 'researcher'));
    const e = estimatePlan(
      base([task('root'), ...leaves, task('join', leaves.map((l) => l.id))], [agent('writer'), agent('researcher')], {
        history: new Map([
          ['researcher', { okCalls: 5, meanOutputTokens: 100.4 }],
          ['writer', { okCalls: 4, meanOutputTokens: 10 }], // too few: ignored
        ]),
        learnedLatency: new Map([['openai/m', { ttftMs: 200, tokensPerSecond: 100 }]]),
      }),
    );
    expect(e.byTaskId.get('l0')).toMatchObject({ outputTokens: 100, outputSource: 'history', inputTokens: 564 });
    expect(e.byTaskId.get('root')).toMatchObject({ outputTokens: 500, outputSource: 'default' });
    expect(e.byTaskId.get('join')!.inputTokens).toBe(64 + 8 * 100);
    expect(e.analysis.maxParallelWidth).toBe(8);
    // 0.2 + 500/100 (root) + 0.2 + 100/100 (a leaf) + 0.2 + 500/100 (join)
    expect(e.totalDurationS).toBeCloseTo(5.2 + 1.2 + 5.2, 9);
    const expectedCost = (64 + 5000) / 1e6 + 8 * ((564 + 1000) / 1e6) + (864 + 5000) / 1e6;
    expect(e.totalCostUsd).toBeCloseTo(expectedCost, 12);
  });

  it('adds the embedding of the query and the retrieved context when retrieval runs', () => {
    const without = estimatePlan(base([task('t1')], [agent('writer')]));
    const withIt = estimatePlan(base([task('t1')], [agent('writer')], { retrieval: {} }));
    // +800 context tokens at $1/M, +2 query tokens embedded at $0.02/M
    expect(withIt.tasks[0]!.inputTokens).toBe(without.tasks[0]!.inputTokens + 800);
    expect(withIt.tasks[0]!.embeddingTokens).toBe(2);
    expect(withIt.totalCostUsd - without.totalCostUsd).toBeCloseTo(800 / 1e6 + (2 * 0.02) / 1e6, 12);
    const onlyMemory = estimatePlan(base([task('t1')], [agent('writer')], { retrieval: { appliesTo: (a) => a.tools.length > 0 } }));
    expect(onlyMemory.tasks[0]!.embeddingTokens).toBe(0);
  });

  it('counts 120 tokens per tool definition', () => {
    const e = estimatePlan(base([task('t1', [], 'calc')], [agent('calc', { tools: ['calculator'] })]));
    expect(e.tasks[0]!.inputTokens).toBe(64 + 120);
  });

  it('refuses to price a model it does not know (never a silent $0)', () => {
    expect(() => estimatePlan(base([task('t1')], [agent('writer', { model: 'mystery' })]))).toThrow(/openai\/mystery/);
  });

  it('risk: high with a side-effect tool, medium with any tool or a cost over half the threshold, else low', () => {
    const agents = [
      agent('fetcher', { tools: ['calculator', 'http_fetch'] }),
      agent('calc', { tools: ['calculator'] }),
      agent('big', { maxOutputTokens: 12_000 }), // 6000 output tokens ≈ $0.06 > $0.05
      agent('writer'),
    ];
    const e = estimatePlan(base([task('t1', [], 'fetcher'), task('t2', [], 'calc'), task('t3', [], 'big'), task('t4')], agents));
    expect(e.tasks.map((t) => t.riskLevel)).toEqual(['high', 'medium', 'medium', 'low']);
    expect(e.tasks[0]!.sideEffectTools).toEqual(['http_fetch']);
  });
});

describe('approval', () => {
  const estimateOf = (tasks: PlanTaskSpec[], agents: EstimateAgent[], planningCostUsd = 0) =>
    estimatePlan(base(tasks, agents, { planningCostUsd }));

  it("the project's threshold wins over the deployment default", () => {
    expect(approvalThreshold({ approval_threshold_usd: 0.5 }, 0.1)).toEqual({ usd: 0.5, source: 'project' });
    expect(approvalThreshold({}, 0.1)).toEqual({ usd: 0.1, source: 'default' });
    expect(approvalThreshold(null, 0.2)).toEqual({ usd: 0.2, source: 'default' });
  });

  it('a cheap plan of low-risk tasks needs no approval', () => {
    const e = estimateOf([task('t1')], [agent('writer')]);
    expect(decideApproval({ totalCostUsd: e.totalCostUsd, threshold: { usd: 0.1, source: 'project' }, tasks: e.tasks })).toEqual({
      requiresApproval: false, reasons: [], reason: null,
    });
  });

  it('a plan over the threshold needs approval, saying by how much', () => {
    const e = estimateOf([task('t1')], [agent('writer')], 0.135);
    const d = decideApproval({ totalCostUsd: e.totalCostUsd, threshold: { usd: 0.1, source: 'project' }, tasks: e.tasks });
    expect(d.requiresApproval).toBe(true);
    expect(d.reason).toBe("estimated cost $0.14 exceeds the project's $0.10 threshold");
  });

  it('a cost that rounds to the threshold is shown with enough decimals', () => {
    const d = decideApproval({ totalCostUsd: 0.1004, threshold: { usd: 0.1, source: 'default' }, tasks: [] });
    expect(d.reason).toBe('estimated cost $0.1004 exceeds the default $0.10 threshold');
    expect(formatUsd(0.5)).toBe('$0.50');
  });

  it('a task whose agent has a side-effect tool needs approval whatever the cost', () => {
    const e = estimateOf([task('t1'), task('t3', ['t1'], 'coder')], [agent('writer'), agent('coder', { tools: ['http_fetch'] })]);
    const d = decideApproval({ totalCostUsd: e.totalCostUsd, threshold: { usd: 100, source: 'project' }, tasks: e.tasks });
    expect(d).toEqual({
      requiresApproval: true,
      reasons: ['task t3 (coder) uses http_fetch, a tool with side effects'],
      reason: 'task t3 (coder) uses http_fetch, a tool with side effects',
    });
  });

  it('lists every reason, cost first', () => {
    const e = estimateOf([task('t1', [], 'coder')], [agent('coder', { tools: ['http_fetch', 'project_memory_write'] })], 1);
    const d = decideApproval({ totalCostUsd: e.totalCostUsd, threshold: { usd: 0.1, source: 'project' }, tasks: e.tasks });
    expect(d.reasons).toEqual([
      "estimated cost $1.01 exceeds the project's $0.10 threshold",
      'task t1 (coder) uses http_fetch and project_memory_write, tools with side effects',
    ]);
  });
});

describe('the manager’s final answer', () => {
  it('adds one synthesis call after the critical path, its input the tasks’ outputs, its output the manager’s history', async () => {
    const { estimatePlan, SYNTHESIS_INPUT_BUDGET_TOKENS } = await import('../src/core/plan/estimate.js');
    const { DEFAULT_PRICES } = await import('../src/llm/prices.js');
    const agents = new Map([
      ['worker', { name: 'worker', provider: 'openai', model: 'gpt-4o-mini', systemPrompt: '', maxOutputTokens: 1000, tools: [] }],
      ['boss', { name: 'boss', provider: 'openai', model: 'gpt-4o', systemPrompt: '', maxOutputTokens: 1000, tools: [] }],
    ]);
    const tasks = [
      { id: 'a', description: '', agent: 'worker', dependencies: [] },
      { id: 'b', description: '', agent: 'worker', dependencies: ['a'] },
    ];
    const base = { tasks, agents, countTokens: () => 0, prices: DEFAULT_PRICES, simulatedLatencyMs: 0, approvalThresholdUsd: 1, planningCostUsd: 0 };
    const without = estimatePlan(base);
    const withBoss = estimatePlan({ ...base, synthesis: { agent: 'boss', history: { okCalls: 5, meanOutputTokens: 300 } } });
    // 2 tasks × 500 default output tokens = 1000 result tokens + 80 framing in; 300 out (history), at gpt-4o prices
    expect(withBoss.synthesis).toMatchObject({ inputTokens: 1080, outputTokens: 300, outputSource: 'history' });
    expect(withBoss.synthesis!.costUsd).toBeCloseTo((1080 * 2.5 + 300 * 10) / 1e6, 12);
    expect(withBoss.totalCostUsd).toBeCloseTo(without.totalCostUsd + withBoss.synthesis!.costUsd, 12);
    expect(withBoss.totalDurationS).toBeGreaterThan(without.totalDurationS);
    const few = estimatePlan({ ...base, synthesis: { agent: 'boss', history: { okCalls: 4, meanOutputTokens: 300 } } });
    expect(few.synthesis).toMatchObject({ outputTokens: 500, outputSource: 'default' });
    expect(SYNTHESIS_INPUT_BUDGET_TOKENS).toBe(8000);
  });
});
