import type { ProjectSettings } from '../../../db/schema.js';
import type { TaskEstimate } from './estimate.js';

/** The threshold a project's plans are held to, and where it comes from (for the message). */
export interface ApprovalThreshold {
  usd: number;
  source: 'project' | 'default';
}

/** The project's `settings.approval_threshold_usd` when set, else the deployment's APPROVAL_COST_THRESHOLD_USD. */
export function approvalThreshold(settings: ProjectSettings | null | undefined, defaultUsd: number): ApprovalThreshold {
  const own = settings?.approval_threshold_usd;
  return typeof own === 'number' && Number.isFinite(own) && own >= 0
    ? { usd: own, source: 'project' }
    : { usd: defaultUsd, source: 'default' };
}

export interface ApprovalDecision {
  requiresApproval: boolean;
  /** One sentence per reason, in a stable order: cost first, then tasks in plan order. */
  reasons: string[];
  /** The reasons joined for `task_plans.approval_reason`; null when no approval is needed. */
  reason: string | null;
}

/**
 * A plan needs a human's approval when its estimated total exceeds the
 * threshold, or when any task is high risk (its agent can change something
 * outside the plan).
 */
export function decideApproval(input: {
  totalCostUsd: number;
  threshold: ApprovalThreshold;
  tasks: readonly TaskEstimate[];
}): ApprovalDecision {
  const reasons: string[] = [];
  const { usd, source } = input.threshold;
  if (input.totalCostUsd > usd) {
    const [cost, limit] = formatApart(input.totalCostUsd, usd);
    const whose = source === 'project' ? "the project's" : 'the default';
    reasons.push(`estimated cost ${cost} exceeds ${whose} ${limit} threshold`);
  }
  for (const t of input.tasks) {
    if (t.riskLevel !== 'high') continue;
    const tools = t.sideEffectTools;
    const named = tools.length === 1 ? `${tools[0]}, a tool` : `${tools.join(' and ')}, tools`;
    reasons.push(`task ${t.taskId} (${t.agent}) uses ${named} with side effects`);
  }
  return { requiresApproval: reasons.length > 0, reasons, reason: reasons.length ? reasons.join('; ') : null };
}

/** USD amounts with as many decimals as it takes to tell them apart ($0.104 vs $0.10, not "$0.10 exceeds $0.10"). */
export function formatApart(cost: number, limit: number): [string, string] {
  const y = formatUsd(limit, 6);
  let x = formatUsd(cost, 2);
  for (let digits = 3; x === y && digits <= 8; digits++) x = formatUsd(cost, digits);
  return [x, y];
}

/** `$0.14`, `$0.0035`: at most `digits` decimals, at least two, no trailing zeros beyond the cents. */
export function formatUsd(v: number, digits = 2): string {
  const [whole, frac = ''] = v.toFixed(digits).split('.');
  const trimmed = frac.replace(/0+$/, '').padEnd(2, '0');
  return `$${whole}.${trimmed}`;
}
