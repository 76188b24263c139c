import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * USD per million tokens. Source: the providers' public pricing pages
 * (openai.com/api/pricing, anthropic.com/pricing), list prices for standard
 * (non-batch, non-cached) usage as published on 2025-08-15. Override or extend
 * with a JSON file named by PRICES_FILE: {"provider/model": {"input": n, "output": n}}.
 */
export interface ModelPrice {
  /** USD per 1M input tokens. */
  input: number;
  /** USD per 1M output tokens (0 for embedding models). */
  output: number;
  /** Embedding models: USD per 1M embedded tokens. */
  embedding?: number;
}

export const PRICES_SOURCE = 'openai.com/api/pricing and anthropic.com/pricing, list prices as of 2025-08-15';

const OPENAI: Record<string, ModelPrice> = {
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0, embedding: 0.02 },
  'text-embedding-3-large': { input: 0.13, output: 0, embedding: 0.13 },
};

const ANTHROPIC: Record<string, ModelPrice> = {
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-opus-4-0': { input: 15, output: 75 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-sonnet-4-0': { input: 3, output: 15 },
  'claude-3-7-sonnet-latest': { input: 3, output: 15 },
  'claude-3-5-sonnet-latest': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-3-5-haiku-latest': { input: 0.8, output: 4 },
  'claude-3-haiku-20240307': { input: 0.25, output: 1.25 },
};

/** The simulated provider prices a call with the real model named in the agent's config. */
const BUILTIN: Record<string, Record<string, ModelPrice>> = {
  openai: OPENAI,
  anthropic: ANTHROPIC,
  simulated: { ...OPENAI, ...ANTHROPIC },
};

export type PriceTable = Record<string, Record<string, ModelPrice>>;

const overrideSchema = z.record(
  z.string().regex(/^[a-z]+\/.+$/, 'keys are "provider/model"'),
  z.object({ input: z.number().min(0), output: z.number().min(0), embedding: z.number().min(0).optional() }),
);

/** The built-in table, with a PRICES_FILE's entries over it. */
export function loadPriceTable(file?: string): PriceTable {
  const table: PriceTable = Object.fromEntries(Object.entries(BUILTIN).map(([p, m]) => [p, { ...m }]));
  if (!file) return table;
  const parsed = overrideSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  for (const [key, price] of Object.entries(parsed)) {
    const [provider, ...rest] = key.split('/');
    const model = rest.join('/');
    table[provider!] ??= {};
    table[provider!]![model] = price;
    if (provider !== 'simulated') (table.simulated ??= {})[model] = price;
  }
  return table;
}

export const DEFAULT_PRICES: PriceTable = loadPriceTable();

export function priceOf(table: PriceTable, provider: string, model: string): ModelPrice | undefined {
  return table[provider]?.[model];
}

export function isKnownModel(table: PriceTable, provider: string, model: string): boolean {
  return priceOf(table, provider, model) !== undefined;
}

/** Cost of one call in USD. Throws for an unknown model: never a silent $0. */
export function costOf(table: PriceTable, provider: string, model: string, inputTokens: number, outputTokens: number): number {
  const p = priceOf(table, provider, model);
  if (!p) throw new Error(`no price for ${provider}/${model}`);
  return (inputTokens * p.input + outputTokens * p.output) / 1_000_000;
}

export const KNOWN_PROVIDERS = ['openai', 'anthropic', 'simulated'] as const;
export type ProviderName = (typeof KNOWN_PROVIDERS)[number];
