import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '../../db/schema.js';
import type { ToolName } from '../core/tool-names.js';
import type { ProjectMemoryPort } from './project-memory.js';

/**
 * What the operator allows `http_fetch` to do, read once from the config
 * (`HTTP_FETCH_ENABLED`, `HTTP_FETCH_ALLOWED_HOSTS`). Absent means disabled.
 */
export interface HttpFetchPolicy {
  enabled: boolean;
  /** Hostnames, lower case; `*.example.com` also matches every subdomain. */
  allowedHosts: string[];
}

/**
 * Everything a tool may use while it runs. The identifiers are set by the
 * engine from the task being executed, never by the model: tools scope every
 * read and write with them.
 */
export interface ToolContext {
  userId: string;
  projectId: string;
  planId: string;
  /** Plan-level task id, e.g. `t1`. */
  taskId: string;
  agentName: string;
  /** Aborted when the task is cancelled; tools stop and the loop rethrows. */
  signal: AbortSignal;
  db: Kysely<Database>;
  memory?: ProjectMemoryPort;
  /** Delivers a message to another agent of the same plan. */
  sendMessage?: (toAgent: string, text: string) => Promise<void>;
  httpFetch?: HttpFetchPolicy;
}

/**
 * A tool the model can call. `input` both validates the model's arguments and
 * produces the JSON Schema the model sees, so the two cannot drift apart.
 */
export interface Tool<I, O> {
  name: ToolName;
  description: string;
  input: z.ZodType<I>;
  /** Changes something outside the plan (see SIDE_EFFECT_TOOLS). */
  sideEffect: boolean;
  /** Overrides the registry's per-call timeout. */
  timeoutMs?: number;
  run(input: I, ctx: ToolContext): Promise<O>;
}

// `any` here only erases the input type of a heterogeneous list; the registry
// re-validates every input with the tool's own schema before `run`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTool = Tool<any, unknown>;

/** Helper that infers `I` from the schema, so `run` is typed without repetition. */
export function defineTool<S extends z.ZodType, O>(tool: Tool<z.output<S>, O> & { input: S }): Tool<z.output<S>, O> {
  return tool;
}
