import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage, ChatRequest, LlmClient } from '../src/core/llm.js';
import { createAnthropicProvider } from '../src/llm/anthropic-provider.js';
import { createOpenAiProvider } from '../src/llm/openai-provider.js';
import { costOf, DEFAULT_PRICES } from '../src/llm/prices.js';
import { startFakeLlmServer, type FakeLlmServer } from './helpers/fake-llm-server.js';

/** What each provider sends and how it reads answers, through the real SDKs. */
let server: FakeLlmServer;
let openai: LlmClient;
let anthropic: LlmClient;

beforeAll(async () => {
  server = await startFakeLlmServer();
  openai = createOpenAiProvider({ apiKey: 'sk-test', baseURL: server.openaiBaseUrl, timeoutMs: 5_000 });
  anthropic = createAnthropicProvider({ apiKey: 'sk-ant-test', baseURL: server.anthropicBaseUrl, timeoutMs: 5_000 });
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => server.reset());

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are the analyst.' },
  { role: 'user', content: 'What is 2+2 and 3*3?' },
  {
    role: 'assistant',
    content: '',
    toolCalls: [
      { id: 'call_a', name: 'calculator', arguments: { expression: '2+2' } },
      { id: 'call_b', name: 'calculator', arguments: { expression: '3*3' } },
    ],
  },
  { role: 'tool', content: '4', toolCallId: 'call_a' },
  { role: 'tool', content: '9', toolCallId: 'call_b' },
];

const calculator = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression.',
  parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'], additionalProperties: false },
};

const planSchema = {
  name: 'plan',
  schema: { type: 'object', properties: { tasks: { type: 'array', items: { type: 'string' } } }, required: ['tasks'], additionalProperties: false },
};

function req(over: Partial<ChatRequest>): ChatRequest {
  return { provider: 'openai', model: 'gpt-4o-mini', messages: conversation, meta: { purpose: 'task' }, ...over };
}

describe('OpenAI provider', () => {
  it('sends the model, the messages with tool calls and results, function tools and the output limit', async () => {
    await openai.chat(req({ tools: [calculator], temperature: 0.2, maxOutputTokens: 300 }));
    const body = server.requests[0]!.body;
    expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-test');
    expect(body.model).toBe('gpt-4o-mini');
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBe(300);
    expect(body.stream).toBeFalsy();
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are the analyst.' },
      { role: 'user', content: 'What is 2+2 and 3*3?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'calculator', arguments: '{"expression":"2+2"}' } },
          { id: 'call_b', type: 'function', function: { name: 'calculator', arguments: '{"expression":"3*3"}' } },
        ],
      },
      { role: 'tool', content: '4', tool_call_id: 'call_a' },
      { role: 'tool', content: '9', tool_call_id: 'call_b' },
    ]);
    expect(body.tools).toEqual([{ type: 'function', function: calculator }]);
  });

  it('asks for structured output with a strict json_schema response_format', async () => {
    server.reply = { text: '{"tasks":["a"]}' };
    const res = await openai.chat(req({ responseSchema: planSchema }));
    expect(server.requests[0]!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'plan', schema: planSchema.schema, strict: true },
    });
    expect(JSON.parse(res.text)).toEqual({ tasks: ['a'] });
  });

  it('returns text, usage and the cost of the model', async () => {
    server.reply = { text: 'Four and nine.', usage: { input: 1000, output: 50 } };
    const res = await openai.chat(req({}));
    expect(res).toMatchObject({ text: 'Four and nine.', provider: 'openai', model: 'gpt-4o-mini', finishReason: 'stop', toolCalls: [] });
    expect(res.usage).toEqual({ inputTokens: 1000, outputTokens: 50 });
    expect(res.costUsd).toBeCloseTo(costOf(DEFAULT_PRICES, 'openai', 'gpt-4o-mini', 1000, 50), 12);
  });

  it('normalises tool calls with parsed arguments', async () => {
    server.reply = { toolCalls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '6*7' } }] };
    const res = await openai.chat(req({ tools: [calculator] }));
    expect(res.finishReason).toBe('tool_calls');
    expect(res.toolCalls).toEqual([{ id: 'call_1', name: 'calculator', arguments: { expression: '6*7' } }]);
  });

  it('streams deltas in order that add up to the text, with usage from the last chunk', async () => {
    server.reply = { text: 'The quick brown fox jumps over the lazy dog.', usage: { input: 21, output: 12 } };
    const deltas: string[] = [];
    const res = await openai.chat(req({ onDelta: (d) => deltas.push(d) }));
    const body = server.requests[0]!.body;
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe('The quick brown fox jumps over the lazy dog.');
    expect(res.text).toBe(deltas.join(''));
    expect(res.usage).toEqual({ inputTokens: 21, outputTokens: 12 });
    expect(res.ttftMs).toBeTypeOf('number');
  });

  it('assembles streamed tool-call fragments', async () => {
    server.reply = {
      toolCalls: [
        { id: 'call_1', name: 'calculator', arguments: { expression: '1+1' } },
        { id: 'call_2', name: 'calculator', arguments: { expression: '10/4' } },
      ],
    };
    const res = await openai.chat(req({ tools: [calculator], onDelta: () => undefined }));
    expect(res.finishReason).toBe('tool_calls');
    expect(res.toolCalls).toEqual([
      { id: 'call_1', name: 'calculator', arguments: { expression: '1+1' } },
      { id: 'call_2', name: 'calculator', arguments: { expression: '10/4' } },
    ]);
  });

  it('maps HTTP failures to typed errors', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after': '3' } }, { status: 502 }, { status: 404 });
    const e429 = await openai.chat(req({})).catch((e) => e);
    const e502 = await openai.chat(req({})).catch((e) => e);
    const e404 = await openai.chat(req({})).catch((e) => e);
    expect([e429.code, e429.retryAfterS, e429.details.retryAfterMs]).toEqual(['LLM_RATE_LIMITED', 3, 3000]);
    expect([e502.code, e502.details.retryable]).toEqual(['LLM_PROVIDER_ERROR', true]);
    expect([e404.code, e404.details.retryable]).toEqual(['LLM_PROVIDER_REJECTED', false]);
  });
});

describe('Anthropic provider', () => {
  it('separates the system prompt and sends tool calls and results as content blocks', async () => {
    await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', tools: [calculator], maxOutputTokens: 500 }));
    const { body, headers } = server.requests[0]!;
    // This SDK version sends the key as a bearer token; older ones used x-api-key.
    expect(headers['x-api-key'] ?? headers.authorization).toMatch(/sk-ant-test$/);
    expect(body.model).toBe('claude-3-5-haiku-latest');
    expect(body.system).toBe('You are the analyst.');
    expect(body.max_tokens).toBe(500);
    expect(body.messages).toEqual([
      { role: 'user', content: 'What is 2+2 and 3*3?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_a', name: 'calculator', input: { expression: '2+2' } },
          { type: 'tool_use', id: 'call_b', name: 'calculator', input: { expression: '3*3' } },
        ],
      },
      // Both results in one user turn: the API requires alternating roles.
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_a', content: '4' },
          { type: 'tool_result', tool_use_id: 'call_b', content: '9' },
        ],
      },
    ]);
    expect(body.tools).toEqual([{ name: 'calculator', description: calculator.description, input_schema: calculator.parameters }]);
    expect(body.tool_choice).toBeUndefined();
  });

  it('forces a tool for structured output and returns its input as the text', async () => {
    server.reply = { text: '{"tasks":["x","y"]}' };
    const res = await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', responseSchema: planSchema }));
    const body = server.requests[0]!.body;
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'plan' });
    expect(body.tools).toContainEqual(expect.objectContaining({ name: 'plan', input_schema: planSchema.schema }));
    expect(JSON.parse(res.text)).toEqual({ tasks: ['x', 'y'] });
    expect(res.toolCalls).toEqual([]);
    expect(res.finishReason).toBe('stop');
  });

  it('returns text, tool_use calls, usage and cost', async () => {
    server.reply = { text: 'Let me compute.', toolCalls: [{ id: 'toolu_1', name: 'calculator', arguments: { expression: '5-3' } }], usage: { input: 800, output: 90 } };
    const res = await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', tools: [calculator] }));
    expect(res.text).toBe('Let me compute.');
    expect(res.toolCalls).toEqual([{ id: 'toolu_1', name: 'calculator', arguments: { expression: '5-3' } }]);
    expect(res.finishReason).toBe('tool_calls');
    expect(res.usage).toEqual({ inputTokens: 800, outputTokens: 90 });
    expect(res.costUsd).toBeCloseTo(costOf(DEFAULT_PRICES, 'anthropic', 'claude-3-5-haiku-latest', 800, 90), 12);
  });

  it('streams text deltas in order and assembles streamed tool input', async () => {
    server.reply = {
      text: 'Computing both values now.',
      toolCalls: [{ id: 'toolu_9', name: 'calculator', arguments: { expression: '12*12' } }],
      usage: { input: 33, output: 44 },
    };
    const deltas: string[] = [];
    const res = await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', tools: [calculator], onDelta: (d) => deltas.push(d) }));
    expect(server.requests[0]!.body.stream).toBe(true);
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.join('')).toBe('Computing both values now.');
    expect(res.text).toBe('Computing both values now.');
    expect(res.toolCalls).toEqual([{ id: 'toolu_9', name: 'calculator', arguments: { expression: '12*12' } }]);
    expect(res.usage).toEqual({ inputTokens: 33, outputTokens: 44 });
  });

  it('streams a forced-tool answer as text deltas', async () => {
    server.reply = { text: '{"tasks":["one","two","three"]}' };
    const deltas: string[] = [];
    const res = await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', responseSchema: planSchema, onDelta: (d) => deltas.push(d) }));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(res.text);
    expect(JSON.parse(res.text)).toEqual({ tasks: ['one', 'two', 'three'] });
  });

  it('maps an overloaded 529 to a retryable provider error', async () => {
    server.enqueue({ status: 529 });
    const err = await anthropic.chat(req({ provider: 'anthropic', model: 'claude-3-5-haiku-latest' })).catch((e) => e);
    expect([err.code, err.details.status, err.details.retryable]).toEqual(['LLM_PROVIDER_ERROR', 529, true]);
  });
});
