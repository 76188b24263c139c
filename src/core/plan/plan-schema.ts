import { z } from 'zod';

/**
 * The plan the planning model returns (runtime.md): tasks with ids, the agent
 * that runs each one and the ids it depends on. `sim` is only meaningful to
 * the simulated provider (scripted ```plan blocks); real models never see it
 * in the JSON Schema they are given.
 */

/**
 * Task ids become parts of queue job ids (`<planId>.<taskId>`) and Redis keys,
 * so '.' and ':' are excluded along with anything needing escaping.
 */
export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_TASK_DESCRIPTION_CHARS = 4000;

export const simOptionsSchema = z.object({
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  output_tokens: z.number().int().min(0).max(1_000_000).optional(),
  fail: z.enum(['never', 'always', 'transient']).optional(),
});

export const planTaskSchema = z.object({
  id: z.string().regex(TASK_ID_PATTERN, 'task ids are 1-64 characters: letters, digits, "_" or "-"'),
  description: z.string().trim().min(1).max(MAX_TASK_DESCRIPTION_CHARS),
  agent: z.string().trim().min(1).max(64),
  // A repeated dependency means nothing more than one: dropped here rather than rejected.
  dependencies: z
    .array(z.string().max(64))
    .max(500)
    .default([])
    .transform((deps) => [...new Set(deps)]),
  sim: simOptionsSchema.optional(),
});

export const modelPlanSchema = z.object({ tasks: z.array(planTaskSchema) });

/** One task as the model wrote it (after parsing). */
export type PlanTaskSpec = z.infer<typeof planTaskSchema>;
/** The whole plan as the model wrote it (after parsing, before validation). */
export type ModelPlan = z.infer<typeof modelPlanSchema>;

/**
 * JSON Schema handed to the model for structured output. Written by hand so it
 * satisfies the strictest provider mode (OpenAI `strict`: every property
 * required, no additional properties); `sim` is deliberately absent.
 */
export const PLAN_JSON_SCHEMA: { name: string; schema: Record<string, unknown> } = {
  name: 'task_plan',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['tasks'],
    properties: {
      tasks: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'description', 'agent', 'dependencies'],
          properties: {
            id: { type: 'string', pattern: TASK_ID_PATTERN.source, description: 'Short unique id, e.g. t1' },
            description: {
              type: 'string',
              maxLength: MAX_TASK_DESCRIPTION_CHARS,
              description: 'What the agent must do, self-contained',
            },
            agent: { type: 'string', description: 'Name of one of the available agents' },
            dependencies: {
              type: 'array',
              items: { type: 'string' },
              description: 'Ids of the tasks whose results this task needs',
            },
          },
        },
      },
    },
  },
};
