import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import type { ChatRequest, LlmClient } from '../src/core/llm.js';
import { createDb } from '../db/connection.js';
import { createLogger } from '../src/logger.js';
import { isRetryableLlmError, parseRetryAfter } from '../src/llm/errors.js';
import { costOf, DEFAULT_PRICES } from '../src/llm/prices.js';
import { createLlmRouter } from '../src/llm/router.js';
import { createTestContext, TEST_DATABASE_URL, type TestContext } from './helpers/context.js';
import { startFakeLlmServer, type FakeLlmServer } from './helpers/fake-llm-server.js';

/**
 * The router over the real OpenAI and Anthropic SDKs, pointed at a local fake
 * server: retries, Retry-After, fallback, timeouts, aborts and llm_calls rows.
 */
let server: FakeLlmServer;
let ctx: TestContext;
let waits: number[];
let seq = 0;

beforeAll(async () => {
  server = await startFakeLlmServer();
  ctx = await createTestContext('llm-router', {
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: server.openaiBaseUrl,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: server.anthropicBaseUrl,
    LLM_MAX_RETRIES: '2',
  });
});
afterAll(async () => {
  await ctx?.cleanup();
  await server?.close();
});
beforeEach(() => {
  server.reset();
  waits = [];
});

/** Routers made by this file: a task call's record is written off the call's path (see callsOf). */
const routers: LlmClient[] = [];
function router(over: Partial<TestContext['config']> = {}) {
  const r = createLlmRouter({
    config: { ...ctx.config, ...over },
    db: ctx.deps.db,
    logger: ctx.deps.logger,
    sleep: async (ms) => void waits.push(ms),
    random: () => 0.5,
  });
  routers.push(r);
  return r;
}

/** A request tagged with a unique agent name, so its llm_calls rows can be found. */
function request(over: Partial<ChatRequest> = {}): ChatRequest {
  seq += 1;
  return {
    provider: 'openai',
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Say hello.' },
    ],
    meta: { purpose: 'task', agentName: `agent-${seq}` },
    ...over,
  };
}

async function callsOf(req: ChatRequest) {
  await Promise.all(routers.map((r) => r.settled?.()));
  return ctx.deps.db
    .selectFrom('llm_calls')
    .selectAll()
    .where('agent_name', '=', req.meta.agentName!)
    .orderBy('id')
    .execute();
}

describe('retries', () => {
  it('waits exactly Retry-After after a 429, then succeeds', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after': '1' } });
    const req = request();
    const res = await router().chat(req);
    expect(res.text).toBe('Hello from the fake model.');
    expect(waits).toEqual([1000]);
    expect(server.requests).toHaveLength(2);
    const rows = await callsOf(req);
    expect(rows.map((r) => [r.outcome, r.attempt])).toEqual([
      ['rate_limited', 1],
      ['ok', 2],
    ]);
  });

  it('honours retry-after-ms over retry-after', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } });
    await router().chat(request());
    expect(waits).toEqual([250]);
  });

  it('retries a 500 with jittered exponential backoff, then succeeds', async () => {
    server.enqueue({ status: 500 }, { status: 503 });
    const req = request();
    const res = await router().chat(req);
    expect(res.provider).toBe('openai');
    // random() = 0.5 → half of 500 ms, then half of 1000 ms.
    expect(waits).toEqual([250, 500]);
    expect((await callsOf(req)).map((r) => r.outcome)).toEqual(['error', 'error', 'ok']);
  });

  it('does not retry a 400', async () => {
    server.enqueue({ status: 400 });
    const req = request();
    const err = await router().chat(req).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('LLM_BAD_REQUEST');
    expect(err.category).toBe('unprocessable');
    expect(isRetryableLlmError(err)).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect((await callsOf(req)).map((r) => r.outcome)).toEqual(['error']);
  });

  it('gives up on a Retry-After too long to wait, with LLM_RATE_LIMITED and retryAfterS for the queue', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after': '120' } });
    const err = await router().chat(request()).catch((e) => e);
    expect(err.code).toBe('LLM_RATE_LIMITED');
    expect(err.category).toBe('rate_limited');
    expect(err.retryAfterS).toBe(120);
    expect(isRetryableLlmError(err)).toBe(true);
    expect(waits).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('parses Retry-After given as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), now)).toBe(30_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });
});

describe('fallback', () => {
  it('moves to the next provider of LLM_FALLBACK when one keeps failing', async () => {
    server.enqueue({ status: 500 }, { status: 500 });
    const req = request();
    const res = await router({ LLM_MAX_RETRIES: 1, LLM_FALLBACK: 'anthropic:claude-3-5-haiku-latest' }).chat(req);
    expect(res.provider).toBe('anthropic');
    expect(res.model).toBe('claude-3-5-haiku-latest');
    expect(server.requests.map((r) => r.api)).toEqual(['openai', 'openai', 'anthropic']);
    const rows = await callsOf(req);
    expect(rows.map((r) => [r.provider, r.outcome, r.attempt])).toEqual([
      ['openai', 'error', 1],
      ['openai', 'error', 2],
      ['anthropic', 'ok', 3],
    ]);
    expect(rows[2]!.cost).toBeCloseTo(costOf(DEFAULT_PRICES, 'anthropic', 'claude-3-5-haiku-latest', 11, 7), 12);
  });

  it('falls back at once when the provider rejects the credentials (401)', async () => {
    server.enqueue({ status: 401 });
    const res = await router({ LLM_FALLBACK: 'simulated:gpt-4o-mini' }).chat(request());
    expect(res.provider).toBe('simulated');
    expect(waits).toEqual([]);
  });

  it('uses the fallback when the requested provider is not configured', async () => {
    const res = await router({ LLM_FALLBACK: 'simulated:gpt-4o' }).chat(request({ provider: 'mistral', model: 'mistral-large' }));
    expect(res.provider).toBe('simulated');
    expect(res.model).toBe('gpt-4o');
  });
});

describe('timeouts and aborts', () => {
  it('turns a response slower than LLM_TIMEOUT_MS into LLM_TIMEOUT', async () => {
    server.enqueue({ delayMs: 10_000 });
    const req = request();
    const err = await router({ LLM_TIMEOUT_MS: 200, LLM_MAX_RETRIES: 0 }).chat(req).catch((e) => e);
    expect(err.code).toBe('LLM_TIMEOUT');
    expect(isRetryableLlmError(err)).toBe(true);
    expect((await callsOf(req)).map((r) => r.outcome)).toEqual(['timeout']);
  });

  it('retries after a timeout', async () => {
    server.enqueue({ delayMs: 10_000 });
    const res = await router({ LLM_TIMEOUT_MS: 200, LLM_MAX_RETRIES: 1 }).chat(request());
    expect(res.text).toBe('Hello from the fake model.');
    expect(server.requests).toHaveLength(2);
  });

  it("stops on the caller's abort with LLM_ABORTED and does not retry", async () => {
    server.enqueue({ delayMs: 10_000 }, { delayMs: 10_000 });
    const controller = new AbortController();
    const req = request({ signal: controller.signal });
    const call = router().chat(req);
    await until(() => server.requests.length === 1);
    controller.abort();
    const err = await call.catch((e) => e);
    expect(err.code).toBe('LLM_ABORTED');
    expect(isRetryableLlmError(err)).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect((await callsOf(req)).map((r) => r.outcome)).toEqual(['aborted']);
  });

  it('does not call at all when the signal is already aborted', async () => {
    const err = await router().chat(request({ signal: AbortSignal.abort() })).catch((e) => e);
    expect(err.code).toBe('LLM_ABORTED');
    expect(server.requests).toHaveLength(0);
  });
});

describe('recording', () => {
  it('records who made the call, its tokens and its cost', async () => {
    const user = await ctx.deps.db.insertInto('users').values({ subject: `sub-${seq}` }).returning('id').executeTakeFirstOrThrow();
    const project = await ctx.deps.db
      .insertInto('user_projects')
      .values({ user_id: user.id, name: 'p', settings: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();
    server.reply = { text: 'ok', usage: { input: 1200, output: 340 } };
    const req = request({ meta: { purpose: 'synthesis', userId: user.id, projectId: project.id, agentName: 'manager', estimatedCostUsd: 0.01 } });
    const res = await router().chat(req);
    const row = (await callsOf(req))[0]!;
    expect(row).toMatchObject({
      user_id: user.id,
      project_id: project.id,
      purpose: 'synthesis',
      provider: 'openai',
      model: 'gpt-4o-mini',
      input_tokens: 1200,
      output_tokens: 340,
      outcome: 'ok',
      estimated_cost: 0.01,
      error: null,
    });
    expect(row.cost).toBeCloseTo(costOf(DEFAULT_PRICES, 'openai', 'gpt-4o-mini', 1200, 340), 12);
    expect(res.costUsd).toBeCloseTo(row.cost, 12);
  });

  it('still returns the answer when the llm_calls insert fails, and logs it', async () => {
    const lines: string[] = [];
    const logger = createLogger('error', { destination: { write: (l: string) => void lines.push(l) } });
    const brokenDb = createDb({ url: TEST_DATABASE_URL, schema: 'no_such_schema_llm', poolSize: 1 });
    try {
      const r = createLlmRouter({ config: ctx.config, db: brokenDb, logger });
      const res = await r.chat(request());
      expect(res.text).toBe('Hello from the fake model.');
      await r.settled?.();
      expect(lines.join('')).toContain('could not record llm call');
    } finally {
      await brokenDb.destroy();
    }
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
