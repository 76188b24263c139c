import type { ChatMessage } from '../llm.js';
import { PLAN_JSON_SCHEMA, TASK_ID_PATTERN } from './plan-schema.js';
import type { PlanIssue } from './validate.js';

/** An agent as the planning model sees it. */
export interface PromptAgent {
  name: string;
  role: string;
  capabilities: readonly string[];
  tools: readonly string[];
}

export interface PlanningPromptInput {
  request: string;
  agents: readonly PromptAgent[];
  maxTasks: number;
}

/**
 * The planning conversation: a system message with the agents and the rules,
 * and the user's request. The request is fenced so that text inside it cannot
 * pose as instructions of the system message.
 */
export function buildPlanningMessages(input: PlanningPromptInput): ChatMessage[] {
  const agents = input.agents
    .map((a) => {
      const caps = a.capabilities.length ? a.capabilities.join(', ') : 'general';
      const tools = a.tools.length ? a.tools.join(', ') : 'none';
      return `- ${a.name}: ${a.role} (capabilities: ${caps}; tools: ${tools})`;
    })
    .join('\n');
  const system = [
    'You are the planner of a team of AI agents. Break the user\'s request into tasks that the agents below can do, and answer with the plan as JSON only.',
    '',
    'Agents (use these names exactly; no other agent exists):',
    agents,
    '',
    'Rules:',
    `- Answer with one JSON object matching this JSON Schema, and nothing else:\n${JSON.stringify(PLAN_JSON_SCHEMA.schema)}`,
    `- Task ids are short and unique, matching ${TASK_ID_PATTERN.source} (for example t1, t2, t3).`,
    '- "dependencies" lists the ids of the tasks whose results a task needs. A task receives those results as input and starts only after they finish. Never depend on a task that is not in the plan, on the task itself, or in a circle.',
    '- Keep independent work parallel: add a dependency only when a task really needs the other task\'s result.',
    '- Give every task to the agent whose role and tools fit it best. Each description must be self-contained: the agent sees only its description and its dependencies\' results.',
    `- Use as few tasks as the request needs, never more than ${input.maxTasks}. A simple request can be a single task.`,
    '- When the request needs a final answer that combines several results, end with a task that depends on them and writes it.',
  ].join('\n');
  const user = `The request:\n<<<REQUEST\n${input.request}\nREQUEST>>>`;
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}

/**
 * The repair turn: the rejected answer, then every problem found in it, asking
 * for the whole corrected plan (not a patch, which would need merging).
 */
export function buildRepairMessages(conversation: readonly ChatMessage[], rejected: string, issues: readonly PlanIssue[]): ChatMessage[] {
  const list = issues.map((i) => `- [${i.code}] ${i.message}`).join('\n');
  return [
    ...conversation,
    { role: 'assistant', content: rejected },
    {
      role: 'user',
      content: `That plan cannot be run:\n${list}\n\nAnswer with the complete corrected plan as one JSON object in the same format, and nothing else.`,
    },
  ];
}

/** Number of repair turns in a conversation (0 for the first call): lets a scripted provider follow the rounds. */
export function repairRound(conversation: readonly ChatMessage[]): number {
  return conversation.filter((m) => m.role === 'assistant').length;
}
