import { sql, type Kysely } from 'kysely';
import type { Queue } from 'bullmq';
import type { Database } from '../../db/schema.js';
import type { Deps } from '../../src/deps.js';
import type { StoredEvent } from '../../src/events/event-log.js';
import { ACTIVE_PLAN_STATUSES } from '../../src/limits/active-plans.js';
import { jobId, jobOptions, plannerJob } from '../../src/queues/catalog.js';
import { keyedBatcher } from '../../src/util/batcher.js';

/** One accepted chat request, as the route validated it. */
export interface ChatRequest {
  userId: string;
  projectId: string;
  /** The session the client named, or null for a new one titled `topic`. */
  sessionId: string | null;
  topic: string | null;
  message: string;
}

export type ChatOutcome =
  | { status: 'accepted'; planId: string; sessionId: string; event: StoredEvent }
  /** The project is not the user's (deleted since the scope loaded it). */
  | { status: 'no_project' }
  /** The named session is not one of the user's in this project. */
  | { status: 'no_session' }
  /** USER_MAX_EXECUTING_PLANS reached: `active` plans counted, this one included none of its batch's refused ones. */
  | { status: 'at_cap'; active: number };

/**
 * One chat statement in flight per process: the next batch starts after the
 * previous one committed, so it counts the plans that one wrote and the cap
 * holds exactly within a process. (2 or 4 in flight measured no faster.)
 */
const COMMITS_IN_FLIGHT = 1;

/**
 * Group commit of `POST …/chat`: the requests that arrive while a batch is in
 * flight are written by the next one, in ONE statement and so one transaction
 * and one WAL flush: for each request the tenancy checks (project, and the
 * given session, locked FOR KEY SHARE so a concurrent delete cannot slip
 * between check and insert), the user's cap on active plans, then the session
 * (when new), the plan in `planning` (its event counter at 1), the user's
 * message and the `plan.planning` event. A request refused by a check writes
 * nothing and does not affect the others. The cap is exact within a process
 * (requests of one user in a batch are ranked, and batches run one after the
 * other); API processes writing at the same time can each see the same free
 * slot, so the cap can be passed by at most one batch per other process.
 *
 * Should the statement fail on a request's data (a NUL in a message, say:
 * SQLSTATE class 22 or 23), its requests are written again one by one, so
 * only the culprit gets the error. Any other failure (PostgreSQL down, a
 * timeout) is every request's, as it would have been alone: no retry.
 */
export function createChatCommitter(db: Kysely<Database>, maxActivePlans: number): (req: ChatRequest) => Promise<ChatOutcome> {
  const commit = async (items: ChatRequest[]): Promise<ChatOutcome[]> => {
    const r = await chatStatement(items, maxActivePlans).execute(db);
    return r.rows.map((row) => {
      if (!row.project_ok) return { status: 'no_project' };
      if (maxActivePlans > 0 && !row.plan_id && (row.session_ok ? row.active + row.rank! > maxActivePlans : row.active >= maxActivePlans)) {
        const acceptedBefore = row.session_ok ? Math.min(row.rank! - 1, Math.max(0, maxActivePlans - row.active)) : 0;
        return { status: 'at_cap', active: row.active + acceptedBefore };
      }
      if (!row.session_ok || !row.plan_id) return { status: 'no_session' };
      const event: StoredEvent = {
        id: String(row.event_id), planId: row.plan_id, sessionId: row.session_id!, seq: 1, type: 'plan.planning',
        taskId: null, at: row.at!.toISOString(), data: {},
      };
      return { status: 'accepted', planId: row.plan_id, sessionId: row.session_id!, event };
    });
  };

  const batch = keyedBatcher<ChatRequest, { ok: ChatOutcome } | { err: unknown }>(
    async (_key, items) => {
      try {
        return (await commit(items)).map((ok) => ({ ok }));
      } catch (err) {
        if (items.length === 1 || !isDataError(err)) return items.map(() => ({ err }));
        return Promise.all(items.map((item) => commit([item]).then(([ok]) => ({ ok: ok! }), (e: unknown) => ({ err: e }))));
      }
    },
    { maxInFlight: COMMITS_IN_FLIGHT },
  );
  return async (req) => {
    const out = await batch('chat', req);
    if ('err' in out) throw out.err;
    return out.ok;
  };
}

/** PostgreSQL refused a value (class 22, data exception) or a constraint (class 23): one request's fault, not the batch's. */
const isDataError = (err: unknown) => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
};

interface ChatRow {
  i: number;
  project_ok: boolean;
  session_ok: boolean;
  active: number;
  rank: number | null;
  plan_id: string | null;
  session_id: string | null;
  event_id: string | null;
  at: Date | null;
}

/** The one statement of a batch; a row per request, in order (`i` is its index). */
function chatStatement(items: ChatRequest[], cap: number) {
  const activeStatuses = sql.join(ACTIVE_PLAN_STATUSES.map((s) => sql.lit(s)));
  // With no cap, no count: a user's active plans can be many, and counting them is the one slow part.
  const active =
    cap > 0
      ? sql`SELECT u.user_id, (SELECT count(*) FROM task_plans tp WHERE tp.user_id = u.user_id AND tp.status IN (${activeStatuses}))::int AS n
            FROM (SELECT DISTINCT user_id FROM input) u`
      : sql`SELECT DISTINCT user_id, 0 AS n FROM input`;
  return sql<ChatRow>`
    WITH input AS MATERIALIZED (
      SELECT * FROM unnest(
        ${items.map((_, i) => i)}::int[], ${items.map((x) => x.userId)}::uuid[], ${items.map((x) => x.projectId)}::uuid[],
        ${items.map((x) => x.sessionId)}::uuid[], ${items.map((x) => x.topic)}::text[], ${items.map((x) => x.message)}::text[]
      ) AS t(i, user_id, project_id, given_session, topic, message)
    ),
    project AS MATERIALIZED (
      SELECT id, user_id FROM user_projects WHERE id IN (SELECT project_id FROM input) FOR KEY SHARE
    ),
    session AS MATERIALIZED (
      SELECT id, user_id, project_id FROM chat_sessions WHERE id IN (SELECT given_session FROM input) FOR KEY SHARE
    ),
    checked AS MATERIALIZED (
      SELECT input.*,
        EXISTS (SELECT 1 FROM project p WHERE p.id = input.project_id AND p.user_id = input.user_id) AS project_ok,
        (input.given_session IS NULL OR EXISTS (
          SELECT 1 FROM session s WHERE s.id = input.given_session AND s.project_id = input.project_id AND s.user_id = input.user_id
        )) AS session_ok
      FROM input
    ),
    active AS MATERIALIZED (${active}),
    ranked AS MATERIALIZED (
      SELECT checked.*, active.n AS active,
        CASE WHEN project_ok AND session_ok
          THEN row_number() OVER (PARTITION BY checked.user_id, project_ok AND session_ok ORDER BY checked.i)::int END AS rank
      FROM checked JOIN active USING (user_id)
    ),
    accepted AS MATERIALIZED (
      SELECT i, user_id, project_id, topic, message, given_session IS NULL AS new_session,
        coalesce(given_session, gen_random_uuid()) AS session_id, gen_random_uuid() AS plan_id
      FROM ranked
      WHERE project_ok AND session_ok AND (${cap} <= 0 OR active + rank <= ${cap})
    ),
    s AS (
      INSERT INTO chat_sessions (id, user_id, project_id, topic)
      SELECT session_id, user_id, project_id, topic FROM accepted WHERE new_session
    ),
    p AS (
      INSERT INTO task_plans (id, user_id, project_id, session_id, original_request, status, critical_path, event_seq)
      SELECT plan_id, user_id, project_id, session_id, message, 'planning', '[]'::jsonb, 1 FROM accepted
    ),
    m AS (
      INSERT INTO chat_messages (session_id, user_id, project_id, role, content, plan_id)
      SELECT session_id, user_id, project_id, 'user', message, plan_id FROM accepted
    ),
    e AS (
      INSERT INTO plan_events (plan_id, session_id, seq, type)
      SELECT plan_id, session_id, 1, 'plan.planning' FROM accepted
      RETURNING id, plan_id, at
    )
    SELECT r.i, r.project_ok, r.session_ok, r.active, r.rank, a.plan_id, a.session_id, e.id AS event_id, e.at
    FROM ranked r LEFT JOIN accepted a ON a.i = r.i LEFT JOIN e ON e.plan_id = a.plan_id
    ORDER BY r.i`;
}

/** What the hand-off to Redis of one committed plan came to. */
export type HandOff = { enqueued: true } | { enqueued: false; err: unknown };

/**
 * The Redis side of accepted chats, batched the same way: every committed
 * plan's `plan.planning` event in one publish pipeline and every planner job
 * in one `addBulk` (job id = plan id, so a plan already enqueued is not
 * enqueued twice). Never rejects.
 */
export function createPlannerHandOff(deps: Pick<Deps, 'publish'>, planner: Queue): (planId: string, event: StoredEvent) => Promise<HandOff> {
  const batch = keyedBatcher<{ planId: string; event: StoredEvent }, HandOff>(async (_key, items) => {
    const [, added] = await Promise.allSettled([
      deps.publish(items.map((x) => x.event)),
      planner.addBulk(
        items.map(({ planId }) => ({
          name: 'plan',
          data: plannerJob.parse({ planId }),
          opts: { ...jobOptions.planner(), jobId: jobId.planner(planId) },
        })),
      ),
    ]);
    return items.map(() => (added.status === 'fulfilled' ? { enqueued: true } : { enqueued: false, err: added.reason }));
  });
  return (planId, event) => batch('planner', { planId, event });
}
