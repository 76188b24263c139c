import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { PlanFacts } from './event-metrics.js';

/** PlanFacts read from PostgreSQL: one indexed lookup each (task_plans by id, plan_events by plan). */
export function createPlanFacts(db: Kysely<Database>): PlanFacts {
  return {
    async estimatedCost(planId) {
      const row = await db.selectFrom('task_plans').select('total_estimated_cost').where('id', '=', planId).executeTakeFirst();
      return row?.total_estimated_cost === null || row?.total_estimated_cost === undefined ? null : Number(row.total_estimated_cost);
    },
    async pendingSince(planId) {
      const row = await db
        .selectFrom('plan_events')
        .select('at')
        .where('plan_id', '=', planId)
        .where('type', '=', 'plan.pending_approval')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row?.at ?? null;
    },
  };
}
