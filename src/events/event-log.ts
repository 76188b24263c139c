import { sql, type Kysely, type Transaction } from 'kysely';
import type { Redis } from 'ioredis';
import type { Database } from '../../db/schema.js';

/** An event before it gets its sequence number (events.md). */
export interface NewEvent {
  type: string;
  taskId?: string | null;
  /** Type-specific fields, merged into the event's JSON. */
  data?: Record<string, unknown>;
}

/** An event as stored, published and streamed. */
export interface StoredEvent {
  /** Global id (bigserial): the `id:` of session streams. */
  id: string;
  planId: string;
  sessionId: string;
  seq: number;
  type: string;
  taskId: string | null;
  at: string;
  data: Record<string, unknown>;
}

/** The JSON an SSE client receives for an event. */
export function eventJson(e: StoredEvent): Record<string, unknown> {
  return {
    seq: e.seq,
    type: e.type,
    plan_id: e.planId,
    ...(e.taskId ? { task_id: e.taskId } : {}),
    at: e.at,
    ...e.data,
  };
}

/** Redis pub/sub channels of a deployment. */
export const channels = {
  plan: (prefix: string, planId: string) => `${prefix}:events:plan:${planId}`,
  session: (prefix: string, sessionId: string) => `${prefix}:events:session:${sessionId}`,
};

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Appends events to a plan's log inside the caller's transaction: the plan
 * row's `event_seq` is bumped in the same statement that reserves the numbers,
 * so sequence numbers are gap-free and ordered by commit even under races
 * (the row lock serialises writers of one plan).
 */
export async function appendEvents(db: Db, planId: string, events: NewEvent[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const reserved = await db
    .updateTable('task_plans')
    .set({ event_seq: sql`event_seq + ${events.length}` })
    .where('id', '=', planId)
    .returning(['event_seq', 'session_id'])
    .executeTakeFirstOrThrow();
  const first = reserved.event_seq - events.length + 1;
  const rows = await db
    .insertInto('plan_events')
    .values(
      events.map((e, i) => ({
        plan_id: planId,
        session_id: reserved.session_id,
        seq: first + i,
        type: e.type,
        task_id: e.taskId ?? null,
        payload: JSON.stringify(e.data ?? {}),
      })),
    )
    .returning(['id', 'seq', 'type', 'task_id', 'payload', 'at'])
    .execute();
  return rows.map((r) => ({
    id: String(r.id),
    planId,
    sessionId: reserved.session_id,
    seq: r.seq,
    type: r.type,
    taskId: r.task_id,
    at: r.at.toISOString(),
    data: r.payload as Record<string, unknown>,
  }));
}

/**
 * Publishes committed events for the live tail. Call after the transaction
 * commits; a lost publish is repaired by the SSE reader's replay from
 * PostgreSQL, so this never throws.
 */
export async function publishEvents(redis: Redis, prefix: string, events: StoredEvent[]): Promise<void> {
  if (events.length === 0) return;
  const pipe = redis.pipeline();
  for (const e of events) {
    const msg = JSON.stringify(e);
    pipe.publish(channels.plan(prefix, e.planId), msg);
    pipe.publish(channels.session(prefix, e.sessionId), msg);
  }
  await pipe.exec().catch(() => undefined);
}

/**
 * Publishes an ephemeral event (`task.delta`): live only, no sequence number,
 * never stored.
 */
export async function publishEphemeral(
  redis: Redis,
  prefix: string,
  planId: string,
  sessionId: string,
  type: string,
  taskId: string,
  data: Record<string, unknown>,
): Promise<void> {
  const msg = JSON.stringify({ ephemeral: true, planId, sessionId, type, taskId, at: new Date().toISOString(), data });
  const pipe = redis.pipeline();
  pipe.publish(channels.plan(prefix, planId), msg);
  pipe.publish(channels.session(prefix, sessionId), msg);
  await pipe.exec().catch(() => undefined);
}
