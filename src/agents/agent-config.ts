import { z } from 'zod';
import type { AgentConfig } from '../../db/schema.js';
import { AppError } from '../core/errors.js';
import { TOOL_NAMES } from '../core/tool-names.js';
import { isKnownModel, KNOWN_PROVIDERS, type PriceTable } from '../llm/prices.js';

/** Agent names are identifiers the planner writes into plans: short, lower case, no spaces. */
export const agentNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must start with a-z and use only a-z, 0-9, "_" or "-" (at most 64 characters)');

const fields = {
  role: z.string().trim().min(1).max(200),
  system_prompt: z.string().trim().min(1).max(20_000),
  provider: z.enum(KNOWN_PROVIDERS),
  model: z.string().trim().min(1).max(128),
  temperature: z.number().min(0).max(2),
  max_output_tokens: z.number().int().min(1).max(32_000),
  tools: z
    .array(z.enum(TOOL_NAMES))
    .max(TOOL_NAMES.length)
    .refine((t) => new Set(t).size === t.length, 'tools must not repeat'),
  capabilities: z.array(z.string().trim().min(1).max(64)).max(32),
};

/** A complete agent config: what is stored and what every LLM call reads. */
export const agentConfigSchema = z.strictObject(fields);

/**
 * What `POST …/agents` accepts: role, prompt and model are required; the
 * provider defaults to the deployment's, the rest to sensible values.
 */
export const agentConfigInputSchema = z.strictObject({
  ...fields,
  provider: fields.provider.optional(),
  temperature: fields.temperature.default(0.3),
  max_output_tokens: fields.max_output_tokens.default(2_000),
  tools: fields.tools.default([]),
  capabilities: fields.capabilities.default([]),
});

/** What `PATCH …/agents/{id}` accepts: any subset, merged over the stored config. */
export const agentConfigPatchSchema = z.strictObject(fields).partial();

export type AgentConfigInput = z.infer<typeof agentConfigInputSchema>;
export type AgentConfigPatch = z.infer<typeof agentConfigPatchSchema>;

/**
 * Validates a complete config, including what a static schema cannot know:
 * the model must have a price for its provider, so that no call is ever
 * costed at a silent $0. Throws a 400 AppError naming `config.<field>`.
 */
export function validateAgentConfig(prices: PriceTable, config: unknown): AgentConfig {
  const parsed = agentConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new AppError('INVALID_AGENT_CONFIG', 'invalid_request', 'invalid agent config', {
      details: parsed.error.issues.map((i) => ({
        field: ['config', ...i.path.map(String), ...(i.code === 'unrecognized_keys' ? [i.keys.join(',')] : [])].join('.'),
        in: 'body',
        message: i.message,
      })),
    });
  }
  const c = parsed.data;
  if (!isKnownModel(prices, c.provider, c.model)) {
    throw new AppError('UNKNOWN_MODEL', 'invalid_request', `model "${c.model}" is not in the price table of provider "${c.provider}"`, {
      details: [{ field: 'config.model', in: 'body', message: `unknown model for provider "${c.provider}"` }],
    });
  }
  return c;
}

/** Merges a PATCH over the stored config and validates the result as a whole. */
export function mergeAgentConfig(prices: PriceTable, stored: AgentConfig, patch: AgentConfigPatch): AgentConfig {
  return validateAgentConfig(prices, { ...stored, ...patch });
}
