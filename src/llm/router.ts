import type { Insertable, Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database, LlmCallOutcome } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import { AppError } from '../core/errors.js';
import type { ChatRequest, ChatResponse, LlmClient } from '../core/llm.js';
import { createAnthropicProvider } from './anthropic-provider.js';
import { abortError, llmDetails, llmError, timeoutError } from './errors.js';
import { createOpenAiProvider } from './openai-provider.js';
import { isKnownModel, loadPriceTable, type PriceTable } from './prices.js';
import { createSimulatedProvider, SIMULATED } from './simulated-provider.js';
import { abortableSleep, type Sleep } from './sleep.js';
import { keyedBatcher } from '../util/batcher.js';

export interface LlmRouterOptions {
  config: Config;
  db: Kysely<Database>;
  logger: Logger;
  /** Providers by name; defaults to those the configuration enables (simulated always). */
  providers?: Record<string, LlmClient>;
  prices?: PriceTable;
  /** Waits between retries; tests inject one that records the delay. */
  sleep?: Sleep;
  /** Backoff base and cap for retries without Retry-After (full jitter). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** A Retry-After longer than this skips to the next provider instead of waiting. */
  maxRetryAfterMs?: number;
  random?: () => number;
  /** Called for every attempt recorded in `llm_calls` (metrics); must not throw. */
  onCall?: (call: LlmCallRecorded) => void;
}

/** What `onCall` receives: the bounded facts of one recorded attempt. */
export interface LlmCallRecorded {
  provider: string;
  model: string;
  purpose: string;
  outcome: LlmCallOutcome;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
}

interface Target {
  provider: string;
  model: string;
}

/** The providers the configuration enables. */
export function configuredProviders(config: Config, prices: PriceTable): Record<string, LlmClient> {
  const providers: Record<string, LlmClient> = {
    [SIMULATED]: createSimulatedProvider({ latencyMs: config.SIMULATED_LATENCY_MS, prices }),
  };
  if (config.OPENAI_API_KEY || config.OPENAI_BASE_URL) {
    providers.openai = createOpenAiProvider({
      apiKey: config.OPENAI_API_KEY,
      baseURL: config.OPENAI_BASE_URL,
      timeoutMs: config.LLM_TIMEOUT_MS,
      prices,
    });
  }
  if (config.ANTHROPIC_API_KEY) {
    providers.anthropic = createAnthropicProvider({
      apiKey: config.ANTHROPIC_API_KEY,
      baseURL: config.ANTHROPIC_BASE_URL,
      timeoutMs: config.LLM_TIMEOUT_MS,
      prices,
    });
  }
  return providers;
}

/** `"anthropic:claude-3-5-haiku-latest, simulated:gpt-4o-mini"` → targets (bad entries are a config error). */
export function parseFallback(value: string): Target[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry) => {
      const at = entry.indexOf(':');
      if (at <= 0 || at === entry.length - 1) {
        throw new AppError('LLM_FALLBACK_INVALID', 'system', `LLM_FALLBACK entry "${entry}" is not provider:model`);
      }
      return { provider: entry.slice(0, at), model: entry.slice(at + 1) };
    });
}

/**
 * The `LlmClient` the service uses: picks the provider, retries transient
 * failures (exponential backoff with full jitter, Retry-After honoured),
 * falls back along LLM_FALLBACK, bounds each attempt by LLM_TIMEOUT_MS, and
 * records every attempt in `llm_calls`.
 *
 * Not retried: caller aborts, bad requests, rejected credentials (those fall
 * back), scripted simulated failures (they exist to exercise the job-level
 * retry), and anything after a streamed delta reached the caller (a retry
 * would repeat text the caller already showed).
 */
export function createLlmRouter(opts: LlmRouterOptions): LlmClient {
  const { config, db, logger } = opts;
  const prices = opts.prices ?? loadPriceTable(config.PRICES_FILE);
  const providers = opts.providers ?? configuredProviders(config, prices);
  const fallback = parseFallback(config.LLM_FALLBACK);
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  const baseMs = opts.backoffBaseMs ?? 500;
  const capMs = opts.backoffCapMs ?? 8_000;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
  const warnedUnpriced = new Set<string>();
  /** Call records written off the caller's path, awaited by settled(). */
  const writing = new Set<Promise<void>>();
  // Calls that end together (a fan-out's tasks) are recorded by one INSERT;
  // a batch that fails is retried row by row so one bad row loses no other.
  type CallRow = Insertable<Database['llm_calls']>;
  const insertCalls = keyedBatcher(async (_key: string, rows: CallRow[]) => {
    try {
      await db.insertInto('llm_calls').values(rows).execute();
      return rows.map(() => undefined);
    } catch (err) {
      if (rows.length === 1) throw err;
      return Promise.all(rows.map((row) => db.insertInto('llm_calls').values(row).execute().then(() => undefined)));
    }
  });

  async function record(req: ChatRequest, target: Target, attempt: number, outcome: LlmCallOutcome, res?: ChatResponse, err?: unknown, latencyMs = 0) {
    const m = req.meta;
    try {
      opts.onCall?.({
        provider: res?.provider ?? target.provider, model: res?.model ?? target.model, purpose: m.purpose, outcome,
        inputTokens: res?.usage.inputTokens ?? 0, outputTokens: res?.usage.outputTokens ?? 0, costUsd: res?.costUsd ?? 0,
        latencyMs: res?.latencyMs ?? latencyMs,
      });
    } catch (hookErr) {
      logger.warn({ err: hookErr }, 'llm call hook failed');
    }
    try {
      await insertCalls('', {
      user_id: m.userId ?? null,
      project_id: m.projectId ?? null,
      plan_id: m.planId ?? null,
      task_id: m.taskRowId ?? null,
      agent_id: m.agentId ?? null,
      agent_name: m.agentName ?? null,
      purpose: m.purpose,
      provider: res?.provider ?? target.provider,
      model: res?.model ?? target.model,
      input_tokens: res?.usage.inputTokens ?? 0,
      output_tokens: res?.usage.outputTokens ?? 0,
      cost: res?.costUsd ?? 0,
      estimated_cost: m.estimatedCostUsd ?? null,
      latency_ms: Math.round(res?.latencyMs ?? latencyMs),
      ttft_ms: res?.ttftMs === undefined ? null : Math.round(res.ttftMs),
      outcome,
      error: err === undefined ? null : err instanceof Error ? `${err instanceof AppError ? `${err.code}: ` : ''}${err.message}`.slice(0, 2000) : String(err),
      attempt,
      });
    } catch (insertErr) {
      logger.error({ err: insertErr, purpose: m.purpose, provider: target.provider }, 'could not record llm call');
    }
  }

  function chain(req: ChatRequest): Target[] {
    const targets: Target[] = [];
    for (const t of [{ provider: req.provider, model: req.model }, ...fallback]) {
      if (providers[t.provider] && !targets.some((x) => x.provider === t.provider && x.model === t.model)) targets.push(t);
    }
    return targets;
  }

  function delayFor(err: unknown, retry: number): number {
    const retryAfterMs = llmDetails(err)?.retryAfterMs;
    if (retryAfterMs !== undefined) return retryAfterMs;
    return Math.floor(random() * Math.min(capMs, baseMs * 2 ** (retry - 1)));
  }

  return {
    async settled() {
      while (writing.size > 0) await Promise.allSettled([...writing]);
    },
    async chat(req: ChatRequest): Promise<ChatResponse> {
      const targets = chain(req);
      if (targets.length === 0) {
        throw llmError(
          'LLM_PROVIDER_NOT_CONFIGURED',
          `LLM provider "${req.provider}" is not configured and LLM_FALLBACK offers none that is`,
          { provider: req.provider, model: req.model, retryable: false },
        );
      }
      let attempt = 0;
      let lastError: unknown;
      let deltaSent = false;
      const onDelta = req.onDelta && ((text: string) => {
        deltaSent = true;
        req.onDelta!(text);
      });

      for (const target of targets) {
        const provider = providers[target.provider]!;
        for (let retry = 0; retry <= config.LLM_MAX_RETRIES; retry++) {
          attempt += 1;
          if (req.signal?.aborted) throw abortError(target.provider, target.model, req.signal.reason);
          const timeout = AbortSignal.timeout(config.LLM_TIMEOUT_MS);
          const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
          const started = Date.now();
          try {
            const res = await provider.chat({ ...req, provider: target.provider, model: target.model, signal, onDelta });
            if (!isKnownModel(prices, res.provider, res.model) && !warnedUnpriced.has(`${res.provider}/${res.model}`)) {
              warnedUnpriced.add(`${res.provider}/${res.model}`);
              logger.warn({ provider: res.provider, model: res.model }, 'model has no price: its calls are recorded at $0');
            }
            // A task's own row carries its cost and tokens (and the plan's total
            // counts them), so its call record is off the task's critical path;
            // every other call (planning, synthesis) is recorded before it returns.
            const recorded = record(req, target, attempt, 'ok', res);
            if (req.meta.purpose !== 'task') await recorded;
            else {
              writing.add(recorded);
              void recorded.finally(() => writing.delete(recorded));
            }
            return res;
          } catch (raw) {
            const err = req.signal?.aborted
              ? abortError(target.provider, target.model, raw)
              : timeout.aborted
                ? timeoutError(target.provider, target.model, config.LLM_TIMEOUT_MS, raw)
                : raw;
            await record(req, target, attempt, outcomeOf(err), undefined, err, Date.now() - started);
            lastError = err;
            const d = llmDetails(err);
            const code = err instanceof AppError ? err.code : undefined;
            if (code === 'LLM_ABORTED' || d?.simulated || deltaSent) throw err;
            if (code === 'LLM_PROVIDER_REJECTED') break;
            if (d ? !d.retryable : err instanceof AppError) throw err;
            if (retry === config.LLM_MAX_RETRIES) break;
            const wait = delayFor(err, retry + 1);
            if (wait > maxRetryAfterMs) break;
            logger.debug({ provider: target.provider, model: target.model, attempt, waitMs: wait, code }, 'retrying llm call');
            try {
              await sleep(wait, req.signal);
            } catch (cause) {
              throw abortError(target.provider, target.model, cause);
            }
          }
        }
        logger.warn({ provider: target.provider, model: target.model, err: lastError }, 'llm provider failed, trying the next');
      }
      throw lastError;
    },
  };
}

function outcomeOf(err: unknown): LlmCallOutcome {
  const code = err instanceof AppError ? err.code : undefined;
  if (code === 'LLM_TIMEOUT') return 'timeout';
  if (code === 'LLM_ABORTED') return 'aborted';
  if (code === 'LLM_RATE_LIMITED') return 'rate_limited';
  return 'error';
}
