import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { ScriptedLlm, seedProject, toolContext, type Owner } from './tools-fixtures.js';
import type { ChatRequest, ChatResponse, LlmClient } from '../src/core/llm.js';
import { createToolRegistry, defaultTools } from '../src/tools/registry.js';
import { createSqlProjectMemory } from '../src/tools/sql-project-memory.js';
import type { ToolContext } from '../src/tools/tool.js';
import { FINAL_ANSWER_PROMPT, runToolLoop, type ToolCallRecord } from '../src/tools/tool-loop.js';

let t: TestContext;
let owner: Owner;
let ctx: ToolContext;
const registry = createToolRegistry(defaultTools());

const request: Omit<ChatRequest, 'tools'> = {
  provider: 'scripted',
  model: 'scripted-1',
  messages: [
    { role: 'system', content: 'You are a careful analyst.' },
    { role: 'user', content: 'What is 15% of 1200, and remember it.' },
  ],
  meta: { purpose: 'task' },
};

beforeAll(async () => {
  t = await createTestContext('tools_loop');
  owner = await seedProject(t.deps.db);
  ctx = toolContext(t.deps.db, owner, { memory: createSqlProjectMemory(t.deps.db) });
});
afterAll(() => t.cleanup());

/** Asks for the calculator whenever tools are offered; answers in text when they are not. */
class ToolHungryLlm implements LlmClient {
  readonly requests: ChatRequest[] = [];
  constructor(private readonly delayMs = 0) {}
  async chat(req: ChatRequest): Promise<ChatResponse> {
    this.requests.push(req);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const n = this.requests.length;
    const wantsTool = (req.tools?.length ?? 0) > 0;
    return {
      text: wantsTool ? '' : 'best answer without more tools',
      toolCalls: wantsTool ? [{ id: `c${n}`, name: 'calculator', arguments: { expression: `${n} + 1` } }] : [],
      usage: { inputTokens: 100, outputTokens: 10 },
      costUsd: 0.01,
      provider: 'scripted',
      model: 'm',
      latencyMs: this.delayMs,
      finishReason: wantsTool ? 'tool_calls' : 'stop',
    };
  }
}

describe('the tool loop', () => {
  it('runs tool calls over several steps, then returns the final answer', async () => {
    const llm = new ScriptedLlm([
      { calls: [{ name: 'calculator', arguments: { expression: '1200 * 0.15' } }] },
      {
        calls: [
          { name: 'project_memory_write', arguments: { content: '15% of 1200 is 180', kind: 'fact' } },
          { name: 'project_memory_search', arguments: { query: '1200' } },
        ],
      },
      { text: '15% of 1200 is 180.' },
    ]);
    const seen: ToolCallRecord[] = [];
    const allowlist = ['calculator', 'project_memory_search', 'project_memory_write'];
    const result = await runToolLoop({ llm, request, registry, allowlist, ctx, onToolCall: (c) => void seen.push(c) });

    expect(result.response.text).toBe('15% of 1200 is 180.');
    expect(result.steps).toBe(3);
    expect(result.exhausted).toBeUndefined();
    expect(result.usage).toEqual({ inputTokens: 30, outputTokens: 15 });
    expect(result.costUsd).toBeCloseTo(0.003, 10);
    expect(result.toolCalls).toEqual([
      { id: 'call_1_0', tool: 'calculator', input: { expression: '1200 * 0.15' }, output: { expression: '1200 * 0.15', result: 180 } },
      { id: 'call_2_0', tool: 'project_memory_write', input: { content: '15% of 1200 is 180', kind: 'fact' }, output: { saved: true } },
      { id: 'call_2_1', tool: 'project_memory_search', input: { query: '1200' }, output: { results: [{ content: '15% of 1200 is 180', score: expect.any(Number) }] } },
    ]);
    expect(seen).toEqual(result.toolCalls);

    // Every call offered exactly the allowed tools.
    for (const req of llm.requests) expect(req.tools?.map((s) => s.name)).toEqual(allowlist);
    // The third call saw the whole exchange, each result answering its call id.
    const third = llm.requests[2]!.messages;
    expect(third.slice(0, 2)).toEqual(request.messages);
    expect(third.slice(2).map((m) => [m.role, m.toolCallId ?? m.toolCalls?.map((c) => c.id).join(',')])).toEqual([
      ['assistant', 'call_1_0'],
      ['tool', 'call_1_0'],
      ['assistant', 'call_2_0,call_2_1'],
      ['tool', 'call_2_0'],
      ['tool', 'call_2_1'],
    ]);
    expect(JSON.parse(third[3]!.content)).toEqual({ ok: true, output: { expression: '1200 * 0.15', result: 180 } });
  });

  it('makes one final call without tools when maxSteps is reached', async () => {
    const llm = new ToolHungryLlm();
    const calls: string[] = [];
    const result = await runToolLoop({ llm, request, registry, allowlist: ['calculator'], ctx, maxSteps: 3, onToolCall: (c) => void calls.push(c.id) });

    expect(result.exhausted).toBe('steps');
    expect(result.steps).toBe(4);
    expect(calls).toEqual(['c1', 'c2']);
    expect(result.response.text).toBe('best answer without more tools');
    expect(result.response.toolCalls).toEqual([]);
    const last = llm.requests[3]!;
    expect(last.tools).toBeUndefined();
    expect(last.messages.at(-1)).toEqual({ role: 'user', content: FINAL_ANSWER_PROMPT });
    expect(result.costUsd).toBeCloseTo(0.04, 10);
  });

  it('stops calling tools when maxMs has elapsed', async () => {
    const llm = new ToolHungryLlm(60);
    const result = await runToolLoop({ llm, request, registry, allowlist: ['calculator'], ctx, maxMs: 100 });
    expect(result.exhausted).toBe('time');
    expect(result.steps).toBeLessThanOrEqual(3);
    expect(llm.requests.at(-1)!.tools).toBeUndefined();
    expect(result.response.text).toBe('best answer without more tools');
  });

  it('offers no tools to an agent without any, and answers in one call', async () => {
    const llm = new ScriptedLlm([{ text: 'plain answer' }]);
    const result = await runToolLoop({ llm, request, registry, allowlist: [], ctx });
    expect(result).toMatchObject({ steps: 1, toolCalls: [], response: { text: 'plain answer' } });
    expect(llm.requests[0]!.tools).toBeUndefined();
  });

  it('reports refused and failed calls to the model and to onToolCall', async () => {
    const llm = new ScriptedLlm([
      {
        calls: [
          { name: 'http_fetch', arguments: { url: 'https://example.com' } },
          { name: 'calculator', arguments: { expression: '1/0' } },
          { name: 'calculator', arguments: { expression: 3 } },
        ],
      },
      { text: 'could not' },
    ]);
    const seen: ToolCallRecord[] = [];
    const result = await runToolLoop({ llm, request, registry, allowlist: ['calculator'], ctx, onToolCall: (c) => void seen.push(c) });
    expect(seen.map((c) => c.error?.code)).toEqual(['TOOL_NOT_ALLOWED', 'CALCULATOR_ERROR', 'TOOL_INVALID_INPUT']);
    expect(result.toolCalls).toEqual(seen);
    const toolMessages = llm.requests[1]!.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content));
    expect(toolMessages.map((m) => [m.ok, m.error.code])).toEqual([
      [false, 'TOOL_NOT_ALLOWED'],
      [false, 'CALCULATOR_ERROR'],
      [false, 'TOOL_INVALID_INPUT'],
    ]);
  });

  it('stops and rethrows when the task is aborted between tool calls', async () => {
    const controller = new AbortController();
    const llm = new ToolHungryLlm();
    const reason = new Error('task cancelled');
    const run = runToolLoop({
      llm,
      request,
      registry,
      allowlist: ['calculator'],
      ctx: { ...ctx, signal: controller.signal },
      onToolCall: () => controller.abort(reason),
    });
    await expect(run).rejects.toBe(reason);
    expect(llm.requests).toHaveLength(1);
  });

  it('stops and rethrows when the task is aborted during a model call', async () => {
    const controller = new AbortController();
    const llm = new ScriptedLlm([{ text: 'too late' }], { delayMs: 5_000 });
    const reason = new Error('task cancelled');
    const started = Date.now();
    const run = runToolLoop({ llm, request, registry, allowlist: ['calculator'], ctx: { ...ctx, signal: controller.signal } });
    setTimeout(() => controller.abort(reason), 20);
    await expect(run).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
