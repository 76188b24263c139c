import type { SimOptions } from '../../db/schema.js';

export interface ScriptedTask {
  id: string;
  agent?: string;
  deps?: string[];
  sim?: SimOptions;
}

/**
 * A chat message the simulated provider plans verbatim (runtime.md: a
 * fenced block opened with ```plan holds the JSON plan).
 */
export function scriptedRequest(tasks: ScriptedTask[], text = 'Scripted request'): string {
  const plan = {
    tasks: tasks.map((t) => ({
      id: t.id,
      description: `Task ${t.id}: ${text}`,
      agent: t.agent ?? 'researcher',
      dependencies: t.deps ?? [],
      sim: { latency_ms: 10, output_tokens: 50, fail: 'never', ...t.sim },
    })),
  };
  return `${text}\n\n\`\`\`plan\n${JSON.stringify(plan)}\n\`\`\`\n`;
}
