import { costOf, isKnownModel, type PriceTable } from './prices.js';

/**
 * Cost of a call that already happened. An unpriced model (a local model behind
 * OPENAI_BASE_URL, say) costs 0 here rather than failing a call that succeeded;
 * the router logs a warning for it, and agent validation rejects unknown models
 * up front, so this is the exception.
 */
export function priceCall(prices: PriceTable, provider: string, model: string, inputTokens: number, outputTokens: number): number {
  return isKnownModel(prices, provider, model) ? costOf(prices, provider, model, inputTokens, outputTokens) : 0;
}
