/**
 * The planner's seam for the plan cache (src/cache/ implements it). The
 * planner asks before calling the model; a hit is parsed and validated again
 * against the project's current agents, so a stale entry (an agent since
 * disabled) falls through to the model. Plans are stored only once they
 * completed successfully, by the engine's finaliser, never at planning time.
 */
export interface PlanCacheQuery {
  userId: string;
  projectId: string;
  request: string;
  /** Names of the active agents: a plan is only reusable with the same team. */
  agents: readonly string[];
}

export interface PlanCacheHit {
  /** The cached plan, in the model's format (checked again by the planner). */
  plan: unknown;
  /** What the lookup cost (query embedding), added to the plan's planning cost. */
  costUsd?: number;
}

export interface PlanCache {
  lookup(query: PlanCacheQuery): Promise<PlanCacheHit | null>;
}
