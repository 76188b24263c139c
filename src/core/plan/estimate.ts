import { AppError } from '../errors.js';
import { SIDE_EFFECT_TOOLS, type ToolName } from '../tool-names.js';
import type { RiskLevel } from '../../../db/schema.js';
import { analysePlan, type PlanAnalysis } from './analyse.js';
import type { PlanTaskSpec } from './plan-schema.js';

/** Counts tokens of a text as the given provider/model would (src/llm/tokens.ts implements it). */
export type CountTokens = (text: string, provider: string, model: string) => number;

/** USD per million tokens by provider and model: the shape of src/llm/prices.ts's PriceTable. */
export type PriceBook = Readonly<Record<string, Readonly<Record<string, { input: number; output: number; embedding?: number }>>>>;

/** What the estimator needs to know about an agent. */
export interface EstimateAgent {
  name: string;
  /** Provider named in the agent's config. */
  provider: string;
  model: string;
  systemPrompt: string;
  maxOutputTokens: number;
  tools: readonly string[];
}

/** The agent's record in `llm_calls` (purpose 'task', outcome 'ok'). */
export interface AgentOutputHistory {
  okCalls: number;
  meanOutputTokens: number;
}

/** How fast a provider/model answers. */
export interface LatencyProfile {
  /** Time to first token, ms. */
  ttftMs: number;
  /** Generation speed after the first token. */
  tokensPerSecond: number;
}

/** Below this many successful calls an agent's mean output is too noisy to trust. */
export const MIN_HISTORY_CALLS = 5;
/**
 * Without history, an agent is assumed to write half of its `max_output_tokens`:
 * the cap is set for the longest answers, most answers are well under it.
 */
export const DEFAULT_OUTPUT_FRACTION = 0.5;
/**
 * Defaults until `llm_calls` has learned better: typical published/observed
 * figures for the hosted APIs' mid-size models (time to first token under a
 * second, 50-60 output tokens per second).
 */
export const DEFAULT_LATENCY: Readonly<Record<string, LatencyProfile>> = {
  openai: { ttftMs: 700, tokensPerSecond: 60 },
  anthropic: { ttftMs: 900, tokensPerSecond: 50 },
};
/** For an OpenAI-compatible or unknown server: a deliberately slow guess. */
export const FALLBACK_LATENCY: LatencyProfile = { ttftMs: 1000, tokensPerSecond: 40 };
/** A dependency's result is passed in full up to this many tokens (then truncated by the engine). */
export const DEPENDENCY_RESULT_BUDGET_TOKENS = 2000;
/** The task prompt's wrapping text around the description and results. */
export const TASK_FRAMING_TOKENS = 60;
/** Each tool's name, description and JSON Schema sent with the request. */
export const TOOL_SPEC_TOKENS = 120;

/** Context retrieval before a task: the query is embedded and matching memory is added to the prompt. */
export interface RetrievalEstimate {
  /** Whether retrieval runs for this agent's tasks (default: every task). */
  appliesTo?: (agent: EstimateAgent) => boolean;
  /** Embedding model (default openai / text-embedding-3-small). */
  provider?: string;
  model?: string;
  /** Tokens embedded for the query (default: the task description's count). */
  queryTokens?: number;
  /** Tokens of retrieved context added to the task's input (default 800). */
  contextTokens?: number;
}

export interface EstimateInput {
  tasks: readonly PlanTaskSpec[];
  /** Active agents by name; every task's agent must be here (validate first). */
  agents: ReadonlyMap<string, EstimateAgent>;
  countTokens: CountTokens;
  prices: PriceBook;
  /** Provider that will actually run the agent (e.g. `simulated` in an offline deployment); default: the agent's own. */
  executionProvider?: (agent: EstimateAgent) => string;
  /** By agent name. */
  history?: ReadonlyMap<string, AgentOutputHistory>;
  /** Learned from `llm_calls`, by `provider/model`. */
  learnedLatency?: ReadonlyMap<string, LatencyProfile>;
  /** The simulated provider's configured latency per call, used when a task has no `sim.latency_ms`. */
  simulatedLatencyMs: number;
  retrieval?: RetrievalEstimate;
  /** The approval threshold in USD: a task costing more than half of it is at least medium risk. */
  approvalThresholdUsd: number;
  /** What the planning call(s) actually cost; part of the plan's estimated total. */
  planningCostUsd: number;
  /**
   * The manager's final answer, written from the tasks' results once they are
   * done: one more call, priced with its model, after the critical path.
   */
  synthesis?: { agent: string; history?: AgentOutputHistory };
}

/** Input of the synthesis call is capped like the finaliser caps it (tokens of results). */
export const SYNTHESIS_INPUT_BUDGET_TOKENS = 8000;
/** Framing of the synthesis prompt: request, headings per task. */
const SYNTHESIS_FRAMING_TOKENS = 80;

export interface SynthesisEstimate {
  agent: string;
  inputTokens: number;
  outputTokens: number;
  outputSource: 'history' | 'default';
  costUsd: number;
  durationS: number;
}

export interface TaskEstimate {
  taskId: string;
  agent: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Where `outputTokens` came from. */
  outputSource: 'sim' | 'history' | 'default';
  embeddingTokens: number;
  costUsd: number;
  durationS: number;
  riskLevel: RiskLevel;
  /** Side-effect tools of the agent (why the task is high risk). */
  sideEffectTools: string[];
}

export interface PlanEstimate {
  tasks: TaskEstimate[];
  byTaskId: Map<string, TaskEstimate>;
  analysis: PlanAnalysis;
  planningCostUsd: number;
  /** The manager's final-answer call, when the input names it. */
  synthesis?: SynthesisEstimate;
  /** Planning cost plus every task's cost plus the synthesis. */
  totalCostUsd: number;
  /** The critical path's duration, then the synthesis, seconds: tasks off the path run in parallel. */
  totalDurationS: number;
}

/**
 * Estimates tokens, cost, duration and risk of every task of a validated plan,
 * and the plan's totals. Pure: everything learned from the database comes in
 * as data. Risk rule: `high` when the agent has a tool with side effects
 * (SIDE_EFFECT_TOOLS), else `medium` when the task is estimated at more than
 * half the approval threshold or the agent has any tool, else `low`.
 */
export function estimatePlan(input: EstimateInput): PlanEstimate {
  const agentOf = (t: PlanTaskSpec) => {
    const a = input.agents.get(t.agent);
    if (!a) throw new Error(`task ${t.id}: agent ${t.agent} is not active (validate the plan first)`);
    return a;
  };
  const providerOf = input.executionProvider ?? ((a: EstimateAgent) => a.provider);
  const promptTokens = new Map<EstimateAgent, number>();

  // Outputs first: a task's input includes its dependencies' outputs.
  const outputs = new Map<string, { tokens: number; source: TaskEstimate['outputSource'] }>();
  for (const t of input.tasks) {
    const agent = agentOf(t);
    const provider = providerOf(agent);
    const hist = input.history?.get(agent.name);
    if (provider === 'simulated' && t.sim?.output_tokens !== undefined) {
      outputs.set(t.id, { tokens: t.sim.output_tokens, source: 'sim' });
    } else if (hist && hist.okCalls >= MIN_HISTORY_CALLS) {
      outputs.set(t.id, { tokens: Math.round(hist.meanOutputTokens), source: 'history' });
    } else {
      outputs.set(t.id, { tokens: Math.round(agent.maxOutputTokens * DEFAULT_OUTPUT_FRACTION), source: 'default' });
    }
  }

  const estimates: TaskEstimate[] = input.tasks.map((t) => {
    const agent = agentOf(t);
    const provider = providerOf(agent);
    const count = (text: string) => input.countTokens(text, provider, agent.model);
    let system = promptTokens.get(agent);
    if (system === undefined) promptTokens.set(agent, (system = count(agent.systemPrompt)));
    const description = count(t.description);
    const depTokens = t.dependencies.reduce(
      (sum, d) => sum + Math.min(outputs.get(d)?.tokens ?? 0, DEPENDENCY_RESULT_BUDGET_TOKENS),
      0,
    );
    const retrieval = input.retrieval && (input.retrieval.appliesTo?.(agent) ?? true) ? input.retrieval : undefined;
    const inputTokens =
      system + description + TASK_FRAMING_TOKENS + agent.tools.length * TOOL_SPEC_TOKENS + depTokens +
      (retrieval ? (retrieval.contextTokens ?? 800) : 0);
    const out = outputs.get(t.id)!;

    const price = priceFor(input.prices, provider, agent.model);
    let costUsd = (inputTokens * price.input + out.tokens * price.output) / 1_000_000;
    let embeddingTokens = 0;
    if (retrieval) {
      const embProvider = retrieval.provider ?? 'openai';
      const embModel = retrieval.model ?? 'text-embedding-3-small';
      const embPrice = priceFor(input.prices, embProvider, embModel);
      embeddingTokens = retrieval.queryTokens ?? description;
      costUsd += (embeddingTokens * (embPrice.embedding ?? embPrice.input)) / 1_000_000;
    }

    const durationS =
      provider === 'simulated'
        ? (t.sim?.latency_ms ?? input.simulatedLatencyMs) / 1000
        : durationFromProfile(
            input.learnedLatency?.get(`${provider}/${agent.model}`) ?? DEFAULT_LATENCY[provider] ?? FALLBACK_LATENCY,
            out.tokens,
          );

    const sideEffectTools = agent.tools.filter((x) => SIDE_EFFECT_TOOLS.has(x as ToolName));
    const riskLevel: RiskLevel =
      sideEffectTools.length > 0
        ? 'high'
        : costUsd > input.approvalThresholdUsd / 2 || agent.tools.length > 0
          ? 'medium'
          : 'low';

    return {
      taskId: t.id, agent: agent.name, provider, model: agent.model, inputTokens, outputTokens: out.tokens,
      outputSource: out.source, embeddingTokens, costUsd, durationS, riskLevel, sideEffectTools,
    };
  });

  const byTaskId = new Map(estimates.map((e) => [e.taskId, e]));
  const analysis = analysePlan(input.tasks, (id) => byTaskId.get(id)?.durationS ?? 0);
  const tasksCost = estimates.reduce((s, e) => s + e.costUsd, 0);
  const synthesis = input.synthesis ? estimateSynthesis(input, input.synthesis, estimates) : undefined;
  return {
    tasks: estimates,
    byTaskId,
    analysis,
    planningCostUsd: input.planningCostUsd,
    synthesis,
    totalCostUsd: tasksCost + input.planningCostUsd + (synthesis?.costUsd ?? 0),
    totalDurationS: analysis.criticalPathDuration + (synthesis?.durationS ?? 0),
  };
}

function estimateSynthesis(
  input: EstimateInput,
  spec: NonNullable<EstimateInput['synthesis']>,
  tasks: readonly TaskEstimate[],
): SynthesisEstimate {
  const agent = input.agents.get(spec.agent);
  if (!agent) throw new Error(`synthesis agent ${spec.agent} is not active`);
  const provider = input.executionProvider?.(agent) ?? agent.provider;
  const results = Math.min(SYNTHESIS_INPUT_BUDGET_TOKENS, tasks.reduce((n, t) => n + t.outputTokens, 0));
  const inputTokens = input.countTokens(agent.systemPrompt, provider, agent.model) + SYNTHESIS_FRAMING_TOKENS + results;
  const fromHistory = spec.history && spec.history.okCalls >= MIN_HISTORY_CALLS;
  const outputTokens = Math.round(fromHistory ? spec.history!.meanOutputTokens : agent.maxOutputTokens * DEFAULT_OUTPUT_FRACTION);
  const price = priceFor(input.prices, provider, agent.model);
  const durationS =
    provider === 'simulated'
      ? input.simulatedLatencyMs / 1000
      : durationFromProfile(input.learnedLatency?.get(`${provider}/${agent.model}`) ?? DEFAULT_LATENCY[provider] ?? FALLBACK_LATENCY, outputTokens);
  return {
    agent: agent.name,
    inputTokens,
    outputTokens,
    outputSource: fromHistory ? 'history' : 'default',
    costUsd: (inputTokens * price.input + outputTokens * price.output) / 1_000_000,
    durationS,
  };
}

/** Seconds for one call: time to first token, then the output at the profile's speed. */
export function durationFromProfile(profile: LatencyProfile, outputTokens: number): number {
  return (profile.ttftMs + (outputTokens / Math.max(profile.tokensPerSecond, 1e-6)) * 1000) / 1000;
}

function priceFor(prices: PriceBook, provider: string, model: string) {
  const p = prices[provider]?.[model];
  // Never a silent $0: an unpriced model makes the estimate, and so the approval rule, meaningless.
  if (!p) throw new AppError('UNKNOWN_MODEL_PRICE', 'unprocessable', `no price is known for ${provider}/${model}`);
  return p;
}
