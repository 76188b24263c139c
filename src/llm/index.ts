import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import type { LlmClient } from '../core/llm.js';

export interface LlmDeps {
  config: Config;
  db: Kysely<Database>;
  logger: Logger;
}

// TEMPORARY (replaced by the LLM router in this same session): throws so nothing silently succeeds.
export function createLlmClient(_deps: LlmDeps): LlmClient {
  return {
    chat: async () => {
      throw new Error('LLM router not built yet');
    },
  };
}
