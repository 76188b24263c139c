import { sql, type Kysely } from 'kysely';
import type { Database, PlanEvent } from '../../db/schema.js';
import type { StoredEvent } from './event-log.js';

/** Rows read per replay query: a long plan is sent page by page, paced by the client. */
export const REPLAY_PAGE = 500;

type Row = Pick<PlanEvent, 'id' | 'plan_id' | 'session_id' | 'seq' | 'type' | 'task_id' | 'payload' | 'at'>;

const COLUMNS = ['id', 'plan_id', 'session_id', 'seq', 'type', 'task_id', 'payload', 'at'] as const;

function toStored(r: Row): StoredEvent {
  return {
    id: String(r.id),
    planId: r.plan_id,
    sessionId: r.session_id,
    seq: r.seq,
    type: r.type,
    taskId: r.task_id,
    at: r.at.toISOString(),
    data: (r.payload ?? {}) as Record<string, unknown>,
  };
}

/** A plan's events with `afterSeq < seq < beforeSeq` (beforeSeq open when omitted), in seq order. */
export async function planEventsAfter(
  db: Kysely<Database>,
  planId: string,
  afterSeq: number,
  opts: { beforeSeq?: number; limit?: number } = {},
): Promise<StoredEvent[]> {
  let q = db.selectFrom('plan_events').select(COLUMNS).where('plan_id', '=', planId).where('seq', '>', afterSeq);
  if (opts.beforeSeq !== undefined) q = q.where('seq', '<', opts.beforeSeq);
  const rows = await q.orderBy('seq').limit(opts.limit ?? REPLAY_PAGE).execute();
  return rows.map(toStored);
}

/** A session's events with a global id above `afterId`, in id order. */
export async function sessionEventsAfter(db: Kysely<Database>, sessionId: string, afterId: bigint, limit = REPLAY_PAGE): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom('plan_events')
    .select(COLUMNS)
    .where('session_id', '=', sessionId)
    .where('id', '>', sql<string>`${afterId.toString()}::bigint`)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toStored);
}

/**
 * Where a session client that last saw global id `uptoId` stands in each
 * plan: the highest seq with an id at or below it. Resuming a session
 * stream continues every plan from there.
 */
export async function sessionPlanSeqs(db: Kysely<Database>, sessionId: string, uptoId: bigint): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('plan_events')
    .select(['plan_id', (eb) => eb.fn.max('seq').as('seq')])
    .where('session_id', '=', sessionId)
    .where('id', '<=', sql<string>`${uptoId.toString()}::bigint`)
    .groupBy('plan_id')
    .execute();
  return new Map(rows.map((r) => [r.plan_id, Number(r.seq)]));
}
