import type { ChatMessage, ChatRequest, ChatResponse, LlmClient, Usage } from '../core/llm.js';
import type { ToolRegistry, ToolResult } from './registry.js';
import type { ToolContext } from './tool.js';

/** One tool call as executed (or refused); `task.tool_call` events are made from it. */
export interface ToolCallRecord {
  /** The provider's call id. */
  id: string;
  tool: string;
  input: unknown;
  output?: unknown;
  error?: { code: string; message: string; details?: unknown };
}

export interface RunToolLoopOptions {
  llm: LlmClient;
  /** The conversation so far; `tools` is set by the loop from the allowlist. */
  request: Omit<ChatRequest, 'tools'>;
  registry: ToolRegistry;
  /** The agent's configured tools; enforced on every call whatever the model asks. */
  allowlist: readonly string[];
  ctx: ToolContext;
  /** Model calls that may offer tools. Default 8. */
  maxSteps?: number;
  /** Wall-clock budget for calling tools. Default 120 s. */
  maxMs?: number;
  /** Awaited after each call, before the model sees its result. */
  onToolCall?: (call: ToolCallRecord) => Promise<void> | void;
}

export interface ToolLoopResult {
  /** The last model response: the agent's answer is its `text`. */
  response: ChatResponse;
  /** Model calls made, the final no-tools call included. */
  steps: number;
  toolCalls: ToolCallRecord[];
  usage: Usage;
  costUsd: number;
  /** Set when the budget ran out while the model still wanted tools. */
  exhausted?: 'steps' | 'time';
}

/** Appended when the budget runs out; the next call offers no tools. */
export const FINAL_ANSWER_PROMPT =
  'The tool budget for this task is used up. Do not call tools. Give your final answer now from the information above.';

/**
 * Lets the model call tools until it answers in text.
 *
 * Each response with tool calls is followed by executing the calls in order
 * through the registry (allowlist, validation and timeout enforced there),
 * then another model call that sees the assistant turn and one `tool` message
 * per call (`{"ok":true,"output":…}` or `{"ok":false,"error":…}` as JSON).
 *
 * When `maxSteps` model calls have been made or `maxMs` has elapsed and the
 * model still asks for tools, those calls are NOT executed: the loop makes one
 * last call without tools, with FINAL_ANSWER_PROMPT appended, and returns that
 * response (so `steps` is at most `maxSteps + 1`); any tool calls in it are
 * dropped. The final call is made even when the time budget is what ran out:
 * the model call itself is bounded by the LLM client's own timeout.
 *
 * An abort of `ctx.signal` (or `request.signal`) stops the loop between or
 * during calls and is rethrown as the signal's reason.
 */
export async function runToolLoop(opts: RunToolLoopOptions): Promise<ToolLoopResult> {
  const { llm, request, registry, allowlist, ctx, onToolCall } = opts;
  const maxSteps = opts.maxSteps ?? 8;
  const maxMs = opts.maxMs ?? 120_000;
  const startedAt = performance.now();
  const signal = request.signal ? AbortSignal.any([ctx.signal, request.signal]) : ctx.signal;
  const specs = registry.specsFor(allowlist);
  const messages: ChatMessage[] = [...request.messages];
  const toolCalls: ToolCallRecord[] = [];
  const usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let costUsd = 0;
  let steps = 0;

  const rethrowIfAborted = (err: unknown): never => {
    if (signal.aborted) throw signal.reason;
    throw err;
  };

  const ask = async (withTools: boolean): Promise<ChatResponse> => {
    signal.throwIfAborted();
    const res = await llm
      .chat({ ...request, messages: [...messages], signal, ...(withTools && specs.length > 0 ? { tools: specs } : {}) })
      .catch(rethrowIfAborted);
    signal.throwIfAborted();
    steps++;
    usage.inputTokens += res.usage.inputTokens;
    usage.outputTokens += res.usage.outputTokens;
    costUsd += res.costUsd;
    return res;
  };

  let response = await ask(true);
  let exhausted: ToolLoopResult['exhausted'];
  while (response.toolCalls.length > 0) {
    if (steps >= maxSteps) exhausted = 'steps';
    else if (performance.now() - startedAt >= maxMs) exhausted = 'time';
    if (exhausted) break;

    messages.push({ role: 'assistant', content: response.text, toolCalls: response.toolCalls });
    for (const call of response.toolCalls) {
      const result = await registry.call(call.name, call.arguments, { ...ctx, signal }, allowlist).catch(rethrowIfAborted);
      const record: ToolCallRecord = { id: call.id, tool: call.name, input: call.arguments, ...resultFields(result) };
      toolCalls.push(record);
      await onToolCall?.(record);
      messages.push({ role: 'tool', toolCallId: call.id, content: serialise(result) });
    }
    response = await ask(true);
  }

  if (exhausted) {
    // The unexecuted calls have no results, so the assistant turn is kept as text only.
    if (response.text.trim() !== '') messages.push({ role: 'assistant', content: response.text });
    messages.push({ role: 'user', content: FINAL_ANSWER_PROMPT });
    // Tool calls in this answer were not offered and are never executed.
    response = { ...(await ask(false)), toolCalls: [] };
  }

  return { response, steps, toolCalls, usage, costUsd, ...(exhausted ? { exhausted } : {}) };
}

const resultFields = (r: ToolResult) => (r.ok ? { output: r.output } : { error: r.error });

function serialise(result: ToolResult): string {
  try {
    return JSON.stringify(result);
  } catch {
    return JSON.stringify({ ok: false, error: { code: 'TOOL_OUTPUT_UNSERIALISABLE', message: 'the tool returned a value that is not JSON' } });
  }
}
