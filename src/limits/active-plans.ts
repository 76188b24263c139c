import type { Kysely } from 'kysely';
import type { Database, PlanStatus } from '../../db/schema.js';

/**
 * The plans that count against USER_MAX_EXECUTING_PLANS: those the system is
 * working on (planning, just planned, running). A plan waiting for the user's
 * approval does not count: it costs nothing while it waits, and a forgotten
 * approval must not lock the user out until it expires.
 */
export const ACTIVE_PLAN_STATUSES = ['planning', 'created', 'executing'] as const satisfies readonly PlanStatus[];

/** The count of the user's active plans, as a query (the partial index ix_task_plans_user_id_active serves it). */
export function activePlansQuery(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('task_plans')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .where('status', 'in', ACTIVE_PLAN_STATUSES);
}

/** The user's active plans, across all their projects. */
export async function countActivePlans(db: Kysely<Database>, userId: string): Promise<number> {
  return Number((await activePlansQuery(db, userId).executeTakeFirstOrThrow()).n);
}
