import { z } from 'zod';
import { AppError } from '../../core/errors.js';
import { defineTool, type ToolContext } from '../tool.js';

const memoryOf = (ctx: ToolContext) => {
  if (!ctx.memory) throw new AppError('TOOL_UNAVAILABLE', 'unavailable', 'project memory is not available to this task');
  return ctx.memory;
};

// Scope comes from the context only: the schemas are strict and have no user
// or project field, so a model told to "read project X" cannot express it.

/** Searches the memory of the task's own project. */
export function projectMemorySearchTool() {
  return defineTool({
    name: 'project_memory_search',
    description: "Searches this project's memory (notes, facts and decisions saved by earlier tasks). Returns the best matches.",
    input: z.strictObject({
      query: z.string().trim().min(1).max(500),
      k: z.number().int().min(1).max(20).default(5).describe('how many results, 1 to 20'),
    }),
    sideEffect: false,
    async run({ query, k }, ctx) {
      const hits = await memoryOf(ctx).search({ userId: ctx.userId, projectId: ctx.projectId, query, k });
      return { results: hits };
    },
  });
}

/** Saves an entry to the memory of the task's own project. */
export function projectMemoryWriteTool() {
  return defineTool({
    name: 'project_memory_write',
    description: "Saves a note, fact or decision to this project's memory so later tasks can find it.",
    input: z.strictObject({
      content: z.string().trim().min(1).max(8000),
      kind: z.enum(['note', 'fact', 'decision', 'summary']).default('note'),
    }),
    sideEffect: true,
    async run({ content, kind }, ctx) {
      const source = `agent:${ctx.agentName}/task:${ctx.taskId}`.slice(0, 128);
      await memoryOf(ctx).write({ userId: ctx.userId, projectId: ctx.projectId, content, kind, source });
      return { saved: true };
    },
  });
}
