import OpenAI from 'openai';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { EmbedMeta, EmbedResult, Embedder } from '../core/embedding.js';
import { normalize } from '../core/embedding.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_PRICES, priceOf, type PriceTable } from '../llm/prices.js';

const KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

export interface OpenAIEmbedderOptions {
  apiKey?: string;
  /** Any OpenAI-compatible server (OPENAI_BASE_URL). */
  baseURL?: string;
  model?: string;
  /** Shortened vectors (text-embedding-3 models); otherwise the model's size. */
  dimensions?: number;
  /** Where each call is recorded (llm_calls, purpose 'embedding'). */
  db: Kysely<Database>;
  prices?: PriceTable;
  timeoutMs?: number;
  maxRetries?: number;
  /** Inputs per request (the API accepts up to 2048). */
  batchSize?: number;
}

/** Embeddings from the OpenAI API, each request recorded with its cost in llm_calls. */
export function createOpenAIEmbedder(opts: OpenAIEmbedderOptions): Embedder {
  const model = opts.model ?? 'text-embedding-3-small';
  const dimensions = opts.dimensions ?? KNOWN_DIMENSIONS[model];
  if (!dimensions) throw new Error(`openai embedder: unknown dimensions for ${model}; pass dimensions`);
  const price = priceOf(opts.prices ?? DEFAULT_PRICES, 'openai', model);
  // Never a silent $0: an unpriced model is a configuration error.
  if (!price) throw new Error(`openai embedder: no price for openai/${model} (add it with PRICES_FILE)`);
  const perMillion = price.embedding ?? price.input;
  const client = new OpenAI({
    apiKey: opts.apiKey ?? 'unset',
    baseURL: opts.baseURL,
    timeout: opts.timeoutMs ?? 30_000,
    maxRetries: opts.maxRetries ?? 2,
  });
  const batchSize = opts.batchSize ?? 256;

  async function record(meta: EmbedMeta | undefined, row: { tokens: number; latencyMs: number; outcome: 'ok' | 'error' | 'rate_limited' | 'timeout'; error?: string }) {
    await opts.db
      .insertInto('llm_calls')
      .values({
        user_id: meta?.userId ?? null,
        project_id: meta?.projectId ?? null,
        plan_id: meta?.planId ?? null,
        task_id: null,
        agent_id: null,
        agent_name: null,
        purpose: 'embedding',
        provider: 'openai',
        model,
        input_tokens: row.tokens,
        output_tokens: 0,
        cost: (row.tokens * perMillion) / 1_000_000,
        estimated_cost: null,
        latency_ms: Math.round(row.latencyMs),
        ttft_ms: null,
        outcome: row.outcome,
        error: row.error ?? null,
        attempt: 1,
      })
      .execute();
  }

  return {
    dimensions,
    model,
    provider: 'openai',
    async embed(texts: string[], meta?: EmbedMeta): Promise<EmbedResult> {
      const vectors: number[][] = [];
      let tokens = 0;
      for (let i = 0; i < texts.length; i += batchSize) {
        const input = texts.slice(i, i + batchSize);
        const started = performance.now();
        let res: OpenAI.CreateEmbeddingResponse;
        try {
          res = await client.embeddings.create({ model, input, ...(opts.dimensions ? { dimensions: opts.dimensions } : {}) });
        } catch (err) {
          const status = (err as { status?: number }).status;
          const outcome = status === 429 ? 'rate_limited' : err instanceof OpenAI.APIConnectionTimeoutError ? 'timeout' : 'error';
          await record(meta, { tokens: 0, latencyMs: performance.now() - started, outcome, error: (err as Error).message });
          throw new AppError(status === 429 ? 'EMBEDDING_RATE_LIMITED' : 'EMBEDDING_FAILED', status === 429 ? 'rate_limited' : 'third_party', `openai embeddings failed: ${(err as Error).message}`, { cause: err });
        }
        const used = res.usage?.prompt_tokens ?? 0;
        tokens += used;
        await record(meta, { tokens: used, latencyMs: performance.now() - started, outcome: 'ok' });
        const ordered = [...res.data].sort((a, b) => a.index - b.index);
        if (ordered.length !== input.length) throw new AppError('EMBEDDING_FAILED', 'third_party', `openai returned ${ordered.length} embeddings for ${input.length} inputs`);
        for (const d of ordered) {
          const v = Array.from(d.embedding as ArrayLike<number>);
          if (v.length !== dimensions) throw new AppError('EMBEDDING_FAILED', 'third_party', `openai returned ${v.length} dimensions, expected ${dimensions}`);
          vectors.push(normalize(v));
        }
      }
      return { vectors, tokens };
    },
  };
}
