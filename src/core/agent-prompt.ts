import type { ChatMessage } from './llm.js';

/**
 * Builds the messages an agent receives for one task: its system prompt, the
 * task, its dependencies' results (trimmed to a budget), messages other agents
 * left for it, and project context. Pure.
 *
 * Budgets are in characters (≈ 4 per token for English text): cheap, and the
 * exact count is done by the LLM layer when it prices the call.
 */
export interface AgentPromptInput {
  agent: { name: string; role: string; systemPrompt: string };
  task: { taskId: string; description: string };
  request: string;
  dependencies: Array<{ taskId: string; agentName: string; result: string }>;
  inbox: Array<{ from: string; text: string }>;
  context: string[];
  /** Token budget for all dependency results together. */
  dependencyTokenBudget: number;
}

export const CHARS_PER_TOKEN = 4;

/**
 * Shares `budget` characters among texts: short texts are kept whole, the
 * largest ones are cut first (water-filling), so every input keeps its start.
 */
export function trimToBudget(texts: readonly string[], budget: number): string[] {
  const total = texts.reduce((n, t) => n + t.length, 0);
  if (total <= budget) return [...texts];
  const order = texts.map((t, i) => ({ i, len: t.length })).sort((a, b) => a.len - b.len);
  const caps = new Array<number>(texts.length).fill(0);
  let left = budget;
  let remaining = order.length;
  for (const { i, len } of order) {
    const share = Math.floor(left / remaining);
    caps[i] = Math.min(len, share);
    left -= caps[i]!;
    remaining--;
  }
  return texts.map((t, i) => (t.length <= caps[i]! ? t : `${t.slice(0, Math.max(0, caps[i]! - 15))} …[truncated]`));
}

export function buildAgentMessages(input: AgentPromptInput): ChatMessage[] {
  const parts: string[] = [`Overall request: ${input.request}`, '', `Your task (${input.task.taskId}): ${input.task.description}`];
  if (input.dependencies.length) {
    const trimmed = trimToBudget(
      input.dependencies.map((d) => d.result),
      input.dependencyTokenBudget * CHARS_PER_TOKEN,
    );
    parts.push('', 'Results of the tasks this one depends on:');
    input.dependencies.forEach((d, i) => parts.push(`<result task="${d.taskId}" agent="${d.agentName}">`, trimmed[i]!, '</result>'));
  }
  if (input.inbox.length) {
    parts.push('', 'Messages other agents left for you:');
    for (const m of input.inbox) parts.push(`- from ${m.from}: ${m.text}`);
  }
  if (input.context.length) {
    parts.push('', 'Relevant project context:');
    for (const c of input.context) parts.push(`- ${c}`);
  }
  parts.push('', 'Answer with the result of your task only.');
  return [
    { role: 'system', content: `${input.agent.systemPrompt}\n\nYou are the ${input.agent.name} agent (${input.agent.role}).` },
    { role: 'user', content: parts.join('\n') },
  ];
}
