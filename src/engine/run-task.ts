import { hostname } from 'node:os';
import type { Deps } from '../deps.js';
import type { ChatRequest, ChatResponse } from '../core/llm.js';
import { buildAgentMessages } from '../core/agent-prompt.js';
import { AppError } from '../core/errors.js';
import { budgetStatus } from '../limits/budget.js';
import { publishEphemeral } from '../events/event-log.js';
import type { PlanRow, TaskInputs, TaskRow, TaskOutput } from '../../db/repositories/execution-repository.js';
import type { SimOptions } from '../../db/schema.js';
import type { Engine } from './engine.js';
import { appendEvents, type NewEvent } from '../events/event-log.js';
import { runToolLoop } from '../tools/tool-loop.js';
import { httpFetchPolicyFromConfig } from '../tools/builtin/http-fetch.js';

/** Bounds of one task's tool-call loop. */
const MAX_TOOL_STEPS = 8;
const MAX_TOOL_MS = 120_000;

/** How often streamed text is forwarded as a `task.delta` event. */
const DELTA_FLUSH_MS = 50;
/** Token budget for the dependency results in a task's prompt. */
const DEPENDENCY_TOKEN_BUDGET = 6000;

export interface RunTaskInput {
  plan: PlanRow;
  task: TaskRow;
  attempt: number;
  signal: AbortSignal;
  /** All tasks of the plan (for the dependencies' agent names). */
  tasks: readonly TaskRow[];
  /** The agent, dependency results and inbox, loaded with the plan. */
  inputs: TaskInputs;
}

/**
 * Runs one task with its agent: builds the prompt from the task, its
 * dependencies' results (read from PostgreSQL, never carried in job data),
 * messages other agents left for it and project context, calls the model
 * through the router, and streams deltas live.
 */
/** Appends events of a running task outside a state change (tool calls, agent messages). */
async function emit(deps: Deps, planId: string, events: NewEvent[]): Promise<void> {
  const stored = await deps.db.transaction().execute((tx) => appendEvents(tx, planId, events));
  await deps.publish(stored);
}

export async function runTask(deps: Deps, engine: Engine, input: RunTaskInput): Promise<TaskOutput> {
  const { plan, task, attempt, signal, tasks } = input;
  const started = Date.now();
  const { agent, results, inbox } = input.inputs;
  if (!agent) throw new AppError('AGENT_NOT_FOUND', 'unprocessable', `agent ${task.agentName} no longer exists`);
  if (agent.status !== 'active') throw new AppError('AGENT_DISABLED', 'unprocessable', `agent ${task.agentName} is disabled`);
  const cfg = agent.config;
  // The daily budget stops a running plan before its next model call (a soft
  // limit: the call that crosses it completes). Permanent: no retry.
  const budget = budgetStatus(deps.config.USER_DAILY_BUDGET_USD, input.inputs.spentTodayUsd);
  if (budget.exceeded) {
    throw new AppError(
      'BUDGET_EXCEEDED',
      'unprocessable',
      `daily budget exceeded: $${budget.spentUsd.toFixed(4)} of today's $${budget.limitUsd.toFixed(4)} is spent (it resets at 00:00 UTC)`,
    );
  }

  // Project context: the most relevant memory entries within a token budget.
  const context =
    deps.config.CONTEXT_TOP_K > 0
      ? (
          await deps.memory
            .search({ userId: plan.userId, projectId: plan.projectId, query: task.description, k: deps.config.CONTEXT_TOP_K, tokenBudget: deps.config.CONTEXT_TOKEN_BUDGET })
            .catch((err: unknown) => {
              deps.logger.warn({ err, plan_id: plan.id, task_id: task.taskId }, 'context retrieval failed; running without it');
              return [];
            })
        ).map((e) => e.content)
      : [];
  const messages = buildAgentMessages({
    agent: { name: agent.name, role: cfg.role, systemPrompt: cfg.system_prompt },
    task: { taskId: task.taskId, description: task.description },
    request: plan.originalRequest,
    dependencies: task.dependencies.map((d) => ({
      taskId: d,
      agentName: tasks.find((t) => t.taskId === d)?.agentName ?? '',
      result: results.get(d) ?? '',
    })),
    inbox,
    context,
    dependencyTokenBudget: DEPENDENCY_TOKEN_BUDGET,
  });

  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (!pending) return;
    const text = pending;
    pending = '';
    void publishEphemeral(deps.redis, deps.prefix, plan.id, plan.sessionId, 'task.delta', task.taskId, { text });
  };

  let response: ChatResponse;
  let toolCalls = 0;
  let costUsd = 0;
  let usage = { inputTokens: 0, outputTokens: 0 };
  try {
    const request: ChatRequest = {
      provider: cfg.provider,
      model: cfg.model,
      messages,
      temperature: cfg.temperature,
      maxOutputTokens: cfg.max_output_tokens,
      signal,
      sim: (task.sim ?? undefined) as SimOptions | undefined,
      onDelta: (text: string) => {
        pending += text;
        timer ??= setTimeout(flush, DELTA_FLUSH_MS);
      },
      meta: {
        purpose: 'task',
        userId: plan.userId,
        projectId: plan.projectId,
        planId: plan.id,
        taskRowId: task.id,
        taskId: task.taskId,
        agentId: task.agentId ?? undefined,
        agentName: task.agentName,
        attempt,
      },
    };
    if (cfg.tools.length === 0) {
      response = await deps.llm.chat(request);
      costUsd = response.costUsd;
      usage = response.usage;
    } else {
      const loop = await runToolLoop({
        llm: deps.llm,
        request,
        registry: engine.tools,
        allowlist: cfg.tools,
        maxSteps: MAX_TOOL_STEPS,
        maxMs: MAX_TOOL_MS,
        ctx: {
          userId: plan.userId,
          projectId: plan.projectId,
          planId: plan.id,
          taskId: task.taskId,
          agentName: task.agentName,
          signal,
          db: deps.db,
          memory: engine.memory,
          httpFetch: httpFetchPolicyFromConfig(deps.config),
          sendMessage: async (toAgent, text) => {
            await engine.bus.send(plan.id, task.taskId, task.agentName, toAgent, text);
            await emit(deps, plan.id, [{ type: 'task.message', taskId: task.taskId, data: { from_agent: task.agentName, to_agent: toAgent, text } }]);
          },
        },
        onToolCall: (c) =>
          emit(deps, plan.id, [
            { type: 'task.tool_call', taskId: task.taskId, data: { tool: c.tool, input: c.input, output: c.error ? { error: c.error } : c.output } },
          ]),
      });
      response = loop.response;
      toolCalls = loop.toolCalls.length;
      costUsd = loop.costUsd;
      usage = loop.usage;
    }
  } finally {
    if (timer) clearTimeout(timer);
    flush();
  }
  return {
    text: response.text,
    costUsd,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    toolCalls,
    durationS: (Date.now() - started) / 1000,
    provider: response.provider,
    model: response.model,
    worker: `${hostname()}:${process.pid}`,
  };
}
