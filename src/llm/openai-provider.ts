import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions/completions';
import type { ChatMessage, ChatRequest, ChatResponse, LlmClient, ToolCall } from '../core/llm.js';
import { abortError, httpError, llmError, parseToolArguments, timeoutError } from './errors.js';
import { DEFAULT_PRICES, type PriceTable } from './prices.js';
import { priceCall } from './pricing.js';
import { countMessagesTokens, countTokens } from './tokens.js';

export interface OpenAiProviderOptions {
  apiKey?: string;
  /** Any OpenAI-compatible server (Ollama, vLLM, LiteLLM…); api.openai.com when unset. */
  baseURL?: string;
  timeoutMs: number;
  prices?: PriceTable;
  /** Name written in responses and `llm_calls` (default `openai`). */
  name?: string;
}

/**
 * Chat completions through the official SDK. The SDK's own retries are off:
 * the router retries, and it must see (and record) every attempt.
 */
export function createOpenAiProvider(opts: OpenAiProviderOptions): LlmClient {
  const name = opts.name ?? 'openai';
  const prices = opts.prices ?? DEFAULT_PRICES;
  const client = new OpenAI({
    // Local OpenAI-compatible servers need no key, but the SDK insists on one.
    apiKey: opts.apiKey ?? 'unused',
    // Explicit, so the SDK never falls back to reading the environment itself.
    baseURL: opts.baseURL ?? 'https://api.openai.com/v1',
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: opts.timeoutMs,
  });
  // api.openai.com rejects `max_tokens` for reasoning models; many compatible servers only know it.
  const maxTokensField = opts.baseURL ? 'max_tokens' : 'max_completion_tokens';

  return {
    async chat(req: ChatRequest): Promise<ChatResponse> {
      const started = Date.now();
      const params: ChatCompletionCreateParamsBase = {
        model: req.model,
        messages: req.messages.map(toOpenAiMessage),
      };
      if (req.tools?.length) {
        params.tools = req.tools.map((t) => ({
          type: 'function',
          function: { name: t.name, description: t.description, parameters: t.parameters },
        }));
      }
      if (req.responseSchema) {
        params.response_format = {
          type: 'json_schema',
          json_schema: { name: req.responseSchema.name, schema: req.responseSchema.schema, strict: true },
        };
      }
      // Reasoning models (o-series, gpt-5) accept only the default temperature.
      if (req.temperature !== undefined && !/^(o\d|gpt-5)/.test(req.model)) params.temperature = req.temperature;
      if (req.maxOutputTokens !== undefined) params[maxTokensField] = req.maxOutputTokens;

      try {
        const result = req.onDelta ? await streamed(client, params, req, started) : await plain(client, params, req);
        const usage = result.usage ?? {
          inputTokens: countMessagesTokens(req.messages, name, req.model),
          outputTokens: countTokens(result.text, name, req.model),
        };
        return {
          text: result.text,
          toolCalls: result.toolCalls,
          usage,
          costUsd: priceCall(prices, name, req.model, usage.inputTokens, usage.outputTokens),
          provider: name,
          model: req.model,
          latencyMs: Date.now() - started,
          ttftMs: result.ttftMs,
          finishReason: result.finishReason,
        };
      } catch (err) {
        throw mapError(err, name, req.model, opts.timeoutMs);
      }
    },
  };
}

interface Result {
  text: string;
  toolCalls: ToolCall[];
  usage?: { inputTokens: number; outputTokens: number };
  ttftMs?: number;
  finishReason: ChatResponse['finishReason'];
}

async function plain(client: OpenAI, params: ChatCompletionCreateParamsBase, req: ChatRequest): Promise<Result> {
  const res = await client.chat.completions.create({ ...params, stream: false }, { signal: req.signal });
  const choice = res.choices[0];
  const toolCalls = (choice?.message.tool_calls ?? []).flatMap((c) =>
    c.type === 'function'
      ? [{ id: c.id, name: c.function.name, arguments: parseToolArguments('openai', req.model, c.function.name, c.function.arguments) }]
      : [],
  );
  return {
    text: choice?.message.content ?? '',
    toolCalls,
    usage: res.usage ? { inputTokens: res.usage.prompt_tokens, outputTokens: res.usage.completion_tokens } : undefined,
    finishReason: finishReason(choice?.finish_reason, toolCalls.length),
  };
}

async function streamed(client: OpenAI, params: ChatCompletionCreateParamsBase, req: ChatRequest, started: number): Promise<Result> {
  const stream = await client.chat.completions.create(
    { ...params, stream: true, stream_options: { include_usage: true } },
    { signal: req.signal },
  );
  let text = '';
  let ttftMs: number | undefined;
  let usage: Result['usage'];
  let reason: string | null | undefined;
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for await (const chunk of stream) {
    if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
    const choice = chunk.choices[0];
    if (!choice) continue;
    const delta = choice.delta;
    if (delta.content) {
      ttftMs ??= Date.now() - started;
      text += delta.content;
      req.onDelta!(delta.content);
    }
    for (const part of delta.tool_calls ?? []) {
      ttftMs ??= Date.now() - started;
      const call = calls.get(part.index) ?? { id: '', name: '', args: '' };
      if (part.id) call.id = part.id;
      if (part.function?.name) call.name += part.function.name;
      if (part.function?.arguments) call.args += part.function.arguments;
      calls.set(part.index, call);
    }
    if (choice.finish_reason) reason = choice.finish_reason;
  }
  const toolCalls = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, c]) => ({ id: c.id, name: c.name, arguments: parseToolArguments('openai', req.model, c.name, c.args) }));
  return { text, toolCalls, usage, ttftMs, finishReason: finishReason(reason, toolCalls.length) };
}

function toOpenAiMessage(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
      return { role: 'system', content: m.content };
    case 'user':
      return { role: 'user', content: m.content };
    case 'tool':
      return { role: 'tool', content: m.content, tool_call_id: m.toolCallId ?? '' };
    case 'assistant':
      return m.toolCalls?.length
        ? {
            role: 'assistant',
            content: m.content === '' ? null : m.content,
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: 'function',
              function: { name: c.name, arguments: JSON.stringify(c.arguments ?? {}) },
            })),
          }
        : { role: 'assistant', content: m.content };
  }
}

function finishReason(reason: string | null | undefined, toolCalls: number): ChatResponse['finishReason'] {
  if (toolCalls > 0 || reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  if (reason === 'length') return 'length';
  if (reason === 'content_filter') return 'error';
  return 'stop';
}

function mapError(err: unknown, provider: string, model: string, timeoutMs: number): unknown {
  if (err instanceof OpenAI.APIUserAbortError) return abortError(provider, model, err);
  if (err instanceof OpenAI.APIConnectionTimeoutError) return timeoutError(provider, model, timeoutMs, err);
  if (err instanceof OpenAI.APIConnectionError) {
    return llmError('LLM_PROVIDER_ERROR', `${provider} connection error: ${err.message}`, { provider, model, retryable: true }, err);
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    return httpError(provider, model, err.status, err.message, err.headers, err);
  }
  return err;
}
