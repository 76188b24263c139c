import { z } from '@hono/zod-openapi';
import type { Config } from '../src/config.js';
import type { Agent, ChatSession, Project, ProjectSettings } from '../db/schema.js';

/**
 * The contract's resource shapes (api.md "Resources") as zod schemas for the
 * OpenAPI document, and the functions that turn rows into them.
 */
const id = z.uuid();
const time = z.iso.datetime();

export const settingsSchema = z
  .object({
    approval_threshold_usd: z.number(),
    approval_timeout_s: z.number().int(),
    max_parallel_tasks: z.number().int(),
  })
  .openapi('ProjectSettings');

export const projectSchema = z
  .object({ id, name: z.string(), settings: settingsSchema, created_at: time })
  .openapi('Project');

/** As stored: validated when written, but read back without narrowing (a provider may be retired later). */
const agentConfigOut = z
  .object({
    role: z.string(),
    system_prompt: z.string(),
    provider: z.string(),
    model: z.string(),
    temperature: z.number(),
    max_output_tokens: z.number().int(),
    tools: z.array(z.string()),
    capabilities: z.array(z.string()),
  })
  .openapi('AgentConfig');

export const agentSchema = z
  .object({
    id,
    project_id: id,
    name: z.string(),
    config: agentConfigOut,
    status: z.enum(['active', 'disabled']),
    starter_pack: z.boolean(),
    created_at: time,
  })
  .openapi('Agent');

export const sessionSchema = z
  .object({ id, project_id: id, topic: z.string().nullable(), created_at: time })
  .openapi('Session');

export const messageSchema = z
  .object({ id, role: z.enum(['user', 'assistant']), content: z.string(), plan_id: id.nullable(), created_at: time })
  .openapi('ChatMessage');

/** Stored overrides over the deployment's defaults: what the project actually runs with. */
export function effectiveSettings(config: Config, stored: ProjectSettings): z.infer<typeof settingsSchema> {
  return {
    approval_threshold_usd: stored.approval_threshold_usd ?? config.APPROVAL_COST_THRESHOLD_USD,
    approval_timeout_s: stored.approval_timeout_s ?? config.APPROVAL_TIMEOUT_S,
    max_parallel_tasks: stored.max_parallel_tasks ?? config.DEFAULT_MAX_PARALLEL_TASKS,
  };
}

export const projectJson = (config: Config, p: Pick<Project, 'id' | 'name' | 'settings' | 'created_at'>) => ({
  id: p.id,
  name: p.name,
  settings: effectiveSettings(config, p.settings),
  created_at: p.created_at.toISOString(),
});

export const agentJson = (a: Pick<Agent, 'id' | 'project_id' | 'name' | 'config' | 'status' | 'starter_pack' | 'created_at'>) => ({
  id: a.id,
  project_id: a.project_id,
  name: a.name,
  config: a.config,
  status: a.status,
  starter_pack: a.starter_pack,
  created_at: a.created_at.toISOString(),
});

export const sessionJson = (s: Pick<ChatSession, 'id' | 'project_id' | 'topic' | 'created_at'>) => ({
  id: s.id,
  project_id: s.project_id,
  topic: s.topic,
  created_at: s.created_at.toISOString(),
});
