import type { SimContext } from '../core/llm.js';

/**
 * The simulated provider's planner: a deterministic heuristic that turns a
 * request into at most six tasks for the project's agents. It is a stand-in
 * for a model, good enough to exercise DAGs (fan-out, fan-in, chains), not a
 * language understanding engine.
 */
export interface SimPlanTask {
  id: string;
  description: string;
  agent: string;
  dependencies: string[];
}

type Agent = NonNullable<SimContext['agents']>[number];
type Role = 'researcher' | 'analyst' | 'coder' | 'writer' | 'reviewer';
/** gather tasks fan out; produce tasks fan in what was gathered; check tasks follow what they check. */
type Stage = 'gather' | 'produce' | 'check';

export const MAX_SIM_TASKS = 6;

const DEFAULT_AGENTS: Agent[] = [
  { name: 'researcher', role: 'researcher', capabilities: ['research'] },
  { name: 'analyst', role: 'analyst', capabilities: ['analysis'] },
  { name: 'coder', role: 'coder', capabilities: ['code'] },
  { name: 'writer', role: 'writer', capabilities: ['writing'] },
  { name: 'reviewer', role: 'reviewer', capabilities: ['review'] },
];

/** Ordered: the first rule whose pattern matches a clause decides its role. */
const RULES: Array<{ role: Role; stage: Stage; pattern: RegExp; words: string[] }> = [
  {
    role: 'coder',
    stage: 'produce',
    pattern: /\b(code|script|implement\w*|program\w*|function|refactor\w*|debug\w*|fix|build|deploy\w*|api|sql|query)\b/i,
    words: ['code', 'coding', 'coder', 'programming', 'engineer', 'developer', 'implementation'],
  },
  {
    role: 'reviewer',
    stage: 'check',
    pattern: /\b(review\w*|check\w*|verif\w*|validat\w*|audit\w*|risks?|critique|proofread\w*|test)\b/i,
    words: ['review', 'reviewer', 'qa', 'quality', 'critique', 'audit'],
  },
  {
    role: 'analyst',
    stage: 'gather',
    pattern: /\b(analy[sz]\w*|calculat\w*|estimat\w*|forecast\w*|measur\w*|statistic\w*|numbers|data|metrics?|budget)\b/i,
    words: ['analysis', 'analyst', 'data', 'math', 'statistics', 'calculation'],
  },
  {
    role: 'researcher',
    stage: 'gather',
    pattern: /\b(research\w*|compar\w*|find|look up|investigat\w*|search\w*|gather\w*|collect\w*|explor\w*|survey|identify|list)\b/i,
    words: ['research', 'researcher', 'search', 'investigation', 'web'],
  },
  {
    role: 'writer',
    stage: 'produce',
    pattern: /\b(write|draft\w*|summar\w*|report|blog|post|article|email|document\w*|explain|outline|compose|translat\w*)\b/i,
    words: ['writing', 'writer', 'summarization', 'summarisation', 'editing', 'content'],
  },
];

const ACTION_START = new RegExp(
  `^(${['research', 'compare', 'find', 'look', 'investigate', 'search', 'gather', 'collect', 'explore', 'identify', 'list',
    'write', 'draft', 'summari[sz]e', 'document', 'explain', 'outline', 'compose', 'translate', 'implement', 'build',
    'code', 'create', 'fix', 'refactor', 'debug', 'deploy', 'review', 'check', 'verify', 'validate', 'audit', 'test',
    'analy[sz]e', 'calculate', 'estimate', 'forecast', 'measure', 'produce', 'prepare', 'make', 'give', 'propose',
    'recommend', 'plan', 'design'].join('|')})\\b`,
  'i',
);

/** Splits a request into action clauses: sentences, `;`, `then`, and `and` before a verb. */
export function splitClauses(request: string): string[] {
  const pieces = request
    .replace(/```[\s\S]*?```/g, ' ')
    .split(/(?<=[.!?])\s+|;|\n+|,?\s+(?:and\s+)?then\s+|,?\s+after that,?\s+|,?\s+finally,?\s+/i)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const clauses: string[] = [];
  for (const piece of pieces) {
    const parts = piece.split(/,?\s+and\s+|,\s+/i);
    let current = parts[0]!;
    for (const part of parts.slice(1)) {
      if (ACTION_START.test(part.trim())) {
        clauses.push(current);
        current = part;
      } else {
        current += piece.includes(`, ${part}`) ? `, ${part}` : ` and ${part}`;
      }
    }
    clauses.push(current);
  }
  return clauses
    .map((c) => c.replace(/^(please|also|first(ly)?|next|and)\s+/i, '').replace(/[.!?\s]+$/, '').trim())
    .filter((c) => /[a-z0-9]/i.test(c));
}

function classify(clause: string): { role: Role; stage: Stage } {
  const rule = RULES.find((r) => r.pattern.test(clause));
  return rule ? { role: rule.role, stage: rule.stage } : { role: 'writer', stage: 'produce' };
}

/** The agent that best fits a role: by name, then role, then capabilities; else the first agent. */
function pickAgent(agents: Agent[], role: Role): Agent {
  const words = new Set(RULES.find((r) => r.role === role)!.words);
  const lc = (s: string) => s.toLowerCase();
  return (
    agents.find((a) => lc(a.name) === role) ??
    agents.find((a) => lc(a.role) === role || lc(a.role).includes(role)) ??
    agents.find((a) => a.capabilities.some((c) => words.has(lc(c)))) ??
    agents.find((a) => words.has(lc(a.role)) || lc(a.name).includes(role)) ??
    agents[0]!
  );
}

function sentence(text: string): string {
  const t = text.trim();
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/**
 * A plan for `ctx.request` with `ctx.agents` (the starter roles when absent).
 * Deterministic; ids `t1…tn`; dependencies only point backwards, so it is acyclic.
 */
export function simulatedPlan(ctx: SimContext, fallbackRequest: string): { tasks: SimPlanTask[] } {
  const agents = ctx.agents ?? DEFAULT_AGENTS;
  const request = (ctx.request ?? fallbackRequest).trim();
  if (agents.length === 0 || request === '') return { tasks: [] };

  let clauses = splitClauses(request);
  if (clauses.length === 0) clauses = [request];
  if (clauses.length > MAX_SIM_TASKS) {
    clauses = [...clauses.slice(0, MAX_SIM_TASKS - 1), clauses.slice(MAX_SIM_TASKS - 1).join('; ')];
  }
  let steps = clauses.map((c) => ({ text: sentence(c), ...classify(c) }));
  if (steps.length === 1) {
    // A one-line request still gets a small pipeline around it, so plans have edges.
    const only = steps[0]!;
    const topic = request.replace(/[.!?\s]+$/, '');
    steps =
      only.stage === 'gather'
        ? [only, { text: `Summarise the findings for: ${topic}`, role: 'writer', stage: 'produce' }]
        : [
            { text: `Research background for: ${topic}`, role: 'researcher', stage: 'gather' },
            only,
            { text: `Review the result for: ${topic}`, role: 'reviewer', stage: 'check' },
          ];
  }

  const tasks: SimPlanTask[] = [];
  let gathered: string[] = [];
  let lastProduced: string | undefined;
  for (const [i, step] of steps.entries()) {
    const id = `t${i + 1}`;
    let dependencies: string[];
    if (step.stage === 'gather') {
      dependencies = lastProduced ? [lastProduced] : [];
      gathered.push(id);
    } else if (step.stage === 'produce') {
      dependencies = gathered.length > 0 ? gathered : lastProduced ? [lastProduced] : [];
      gathered = [];
      lastProduced = id;
    } else {
      const previous = tasks.at(-1)?.id;
      dependencies = lastProduced ? [lastProduced] : previous ? [previous] : [];
    }
    tasks.push({ id, description: step.text, agent: pickAgent(agents, step.role).name, dependencies: [...dependencies] });
  }
  return { tasks };
}
