import { createRequire } from 'node:module';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatMessage } from '../core/llm.js';

/**
 * Input-token counting for estimates and for providers that report no usage.
 *
 * - OpenAI models: exact BPE counts, `o200k_base` for gpt-4o / gpt-4.1 / gpt-5 /
 *   o-series and unknown models, `cl100k_base` for gpt-4 / gpt-3.5 (loaded lazily,
 *   it is rarely needed and costs ~0.3 s to load).
 * - Anthropic models: an APPROXIMATION. Anthropic publishes no tokenizer for
 *   Claude 3+; we take the o200k count × 1.05 (Claude's tokenizer produces
 *   slightly more tokens than o200k on English prose and code).
 * - Per message we add 4 tokens of chat framing, plus 3 for the reply primer,
 *   as OpenAI's cookbook does for its chat formats.
 */
export const ANTHROPIC_TOKEN_FACTOR = 1.05;
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMER = 3;

type Counter = (text: string) => number;

const require = createRequire(import.meta.url);
let cl100k: Counter | undefined;
function countCl100k(text: string): number {
  cl100k ??= (require('gpt-tokenizer/cjs/encoding/cl100k_base') as { countTokens: Counter }).countTokens;
  return cl100k(text);
}

function usesCl100k(model: string): boolean {
  return /^(gpt-4(?!o|\.\d)|gpt-3\.5|text-embedding-(ada|3))/.test(model);
}

function isAnthropic(provider: string, model: string): boolean {
  return provider === 'anthropic' || model.startsWith('claude');
}

/** Tokens of `text` for `model` (approximate for Anthropic, see above). */
export function countTokens(text: string, provider: string, model: string): number {
  if (text === '') return 0;
  if (isAnthropic(provider, model)) return Math.ceil(countO200k(text) * ANTHROPIC_TOKEN_FACTOR);
  return usesCl100k(model) ? countCl100k(text) : countO200k(text);
}

/** Input tokens of a chat request: the messages, their tool calls and the framing. */
export function countMessagesTokens(messages: readonly ChatMessage[], provider: string, model: string): number {
  let total = REPLY_PRIMER;
  for (const m of messages) {
    total += MESSAGE_OVERHEAD + countTokens(m.content, provider, model);
    for (const call of m.toolCalls ?? []) {
      total += countTokens(`${call.name}${JSON.stringify(call.arguments ?? {})}`, provider, model);
    }
  }
  return total;
}
