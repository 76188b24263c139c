import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import type { LlmClient } from '../core/llm.js';
import { createLlmRouter, type LlmRouterOptions } from './router.js';

export interface LlmDeps {
  config: Config;
  db: Kysely<Database>;
  logger: Logger;
  /** Metrics hook: every recorded LLM call (see LlmRouterOptions.onCall). */
  onCall?: LlmRouterOptions['onCall'];
}

/** The service's LLM client: the router over every configured provider. */
export function createLlmClient(deps: LlmDeps): LlmClient {
  return createLlmRouter(deps);
}

export { createLlmRouter } from './router.js';
export { isRetryableLlmError } from './errors.js';
export { countTokens, countMessagesTokens } from './tokens.js';
