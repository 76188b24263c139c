/**
 * Names of the built-in agent tools. The registry (`src/tools/`) implements
 * them; agent config validation accepts only these names.
 */
export const TOOL_NAMES = [
  'calculator',
  'project_memory_search',
  'project_memory_write',
  'http_fetch',
  'send_message',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** Tools whose call changes something outside the plan: a task using one is high risk. */
export const SIDE_EFFECT_TOOLS: ReadonlySet<ToolName> = new Set(['http_fetch', 'project_memory_write']);
