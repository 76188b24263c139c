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
 * Appends events to a plan's log inside the caller's transaction, in ONE
 * statement: it bumps the plan row's `event_seq` (taking the row lock, held
 * until commit) and inserts the events with the numbers it reserved. Sequence
 * numbers are therefore gap-free and committed in order. Call it last in a
 * transaction: the plan row stays locked only for this statement and the
 * commit. `addCost` is added to the plan's running actual cost by the same
 * statement (it locks the same row anyway).
 */
export async function appendEvents(db: Db, planId: string, events: NewEvent[], addCost = 0): Promise<StoredEvent[]> {
  if (events.length === 0) {
    if (addCost > 0) await sql`UPDATE task_plans SET total_actual_cost = total_actual_cost + ${addCost} WHERE id = ${planId}`.execute(db);
    return [];
  }
  const payload = JSON.stringify(events.map((e) => ({ type: e.type, task_id: e.taskId ?? null, payload: e.data ?? {} })));
  const r = await sql<{ id: string; seq: number; type: string; task_id: string | null; payload: Record<string, unknown>; at: Date; session_id: string }>`
    WITH p AS (
      UPDATE task_plans
      SET event_seq = event_seq + ${events.length}, total_actual_cost = total_actual_cost + ${addCost}
      WHERE id = ${planId}
      RETURNING event_seq, session_id
    )
    INSERT INTO plan_events (plan_id, session_id, seq, type, task_id, payload)
    SELECT ${planId}::uuid, p.session_id, p.event_seq - ${events.length} + e.ord::int,
           e.value->>'type', e.value->>'task_id', coalesce(e.value->'payload', '{}'::jsonb)
    FROM p, jsonb_array_elements(${payload}::jsonb) WITH ORDINALITY AS e(value, ord)
    RETURNING id, seq, type, task_id, payload, at, session_id`.execute(db);
  if (r.rows.length !== events.length) throw new Error(`plan ${planId} not found while appending events`);
  return r.rows
    .map((row) => ({
      id: String(row.id),
      planId,
      sessionId: row.session_id,
      seq: row.seq,
      type: row.type,
      taskId: row.task_id,
      at: row.at.toISOString(),
      data: row.payload,
    }))
    .sort((a, b) => a.seq - b.seq);
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
