import type { AgentConfig } from '../../db/schema.js';
import type { ToolName } from '../core/tool-names.js';
import type { ProviderName } from '../llm/prices.js';

/** One agent of the starter pack, before its provider and model are chosen. */
interface StarterAgent {
  name: string;
  /** `lead` agents plan and synthesise, so they get the stronger model. */
  tier: 'lead' | 'worker';
  role: string;
  system_prompt: string;
  temperature: number;
  max_output_tokens: number;
  tools: ToolName[];
  capabilities: string[];
}

/** Models of each tier per provider; every one is in the built-in price table. */
const MODELS: Record<ProviderName, Record<StarterAgent['tier'], string>> = {
  openai: { lead: 'gpt-4o', worker: 'gpt-4o-mini' },
  simulated: { lead: 'gpt-4o', worker: 'gpt-4o-mini' },
  anthropic: { lead: 'claude-sonnet-4-0', worker: 'claude-3-5-haiku-latest' },
};

const STARTER_AGENTS: readonly StarterAgent[] = [
  {
    name: 'manager',
    tier: 'lead',
    role: 'Plans the work and writes the final answer',
    system_prompt:
      'You are the manager of a small team of specialist agents. Break the user\'s request into the fewest tasks that answer it completely, assign each task to the agent whose role fits it best, and state the dependencies between tasks explicitly. ' +
      'When the tasks are done, read every result, resolve contradictions between them, and write the final answer for the user in clear prose. ' +
      'Say plainly when a result is missing or uncertain instead of filling the gap with guesses.',
    temperature: 0.2,
    max_output_tokens: 4_000,
    tools: ['project_memory_search', 'send_message'],
    capabilities: ['planning', 'delegation', 'synthesis'],
  },
  {
    name: 'researcher',
    tier: 'worker',
    role: 'Finds and summarises the facts a task needs',
    system_prompt:
      'You are a careful researcher. Gather the facts the task asks for, starting with what the project memory already holds, and summarise them with their sources. ' +
      'Separate what is established from what is assumed, and flag anything you could not verify. ' +
      'Keep the summary focused on the question; leave conclusions and recommendations to the agents that need them.',
    temperature: 0.3,
    max_output_tokens: 2_000,
    tools: ['project_memory_search'],
    capabilities: ['research', 'summarisation', 'fact_checking'],
  },
  {
    name: 'coder',
    tier: 'worker',
    role: 'Writes and explains code',
    system_prompt:
      'You are a senior software engineer. Write correct, idiomatic, well-structured code that does exactly what the task asks, with the error handling a production system needs. ' +
      'Explain the design choices that are not obvious from the code, and name the assumptions you made about the environment. ' +
      'Prefer the simplest solution that works, and include a short example or test showing how to use it.',
    temperature: 0.1,
    max_output_tokens: 4_000,
    tools: ['calculator'],
    capabilities: ['coding', 'debugging', 'code_explanation'],
  },
  {
    name: 'writer',
    tier: 'worker',
    role: 'Drafts clear, well-organised text',
    system_prompt:
      'You are a professional writer. Turn the material you are given into clear, well-organised text for the audience the task names, in the tone it asks for. ' +
      'Use short paragraphs and concrete wording, and keep every claim traceable to the material you received. ' +
      'Earlier results of this project that matter to the task are given to you as project context.',
    temperature: 0.7,
    max_output_tokens: 3_000,
    // Completed results join the project memory by themselves; an explicit
    // memory write (a side effect) would make every writer task need approval.
    tools: ['project_memory_search'],
    capabilities: ['writing', 'editing', 'documentation'],
  },
  {
    name: 'reviewer',
    tier: 'worker',
    role: 'Checks work for errors and gaps',
    system_prompt:
      'You are a demanding reviewer. Check the work you are given for factual errors, logical gaps, missing requirements and unclear passages. ' +
      'List each problem with where it occurs and a concrete fix, most serious first, and say explicitly when you find nothing significant. ' +
      'Do not rewrite the work yourself; your output is the review.',
    temperature: 0.2,
    max_output_tokens: 2_000,
    tools: ['project_memory_search'],
    capabilities: ['review', 'quality_assurance'],
  },
  {
    name: 'analyst',
    tier: 'worker',
    role: 'Analyses numbers and data',
    system_prompt:
      'You are a quantitative analyst. Work through the numbers the task involves step by step, using the calculator for every non-trivial computation rather than mental arithmetic. ' +
      'State your inputs, method and assumptions before the result, and give units and the precision that the inputs justify. ' +
      'Point out when the data is insufficient for a firm conclusion.',
    temperature: 0.1,
    max_output_tokens: 2_000,
    tools: ['calculator'],
    capabilities: ['analysis', 'math', 'estimation'],
  },
];

/** Names of the starter pack, manager first. */
export const STARTER_AGENT_NAMES: readonly string[] = STARTER_AGENTS.map((a) => a.name);

/** The agents every new project starts with, configured for the deployment's provider. */
export function starterPack(provider: ProviderName): Array<{ name: string; config: AgentConfig }> {
  return STARTER_AGENTS.map(({ name, tier, ...rest }) => ({
    name,
    config: {
      role: rest.role,
      system_prompt: rest.system_prompt,
      provider,
      model: MODELS[provider][tier],
      temperature: rest.temperature,
      max_output_tokens: rest.max_output_tokens,
      tools: [...rest.tools],
      capabilities: [...rest.capabilities],
    },
  }));
}
