import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { ToolSpec } from '../core/llm.js';
import { TOOL_NAMES } from '../core/tool-names.js';
import { calculatorTool } from './builtin/calculator.js';
import { httpFetchTool, type HttpFetchOptions } from './builtin/http-fetch.js';
import { projectMemorySearchTool, projectMemoryWriteTool } from './builtin/project-memory.js';
import { sendMessageTool } from './builtin/send-message.js';
import type { AnyTool, ToolContext } from './tool.js';

/** What the model gets back for one call; also what is recorded. */
export type ToolResult =
  | { ok: true; output: unknown }
  | { ok: false; error: { code: string; message: string; details?: unknown } };

export interface ToolRegistry {
  /** The tools named in `allowlist` that exist, as the model sees them. */
  specsFor(allowlist: readonly string[]): ToolSpec[];
  /**
   * Runs one call the model asked for. The allowlist is enforced here, not
   * trusted to the prompt: a name outside it (or unknown) is refused without
   * running anything. Input errors, refusals, tool errors and timeouts come
   * back as `{ ok: false }` for the model to read. Only an abort of
   * `ctx.signal` throws (its reason), so the caller stops.
   */
  call(name: string, rawInput: unknown, ctx: ToolContext, allowlist: readonly string[]): Promise<ToolResult>;
  get(name: string): AnyTool | undefined;
}

export interface ToolRegistryOptions {
  /** Per-call limit unless the tool sets its own. Default 30 s. */
  timeoutMs?: number;
}

export interface DefaultToolsOptions {
  httpFetch?: HttpFetchOptions;
}

/** The five built-in tools. Their data access goes through the ToolContext. */
export function defaultTools(opts: DefaultToolsOptions = {}): AnyTool[] {
  return [
    calculatorTool(),
    projectMemorySearchTool(),
    projectMemoryWriteTool(),
    httpFetchTool(opts.httpFetch),
    sendMessageTool(),
  ];
}

const failure = (code: string, message: string, details?: unknown): ToolResult => ({
  ok: false,
  error: details === undefined ? { code, message } : { code, message, details },
});

function toSpec(tool: AnyTool): ToolSpec {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.input, { io: 'input' }) as Record<string, unknown>;
  return { name: tool.name, description: tool.description, parameters };
}

/**
 * Builds the registry once per process. Names must be TOOL_NAMES and unique;
 * each tool's JSON Schema is computed here, not per call.
 */
export function createToolRegistry(tools: readonly AnyTool[], opts: ToolRegistryOptions = {}): ToolRegistry {
  const defaultTimeoutMs = opts.timeoutMs ?? 30_000;
  const byName = new Map<string, { tool: AnyTool; spec: ToolSpec }>();
  for (const tool of tools) {
    if (!(TOOL_NAMES as readonly string[]).includes(tool.name)) throw new Error(`unknown tool name ${tool.name}`);
    if (byName.has(tool.name)) throw new Error(`tool ${tool.name} registered twice`);
    byName.set(tool.name, { tool, spec: toSpec(tool) });
  }

  async function runWithTimeout(tool: AnyTool, input: unknown, ctx: ToolContext): Promise<unknown> {
    const timeoutMs = tool.timeoutMs ?? defaultTimeoutMs;
    const controller = new AbortController();
    const signal = AbortSignal.any([ctx.signal, controller.signal]);
    let timer: NodeJS.Timeout | undefined;
    // The race also covers a tool that ignores its signal.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new AppError('TOOL_TIMEOUT', 'unavailable', `${tool.name} did not finish within ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    let onAbort = () => undefined as void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([tool.run(input, { ...ctx, signal }), timeout, aborted]);
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  return {
    specsFor(allowlist) {
      return [...new Set(allowlist)].flatMap((name) => {
        const entry = byName.get(name);
        return entry ? [entry.spec] : [];
      });
    },

    get: (name) => byName.get(name)?.tool,

    async call(name, rawInput, ctx, allowlist) {
      ctx.signal.throwIfAborted();
      const entry = byName.get(name);
      if (!allowlist.includes(name) || !entry) {
        return failure(
          'TOOL_NOT_ALLOWED',
          entry
            ? `tool ${name} is not available to agent ${ctx.agentName}; do not call it again`
            : `there is no tool named ${name}`,
        );
      }
      const parsed = entry.tool.input.safeParse(rawInput ?? {});
      if (!parsed.success) {
        return failure('TOOL_INVALID_INPUT', `invalid arguments for ${name}`, z.treeifyError(parsed.error));
      }
      try {
        return { ok: true, output: await runWithTimeout(entry.tool, parsed.data, ctx) };
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (err instanceof AppError) return failure(err.code, err.message);
        return failure('TOOL_FAILED', `${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}
