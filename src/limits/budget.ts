import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Config } from '../config.js';
import { AppError } from '../core/errors.js';

/** What a user may still spend today; `limitUsd` 0 means no limit. */
export interface BudgetStatus {
  limitUsd: number;
  spentUsd: number;
  /** Infinity when there is no limit; never negative. */
  remainingUsd: number;
  /** Nothing is left: no more LLM work for this user until 00:00 UTC. */
  exceeded: boolean;
}

export type BudgetDecision = { ok: true } | { ok: false; error: AppError };

const usd = (n: number) => `$${n.toFixed(4)}`;

/** Pure: the budget as it stands once `spentUsd` is known. */
export function budgetStatus(limitUsd: number, spentUsd: number): BudgetStatus {
  if (limitUsd <= 0) return { limitUsd: 0, spentUsd, remainingUsd: Infinity, exceeded: false };
  const remainingUsd = Math.max(0, limitUsd - spentUsd);
  return { limitUsd, spentUsd, remainingUsd, exceeded: spentUsd >= limitUsd };
}

/**
 * Pure: whether work estimated at `estimatedUsd` may start. Refused when the
 * budget is already used up, or when the estimate is more than what is left.
 */
export function decideBudget(input: { limitUsd: number; spentUsd: number; estimatedUsd: number }): BudgetDecision {
  const s = budgetStatus(input.limitUsd, input.spentUsd);
  if (s.limitUsd === 0) return { ok: true };
  if (!s.exceeded && input.estimatedUsd <= s.remainingUsd) return { ok: true };
  const message =
    input.estimatedUsd > 0
      ? `daily budget exceeded: this plan is estimated at ${usd(input.estimatedUsd)} and only ${usd(s.remainingUsd)} ` +
        `of today's ${usd(s.limitUsd)} is left (it resets at 00:00 UTC)`
      : `daily budget exceeded: ${usd(s.spentUsd)} of today's ${usd(s.limitUsd)} is already spent (it resets at 00:00 UTC)`;
  return {
    ok: false,
    error: new AppError('BUDGET_EXCEEDED', 'unprocessable', message, {
      details: { limit_usd: s.limitUsd, spent_usd: s.spentUsd, remaining_usd: s.remainingUsd, estimated_usd: input.estimatedUsd },
    }),
  };
}

/**
 * The user's LLM spend since 00:00 UTC: every recorded call of theirs, of any
 * purpose or outcome. One index-only range scan (ix_llm_calls_user_id_created_at).
 * Midnight is PostgreSQL's, the clock that dated the calls.
 */
export async function spentTodayUsd(db: Kysely<Database>, userId: string): Promise<number> {
  const r = await spentTodayQuery(userId).execute(db);
  return r.rows[0]?.spent ?? 0;
}

/** The query of spentTodayUsd (exported so that a test can EXPLAIN it). */
export const spentTodayQuery = (userId: string) => sql<{ spent: number }>`
  SELECT coalesce(sum(cost), 0)::float8 AS spent
  FROM llm_calls
  WHERE user_id = ${userId}
    AND created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;

/**
 * Where the user stands against USER_DAILY_BUDGET_USD. For the engine, before
 * each task: `exceeded` means the task must not call a model.
 */
export async function checkBudget(deps: { db: Kysely<Database>; config: Pick<Config, 'USER_DAILY_BUDGET_USD'> }, userId: string): Promise<BudgetStatus> {
  const limit = deps.config.USER_DAILY_BUDGET_USD;
  if (limit <= 0) return budgetStatus(0, 0);
  return budgetStatus(limit, await spentTodayUsd(deps.db, userId));
}

/**
 * For the planner: null when a plan whose remaining work is estimated at
 * `estimatedUsd` fits what the user has left today, else the error to fail
 * the plan with (code BUDGET_EXCEEDED).
 */
export async function planBudgetRefusal(
  deps: { db: Kysely<Database>; config: Pick<Config, 'USER_DAILY_BUDGET_USD'> },
  userId: string,
  estimatedUsd: number,
): Promise<AppError | null> {
  const limitUsd = deps.config.USER_DAILY_BUDGET_USD;
  if (limitUsd <= 0) return null;
  const decision = decideBudget({ limitUsd, spentUsd: await spentTodayUsd(deps.db, userId), estimatedUsd });
  return decision.ok ? null : decision.error;
}
