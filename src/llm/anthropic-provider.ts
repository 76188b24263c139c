import Anthropic from '@anthropic-ai/sdk';
import type {
  ContentBlockParam,
  MessageCreateParamsBase,
  MessageParam,
  Tool,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { ChatMessage, ChatRequest, ChatResponse, LlmClient, ToolCall } from '../core/llm.js';
import { abortError, httpError, llmError, parseToolArguments, timeoutError } from './errors.js';
import { DEFAULT_PRICES, type PriceTable } from './prices.js';
import { priceCall } from './pricing.js';

export interface AnthropicProviderOptions {
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
  prices?: PriceTable;
}

/** Anthropic requires max_tokens; used when the agent sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;
const PROVIDER = 'anthropic';

/**
 * The Messages API through the official SDK (its retries off: the router
 * retries). A `responseSchema` becomes a forced tool whose input is the JSON
 * answer; that tool's input is returned as `text`, not as a tool call.
 * `temperature` is not sent: this SDK's Messages API no longer has it.
 */
export function createAnthropicProvider(opts: AnthropicProviderOptions): LlmClient {
  const prices = opts.prices ?? DEFAULT_PRICES;
  // baseURL explicit so the SDK never falls back to reading the environment itself.
  const client = new Anthropic({
    apiKey: opts.apiKey,
    baseURL: opts.baseURL ?? 'https://api.anthropic.com',
    maxRetries: 0,
    timeout: opts.timeoutMs,
  });

  return {
    async chat(req: ChatRequest): Promise<ChatResponse> {
      const started = Date.now();
      const forced = req.responseSchema?.name;
      const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      const tools: Tool[] = (req.tools ?? []).map((t) => ({
        name: t.name,
        description: t.description,
        input_schema: t.parameters as Tool['input_schema'],
      }));
      if (req.responseSchema) {
        tools.push({
          name: req.responseSchema.name,
          description: 'Give the answer as this tool input: JSON matching its schema.',
          input_schema: req.responseSchema.schema as Tool['input_schema'],
        });
      }
      const params: MessageCreateParamsBase = {
        model: req.model,
        max_tokens: req.maxOutputTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
        messages: toAnthropicMessages(req.messages),
      };
      if (system) params.system = system;
      if (tools.length) params.tools = tools;
      if (forced) params.tool_choice = { type: 'tool', name: forced };

      try {
        const r = req.onDelta ? await streamed(client, params, req, started, forced) : await plain(client, params, req, forced);
        return {
          text: r.text,
          toolCalls: r.toolCalls,
          usage: r.usage,
          costUsd: priceCall(prices, PROVIDER, req.model, r.usage.inputTokens, r.usage.outputTokens),
          provider: PROVIDER,
          model: req.model,
          latencyMs: Date.now() - started,
          ttftMs: r.ttftMs,
          // A forced answer tool ends with stop_reason tool_use, but for the caller the answer is complete.
          finishReason: r.toolCalls.length > 0 ? 'tool_calls' : forced && r.stopReason === 'tool_use' ? 'stop' : stopReason(r.stopReason),
        };
      } catch (err) {
        throw mapError(err, req.model, opts.timeoutMs);
      }
    },
  };
}

interface Result {
  text: string;
  toolCalls: ToolCall[];
  usage: { inputTokens: number; outputTokens: number };
  stopReason: string | null | undefined;
  ttftMs?: number;
}

interface InputUsage {
  input_tokens: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}
/** Cached prompt tokens are still input tokens of the call. */
const inputTokens = (u: InputUsage) => (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

async function plain(client: Anthropic, params: MessageCreateParamsBase, req: ChatRequest, forced?: string): Promise<Result> {
  const res = await client.messages.create({ ...params, stream: false }, { signal: req.signal });
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const block of res.content) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use' && block.name === forced) text = JSON.stringify(block.input);
    else if (block.type === 'tool_use') toolCalls.push({ id: block.id, name: block.name, arguments: block.input });
  }
  return {
    text,
    toolCalls,
    usage: { inputTokens: inputTokens(res.usage), outputTokens: res.usage.output_tokens },
    stopReason: res.stop_reason,
  };
}

async function streamed(client: Anthropic, params: MessageCreateParamsBase, req: ChatRequest, started: number, forced?: string): Promise<Result> {
  const stream = await client.messages.create({ ...params, stream: true }, { signal: req.signal });
  let text = '';
  let ttftMs: number | undefined;
  let stopReason: string | null | undefined;
  const usage = { inputTokens: 0, outputTokens: 0 };
  const blocks = new Map<number, { kind: 'text' | 'tool' | 'answer' | 'other'; id: string; name: string; json: string }>();
  const emit = (piece: string) => {
    ttftMs ??= Date.now() - started;
    text += piece;
    req.onDelta!(piece);
  };
  for await (const event of stream) {
    switch (event.type) {
      case 'message_start':
        usage.inputTokens = inputTokens(event.message.usage);
        usage.outputTokens = event.message.usage.output_tokens;
        break;
      case 'content_block_start': {
        const b = event.content_block;
        if (b.type === 'text') {
          blocks.set(event.index, { kind: 'text', id: '', name: '', json: '' });
          if (b.text) emit(b.text);
        } else if (b.type === 'tool_use') {
          blocks.set(event.index, { kind: b.name === forced ? 'answer' : 'tool', id: b.id, name: b.name, json: '' });
        } else {
          blocks.set(event.index, { kind: 'other', id: '', name: '', json: '' });
        }
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(event.index);
        if (event.delta.type === 'text_delta') emit(event.delta.text);
        else if (event.delta.type === 'input_json_delta' && block) {
          block.json += event.delta.partial_json;
          // The forced tool's input is the answer: stream it like text.
          if (block.kind === 'answer') emit(event.delta.partial_json);
        }
        break;
      }
      case 'message_delta':
        stopReason = event.delta.stop_reason ?? stopReason;
        usage.outputTokens = event.usage.output_tokens;
        if (event.usage.input_tokens !== null && event.usage.input_tokens !== undefined) usage.inputTokens = inputTokens(event.usage);
        break;
      default:
        break;
    }
  }
  const toolCalls: ToolCall[] = [];
  for (const [, b] of [...blocks.entries()].sort(([x], [y]) => x - y)) {
    if (b.kind === 'tool') toolCalls.push({ id: b.id, name: b.name, arguments: parseToolArguments(PROVIDER, req.model, b.name, b.json) });
    if (b.kind === 'answer') parseToolArguments(PROVIDER, req.model, b.name, b.json);
  }
  return { text, toolCalls, usage, stopReason, ttftMs };
}

/** System messages go to `system`; tool results become user `tool_result` blocks; same-role turns merge. */
function toAnthropicMessages(messages: readonly ChatMessage[]): MessageParam[] {
  const out: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    let role: 'user' | 'assistant';
    let content: ContentBlockParam[];
    if (m.role === 'tool') {
      role = 'user';
      content = [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: m.content }];
    } else if (m.role === 'assistant') {
      role = 'assistant';
      content = [
        ...(m.content ? [{ type: 'text' as const, text: m.content }] : []),
        ...(m.toolCalls ?? []).map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.arguments ?? {} })),
      ];
    } else {
      role = 'user';
      content = [{ type: 'text', text: m.content }];
    }
    const last = out.at(-1);
    if (last && last.role === role) last.content.push(...content);
    else out.push({ role, content });
  }
  // A lone text block is sent as a plain string, the API's most common form.
  return out.map((m) =>
    m.content.length === 1 && m.content[0]!.type === 'text' ? { role: m.role, content: m.content[0]!.text } : m,
  );
}

function stopReason(reason: string | null | undefined): ChatResponse['finishReason'] {
  if (reason === 'max_tokens') return 'length';
  if (reason === 'tool_use') return 'tool_calls';
  if (reason === 'refusal') return 'error';
  return 'stop';
}

function mapError(err: unknown, model: string, timeoutMs: number): unknown {
  if (err instanceof Anthropic.APIUserAbortError) return abortError(PROVIDER, model, err);
  if (err instanceof Anthropic.APIConnectionTimeoutError) return timeoutError(PROVIDER, model, timeoutMs, err);
  if (err instanceof Anthropic.APIConnectionError) {
    return llmError('LLM_PROVIDER_ERROR', `${PROVIDER} connection error: ${err.message}`, { provider: PROVIDER, model, retryable: true }, err);
  }
  if (err instanceof Anthropic.APIError && typeof err.status === 'number') {
    return httpError(PROVIDER, model, err.status, err.message, err.headers, err);
  }
  return err;
}
