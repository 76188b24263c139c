import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, PlanStatus, TaskStatus } from '../schema.js';
import { appendEvents, type NewEvent, type StoredEvent } from '../../src/events/event-log.js';
import { settle, planOutcome, type PlanOutcome, type TaskNode } from '../../src/core/dag-state.js';

/**
 * Every state change of a running plan, as guarded SQL (STYLE.md §8): an
 * UPDATE only matches the expected status (and, for a running task, the
 * lease token of the worker that claimed it), so a race or a zombie worker
 * can never make an illegal transition or write a result twice.
 *
 * Task transitions do not lock the plan: settling dependents needs no lock
 * because every transition is guarded (a dependent is queued or skipped at
 * most once, whichever transaction gets there), and a dependent's own
 * processor settles it again when it runs (it only runs once every gate was
 * released, i.e. after every dependency committed). Only the event sequence
 * is serialised per plan, by appendEvents as the last statement of each
 * transaction, so the plan row is locked for one statement and the commit.
 * Plan status transitions (start, cancel, approval, finish) lock the plan
 * row first: they are rare and must see a stable status.
 */
type Db = Kysely<Database>;
type Tx = Transaction<Database>;

export interface PlanRow {
  id: string;
  status: PlanStatus;
  userId: string;
  projectId: string;
  sessionId: string;
  originalRequest: string;
  maxParallelTasks: number | null;
}

export interface TaskRow extends TaskNode {
  id: string;
  description: string;
  agentId: string | null;
  agentName: string;
  attempts: number;
  leaseToken: string | null;
  leaseUntil: Date | null;
  sim: Record<string, unknown> | null;
}

export interface Changed {
  events: StoredEvent[];
  /** The transition matched (false: the row was not in the expected state). */
  ok: boolean;
}

const NO_CHANGE: Changed = { events: [], ok: false };

export async function loadPlan(db: Db | Tx, planId: string): Promise<PlanRow | undefined> {
  const row = await db
    .selectFrom('task_plans as p')
    .innerJoin('user_projects as pr', 'pr.id', 'p.project_id')
    .select(['p.id', 'p.status', 'p.user_id', 'p.project_id', 'p.session_id', 'p.original_request', 'pr.settings'])
    .where('p.id', '=', planId)
    .executeTakeFirst();
  return row ? toPlanRow(row) : undefined;
}

function toPlanRow(row: {
  id: string; status: PlanStatus; user_id: string; project_id: string; session_id: string; original_request: string; settings: unknown;
}): PlanRow {
  const max = (row.settings as { max_parallel_tasks?: number }).max_parallel_tasks;
  return {
    id: row.id,
    status: row.status,
    userId: row.user_id,
    projectId: row.project_id,
    sessionId: row.session_id,
    originalRequest: row.original_request,
    maxParallelTasks: typeof max === 'number' ? max : null,
  };
}

/** What one task needs to run, beyond the plan's graph. */
export interface TaskInputs {
  agent: { name: string; status: 'active' | 'disabled'; config: import('../schema.js').AgentConfig } | null;
  /** Results of the task's dependencies, by task id. */
  results: Map<string, string>;
  /** Messages other agents of the plan left for this task's agent, oldest first. */
  inbox: Array<{ from: string; text: string }>;
  /** The plan owner's LLM spend since 00:00 UTC (for the daily budget). */
  spentTodayUsd: number;
}

export interface Loaded {
  plan: PlanRow | undefined;
  /** Every task of the plan, as the statement found them (before its own claims). */
  tasks: TaskRow[];
  /** What each requested task needs to run, by task id. */
  inputs: Map<string, TaskInputs>;
  spentTodayUsd: number;
}

/** The plan, its tasks, and what each of `taskIds` needs to run; claims nothing. */
export async function loadPlanForTasks(db: Db, planId: string, taskIds: readonly string[]): Promise<Loaded> {
  return (await claimAndLoad(db, planId, taskIds.map((taskId) => ({ taskId })), 0)).loaded;
}

/** One task a worker wants to run: with `claim`, it is claimed for that attempt if it can run. */
export interface ClaimRequest {
  taskId: string;
  claim?: { token: string; attempt: number };
}

/**
 * The hot path's first statement, for any number of tasks of one plan (the
 * agent workers batch a plan's jobs that arrive together, so the 50
 * dependents a fan-out releases at once cost one round trip, not 100):
 *
 * - **claims** each requested task that can run now: pending or queued (or
 *   running with its claim released or its lease expired: a killed worker),
 *   every dependency completed, the plan executing → running, with the
 *   worker's lease token; a task claimed straight from `pending` gets its
 *   `task.queued` event too, so the stream still shows pending → queued →
 *   running. Task rows are locked in id order, then the plan row (the event
 *   sequence), so two batches cannot deadlock; the row lock is FOR NO KEY
 *   UPDATE, as an UPDATE's own, so the KEY SHARE locks that inserts
 *   referencing a task row take (an `llm_calls` row being written) neither
 *   wait for it nor deadlock with it;
 * - **loads** the plan, its tasks (as they were before this statement's own
 *   claims: a worker whose claim was refused decides from them whether to
 *   skip, wait or leave), and each requested task's agent, dependency results
 *   (the union, each once) and inbox.
 *
 * Returns the load and, per request in order, the claim's outcome (ok=false:
 * not claimable now, or no claim asked).
 */
export async function claimAndLoad(
  db: Db,
  planId: string,
  requests: readonly ClaimRequest[],
  leaseMs: number,
): Promise<{ loaded: Loaded; claims: Changed[] }> {
  const claiming = requests.filter((r) => r.claim);
  if (new Set(claiming.map((r) => r.taskId)).size !== claiming.length) {
    // A task named twice (a stalled job re-delivered while its first delivery
    // is still here): claim in rounds, each task at most once per statement.
    const seen = new Set<string>();
    const first = requests.map((r) => (r.claim && (seen.has(r.taskId) || !seen.add(r.taskId)) ? { taskId: r.taskId } : r));
    const a = await claimAndLoad(db, planId, first, leaseMs);
    const again = requests.map((r, i) => (first[i] !== r ? r : { taskId: r.taskId }));
    const b = await claimAndLoad(db, planId, again, leaseMs);
    return { loaded: a.loaded, claims: requests.map((_, i) => (first[i] === requests[i] ? a.claims[i]! : b.claims[i]!)) };
  }
  const r = await sql<{
    id: string; status: PlanStatus; user_id: string; project_id: string; session_id: string; original_request: string;
    settings: { max_parallel_tasks?: number }; tasks: Array<Record<string, unknown>> | null;
    mine: Array<{ task_id: string; dependencies: string[]; agent: TaskInputs['agent']; inbox: Array<{ from: string; text: string }> | null }> | null;
    results: Array<{ task_id: string; text: string | null }> | null;
    spent_today: number | null;
    events: Array<Omit<EventRow, 'at'> & { at: string }> | null;
  }>`
    WITH c AS (
      SELECT * FROM unnest(${claiming.map((x) => x.taskId)}::text[], ${claiming.map((x) => x.claim!.token)}::text[],
                           ${claiming.map((x) => x.claim!.attempt)}::int[]) WITH ORDINALITY AS c(task_id, token, attempt, ord)
    ), old AS (
      SELECT t.id, t.status, c.token, c.attempt, c.ord
      FROM task_plan_tasks t JOIN c ON c.task_id = t.task_id
      WHERE t.plan_id = ${planId}
        AND NOT EXISTS (SELECT 1 FROM task_plan_tasks d
                        WHERE d.plan_id = ${planId} AND t.dependencies ? d.task_id AND d.status <> 'completed')
      ORDER BY t.id FOR NO KEY UPDATE OF t
    ), t AS (
      UPDATE task_plan_tasks t SET
        status = 'running',
        attempts = t.attempts + 1,
        lease_token = old.token,
        lease_until = now() + ${`${leaseMs} milliseconds`}::interval,
        queued_at = coalesce(t.queued_at, now()),
        started_at = coalesce(t.started_at, now())
      FROM old
      WHERE t.id = old.id
        AND (old.status IN ('pending', 'queued')
             OR (old.status = 'running' AND (t.lease_token IS NULL OR t.lease_until < now())))
        AND EXISTS (SELECT 1 FROM task_plans WHERE id = ${planId} AND status = 'executing')
      RETURNING t.task_id, old.status AS old_status, old.ord,
                jsonb_build_object('agent_name', t.agent_name, 'attempt', old.attempt) AS payload
    ), e AS (
      SELECT t.task_id, t.payload, x.type, t.ord, x.ord AS sub
      FROM t, LATERAL (VALUES ('task.queued', 1), ('task.started', 2)) AS x(type, ord)
      WHERE x.type = 'task.started' OR t.old_status = 'pending'
    ), p AS (
      UPDATE task_plans SET event_seq = event_seq + (SELECT count(*) FROM e)
      WHERE id = ${planId} AND EXISTS (SELECT 1 FROM t)
      RETURNING event_seq, session_id
    ), ins AS (
      INSERT INTO plan_events (plan_id, session_id, seq, type, task_id, payload)
      SELECT ${planId}::uuid, p.session_id,
             p.event_seq - (SELECT count(*) FROM e)::int + row_number() OVER (ORDER BY e.ord, e.sub)::int,
             e.type, e.task_id, e.payload
      FROM p, e
      RETURNING id, seq, type, task_id, payload, at, session_id
    ), me AS (
      SELECT task_id, agent_id, agent_name, dependencies FROM task_plan_tasks
      WHERE plan_id = ${planId} AND task_id = ANY(${[...new Set(requests.map((x) => x.taskId))]}::text[])
    )
    SELECT p.id, p.status, p.user_id, p.project_id, p.session_id, p.original_request, pr.settings,
      (SELECT json_agg(json_build_object(
          'id', t.id, 'task_id', t.task_id, 'dependencies', t.dependencies, 'status', t.status,
          'description', t.description, 'agent_id', t.agent_id, 'agent_name', t.agent_name, 'attempts', t.attempts,
          'lease_token', t.lease_token, 'lease_until', t.lease_until, 'sim', t.sim) ORDER BY t.level, t.task_id)
       FROM task_plan_tasks t WHERE t.plan_id = p.id) AS tasks,
      (SELECT json_agg(json_build_object(
          'task_id', me.task_id,
          'dependencies', me.dependencies,
          'agent', (SELECT json_build_object('name', a.name, 'status', a.status, 'config', a.config) FROM user_agents a WHERE a.id = me.agent_id),
          'inbox', (SELECT json_agg(json_build_object('from', m.from_agent, 'text', m.text) ORDER BY m.id)
                    FROM agent_messages m WHERE m.plan_id = p.id AND m.to_agent = me.agent_name)))
       FROM me) AS mine,
      -- the results of the requested tasks' completed dependencies (the union, each once)
      (SELECT json_agg(json_build_object('task_id', d.task_id, 'text', d.result->>'text'))
       FROM task_plan_tasks d WHERE d.plan_id = p.id AND d.status = 'completed'
         AND EXISTS (SELECT 1 FROM me WHERE me.dependencies ? d.task_id)) AS results,
      -- the same range scan as src/limits/budget.ts spentTodayQuery (ix_llm_calls_user_id_created_at)
      (SELECT coalesce(sum(c.cost), 0)::float8 FROM llm_calls c
       WHERE c.user_id = p.user_id AND c.created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')) AS spent_today,
      (SELECT json_agg(ins) FROM ins) AS events
    FROM task_plans p JOIN user_projects pr ON pr.id = p.project_id
    WHERE p.id = ${planId}`.execute(db);
  const row = r.rows[0];
  const spentTodayUsd = row?.spent_today ?? 0;
  const inputs = new Map<string, TaskInputs>();
  const events = (row?.events ?? []).map((e) => ({ ...e, at: new Date(e.at) }));
  const claims = splitByTask(planId, requests.map((x) => (x.claim ? x.taskId : undefined)), events);
  if (!row) return { loaded: { plan: undefined, tasks: [], inputs, spentTodayUsd }, claims };
  const results = new Map((row.results ?? []).map((x) => [x.task_id, x.text ?? '']));
  for (const m of row.mine ?? []) {
    inputs.set(m.task_id, {
      agent: m.agent ?? null,
      results: new Map(m.dependencies.filter((d) => results.has(d)).map((d) => [d, results.get(d)!])),
      inbox: m.inbox ?? [],
      spentTodayUsd,
    });
  }
  const tasks = (row.tasks ?? []).map((t) => ({
    id: t.id as string,
    taskId: t.task_id as string,
    dependencies: t.dependencies as string[],
    status: t.status as TaskStatus,
    description: t.description as string,
    agentId: (t.agent_id as string | null) ?? null,
    agentName: t.agent_name as string,
    attempts: t.attempts as number,
    leaseToken: (t.lease_token as string | null) ?? null,
    leaseUntil: t.lease_until ? new Date(t.lease_until as string) : null,
    sim: (t.sim as Record<string, unknown> | null) ?? null,
  }));
  return { loaded: { plan: toPlanRow(row), tasks, inputs, spentTodayUsd }, claims };
}

export async function loadTasks(db: Db | Tx, planId: string): Promise<TaskRow[]> {
  const rows = await db
    .selectFrom('task_plan_tasks')
    .select([
      'id', 'task_id', 'dependencies', 'status', 'description', 'agent_id', 'agent_name', 'attempts',
      'lease_token', 'lease_until', 'sim',
    ])
    .where('plan_id', '=', planId)
    .orderBy('level')
    .orderBy('task_id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    taskId: r.task_id,
    dependencies: r.dependencies,
    status: r.status,
    description: r.description,
    agentId: r.agent_id,
    agentName: r.agent_name,
    attempts: r.attempts,
    leaseToken: r.lease_token,
    leaseUntil: r.lease_until,
    sim: r.sim as Record<string, unknown> | null,
  }));
}

/** Results of the given tasks (the inputs of a dependent), by task id. */
export async function loadResults(db: Db, planId: string, taskIds: string[]): Promise<Map<string, string>> {
  if (taskIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('task_plan_tasks')
    .select(['task_id', 'result'])
    .where('plan_id', '=', planId)
    .where('task_id', 'in', taskIds)
    .execute();
  return new Map(rows.map((r) => [r.task_id, (r.result as { text?: string } | null)?.text ?? '']));
}

async function lockPlan(tx: Tx, planId: string): Promise<PlanStatus | undefined> {
  const r = await sql<{ status: PlanStatus }>`SELECT status FROM task_plans WHERE id = ${planId} FOR UPDATE`.execute(tx);
  return r.rows[0]?.status;
}

/**
 * Applies the settlement of the plan's graph (queued and skipped tasks) as
 * this transaction sees it, and returns the events of the transitions that
 * actually happened (a concurrent transaction may have made some already).
 */
async function applySettlement(tx: Tx, planId: string): Promise<NewEvent[]> {
  const tasks = await loadTasks(tx, planId);
  const { queued, skipped } = settle(tasks);
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const events: NewEvent[] = [];
  for (const s of skipped) {
    const r = await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'skipped', error: s.reason, completed_at: sql`now()` })
      .where('plan_id', '=', planId)
      .where('task_id', '=', s.taskId)
      .where('status', 'in', ['pending', 'queued'])
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) events.push({ type: 'task.skipped', taskId: s.taskId, data: { reason: s.reason } });
  }
  if (queued.length) {
    const rows = await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'queued', queued_at: sql`now()` })
      .where('plan_id', '=', planId)
      .where('task_id', 'in', queued)
      .where('status', '=', 'pending')
      .returning('task_id')
      .execute();
    for (const { task_id: id } of rows) {
      const t = byId.get(id)!;
      events.push({ type: 'task.queued', taskId: id, data: { agent_name: t.agentName, attempt: t.attempts + 1 } });
    }
  }
  return events;
}

/** A plan-status transition: the plan row is locked first and its status handed to `fn`. */
async function inPlanTx(db: Db, planId: string, fn: (tx: Tx, status: PlanStatus | undefined) => Promise<NewEvent[] | null>): Promise<Changed> {
  return db.transaction().execute(async (tx) => {
    const status = await lockPlan(tx, planId);
    const events = await fn(tx, status);
    if (events === null) return NO_CHANGE;
    return { ok: true, events: await appendEvents(tx, planId, events) };
  });
}

/**
 * A task transition: no plan lock up front; the events (and the cost to add
 * to the plan) are appended by the transaction's last statement.
 */
async function inTaskTx(db: Db, planId: string, fn: (tx: Tx) => Promise<{ events: NewEvent[]; cost?: number } | null>): Promise<Changed> {
  return db.transaction().execute(async (tx) => {
    const out = await fn(tx);
    if (out === null) return NO_CHANGE;
    return { ok: true, events: await appendEvents(tx, planId, out.events, out.cost ?? 0) };
  });
}

/**
 * created | pending_approval → executing. Root tasks become queued.
 * Returns ok=false when the plan was not in a startable state.
 */
export async function startPlan(
  db: Db,
  planId: string,
  from: PlanStatus[] = ['created', 'pending_approval'],
  approval?: { userId: string },
): Promise<Changed> {
  return inPlanTx(db, planId, async (tx, status) => {
    if (!status || !from.includes(status)) return null;
    await tx
      .updateTable('task_plans')
      .set({
        status: 'executing',
        started_at: sql`now()`,
        ...(approval ? { decided_by: approval.userId, decided_at: sql`now()` } : {}),
      })
      .where('id', '=', planId)
      .execute();
    const approved: NewEvent[] = approval ? [{ type: 'plan.approved' }] : [];
    return [...approved, { type: 'plan.executing' }, ...(await applySettlement(tx, planId))];
  });
}

/** created → pending_approval, with its expiry. */
export async function requestApproval(db: Db, planId: string, timeoutS: number): Promise<Changed & { expiresAt?: Date }> {
  let expiresAt: Date | undefined;
  const changed = await inPlanTx(db, planId, async (tx, status) => {
    if (status !== 'created') return null;
    const row = await tx
      .updateTable('task_plans')
      .set({ status: 'pending_approval', approval_expires_at: sql`now() + ${`${timeoutS} seconds`}::interval` })
      .where('id', '=', planId)
      .returning(['approval_reason', 'approval_expires_at'])
      .executeTakeFirstOrThrow();
    expiresAt = row.approval_expires_at ?? undefined;
    return [{ type: 'plan.pending_approval', data: { approval_reason: row.approval_reason, approval_expires_at: expiresAt?.toISOString() } }];
  });
  return { ...changed, expiresAt };
}

/**
 * pending_approval → rejected (a user's decision) or expired (the timer; only
 * once the expiry has passed). One of approve, reject and expire wins: the
 * plan row is locked and the status checked in the same transaction.
 */
export async function closeApproval(
  db: Db,
  planId: string,
  to: 'rejected' | 'expired',
  opts: { userId?: string; reason?: string } = {},
): Promise<Changed> {
  return inPlanTx(db, planId, async (tx, status) => {
    if (status !== 'pending_approval') return null;
    let q = tx
      .updateTable('task_plans')
      .set({
        status: to,
        completed_at: sql`now()`,
        decision_reason: opts.reason ?? null,
        ...(opts.userId ? { decided_by: opts.userId, decided_at: sql`now()` } : {}),
      })
      .where('id', '=', planId);
    if (to === 'expired') q = q.where('approval_expires_at', '<=', sql<Date>`now()`);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'cancelled', completed_at: sql`now()` })
      .where('plan_id', '=', planId)
      .where('status', 'in', ['pending', 'queued'])
      .execute();
    return [{ type: `plan.${to}`, data: opts.reason ? { reason: opts.reason } : {} }];
  });
}

/**
 * pending → queued for a task that could run but waits for an admission slot:
 * only while its plan executes and every dependency completed.
 */
export async function markQueuedIfReady(db: Db, planId: string, taskId: string): Promise<Changed> {
  return inTaskTx(db, planId, async (tx) => {
    const r = await sql<{ agent_name: string; attempts: number }>`
      UPDATE task_plan_tasks t SET status = 'queued', queued_at = now()
      WHERE t.plan_id = ${planId} AND t.task_id = ${taskId} AND t.status = 'pending'
        AND EXISTS (SELECT 1 FROM task_plans WHERE id = ${planId} AND status = 'executing')
        AND NOT EXISTS (SELECT 1 FROM task_plan_tasks d
                        WHERE d.plan_id = ${planId} AND t.dependencies ? d.task_id AND d.status <> 'completed')
      RETURNING t.agent_name, t.attempts`.execute(tx);
    const row = r.rows[0];
    if (!row) return null;
    return { events: [{ type: 'task.queued', taskId, data: { agent_name: row.agent_name, attempt: row.attempts + 1 } }] };
  });
}

/** A project's `max_parallel_tasks` setting (null: not set). */
export async function loadProjectMaxParallel(db: Db, projectId: string): Promise<number | null> {
  const row = await db.selectFrom('user_projects').select('settings').where('id', '=', projectId).executeTakeFirst();
  const max = (row?.settings as { max_parallel_tasks?: number } | undefined)?.max_parallel_tasks;
  return typeof max === 'number' ? max : null;
}

/** pending | queued → skipped because a dependency can no longer complete; cascades. */
export async function skipTask(db: Db, planId: string, task: TaskRow, reason: string): Promise<Changed> {
  return inTaskTx(db, planId, async (tx) => {
    const r = await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'skipped', error: reason, completed_at: sql`now()` })
      .where('id', '=', task.id)
      .where('status', 'in', ['pending', 'queued'])
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return { events: [{ type: 'task.skipped', taskId: task.taskId, data: { reason } }, ...(await applySettlement(tx, planId))] };
  });
}

type EventRow = { id: string; seq: number; type: string; task_id: string | null; payload: Record<string, unknown>; at: Date; session_id: string };

const toStored = (planId: string, rows: EventRow[]): StoredEvent[] =>
  rows
    .map((r) => ({ id: String(r.id), planId, sessionId: r.session_id, seq: r.seq, type: r.type, taskId: r.task_id, at: r.at.toISOString(), data: r.payload }))
    .sort((a, b) => a.seq - b.seq);

const hasDuplicateTask = (items: ReadonlyArray<{ task: TaskRow }>) => new Set(items.map((i) => i.task.id)).size !== items.length;

/**
 * Runs a batch that names a task twice (a stalled job re-delivered while its
 * first delivery is still here) as several statements, each with every task
 * at most once, in order: the events of a statement are told apart by task.
 */
async function inRounds<T extends { task: TaskRow }>(items: readonly T[], run: (some: T[]) => Promise<Changed[]>): Promise<Changed[]> {
  const out: Changed[] = new Array(items.length);
  let left = items.map((item, i) => ({ item, i }));
  while (left.length > 0) {
    const seen = new Set<string>();
    const round = left.filter(({ item }) => !seen.has(item.task.id) && seen.add(item.task.id));
    const results = await run(round.map((r) => r.item));
    round.forEach((r, k) => (out[r.i] = results[k]!));
    left = left.filter((x) => !round.includes(x));
  }
  return out;
}

/** One Changed per task id, in order: the events of that task (ok when it has any). */
function splitByTask(planId: string, taskIds: ReadonlyArray<string | undefined>, rows: EventRow[]): Changed[] {
  const byTask = new Map<string, EventRow[]>();
  for (const row of rows) {
    const list = byTask.get(row.task_id!) ?? [];
    list.push(row);
    byTask.set(row.task_id!, list);
  }
  return taskIds.map((id) => {
    const mine = id === undefined ? undefined : byTask.get(id);
    return mine ? { ok: true, events: toStored(planId, mine) } : NO_CHANGE;
  });
}

/** Keeps a running task's claim alive; false when the claim was lost. */
export async function extendLease(db: Db, taskRowId: string, token: string, leaseMs: number): Promise<boolean> {
  const r = await db
    .updateTable('task_plan_tasks')
    .set({ lease_until: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
    .where('id', '=', taskRowId)
    .where('status', '=', 'running')
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface TaskOutput {
  text: string;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  durationS: number;
  toolCalls?: number;
  provider?: string;
  model?: string;
  /** host:pid of the worker process that ran it (operators, and the crash tests). */
  worker?: string;
}

export interface Completion {
  task: TaskRow;
  /** The lease token the task was claimed with. */
  token: string;
  out: TaskOutput;
}

/**
 * running → completed, by the lease holder only, in ONE statement for any
 * number of tasks of one plan: the task rows, the plan's cost and event
 * sequence, and one `task.completed` event each. The dependents are released
 * right after (gates); each settles itself when its job runs (claim, park or
 * skip), off the completing task's critical path. Task rows are locked in id
 * order before the plan row, as in {@link claimAndLoad}.
 */
export async function completeTasks(db: Db, planId: string, items: readonly Completion[]): Promise<Changed[]> {
  if (items.length === 0) return [];
  if (hasDuplicateTask(items)) return inRounds(items, (some) => completeTasks(db, planId, some));
  const rows = items.map(({ task, token, out }, i) => ({
    ord: i,
    id: task.id,
    token,
    cost: out.costUsd,
    input_tokens: out.inputTokens,
    output_tokens: out.outputTokens,
    result: { text: out.text, provider: out.provider, model: out.model, tool_calls: out.toolCalls ?? 0, worker: out.worker },
    payload: { result: out.text, actual_cost: out.costUsd, duration: out.durationS },
  }));
  const r = await sql<EventRow>`
    WITH c AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS c(ord int, id uuid, token text, cost float8, input_tokens int, output_tokens int, result jsonb, payload jsonb)
    ), locked AS (
      SELECT t.id FROM task_plan_tasks t JOIN c ON c.id = t.id AND t.status = 'running' AND t.lease_token = c.token
      ORDER BY t.id FOR NO KEY UPDATE OF t
    ), t AS (
      UPDATE task_plan_tasks t SET
        status = 'completed',
        result = c.result,
        actual_cost = coalesce(t.actual_cost, 0) + c.cost,
        input_tokens = t.input_tokens + c.input_tokens,
        output_tokens = t.output_tokens + c.output_tokens,
        error = NULL, lease_token = NULL, lease_until = NULL,
        completed_at = now()
      FROM c JOIN locked ON locked.id = c.id
      WHERE t.id = c.id AND t.status = 'running' AND t.lease_token = c.token
      RETURNING t.task_id, c.ord, c.cost, c.payload
    ), p AS (
      UPDATE task_plans SET event_seq = event_seq + (SELECT count(*) FROM t),
                            total_actual_cost = total_actual_cost + (SELECT coalesce(sum(cost), 0) FROM t)
      WHERE id = ${planId} AND EXISTS (SELECT 1 FROM t)
      RETURNING event_seq, session_id
    )
    INSERT INTO plan_events (plan_id, session_id, seq, type, task_id, payload)
    SELECT ${planId}::uuid, p.session_id,
           p.event_seq - (SELECT count(*) FROM t)::int + row_number() OVER (ORDER BY t.ord)::int,
           'task.completed', t.task_id, t.payload
    FROM p, t
    RETURNING id, seq, type, task_id, payload, at, session_id`.execute(db);
  return splitByTask(planId, items.map((c) => c.task.taskId), r.rows);
}

/**
 * A failed attempt that will be retried: the task stays running with its
 * claim released, so the next attempt (any worker) can take it.
 */
export async function releaseForRetry(db: Db, planId: string, task: TaskRow, token: string, error: string, attempt: number, costUsd: number): Promise<Changed> {
  return inTaskTx(db, planId, async (tx) => {
    const r = await tx
      .updateTable('task_plan_tasks')
      .set({ error, lease_token: null, lease_until: null, actual_cost: sql`coalesce(actual_cost, 0) + ${costUsd}` })
      .where('id', '=', task.id)
      .where('status', '=', 'running')
      .where('lease_token', '=', token)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return { cost: costUsd, events: [{ type: 'task.failed', taskId: task.taskId, data: { error, attempt, will_retry: true } }] };
  });
}

/** Releases a claim without counting a failure (graceful shutdown): another worker takes over at once. */
export async function releaseClaim(db: Db, taskRowId: string, token: string): Promise<boolean> {
  const r = await db
    .updateTable('task_plan_tasks')
    .set({ lease_token: null, lease_until: null, attempts: sql`greatest(attempts - 1, 0)` })
    .where('id', '=', taskRowId)
    .where('status', '=', 'running')
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * The task failed for good (permanent error or last attempt): running (held
 * by `token`), or a task that never started, → failed; its dependents,
 * transitively, → skipped.
 */
export async function failTask(db: Db, planId: string, task: TaskRow, token: string | null, error: string, attempt: number, costUsd: number): Promise<Changed> {
  return inTaskTx(db, planId, async (tx) => {
    let q = tx
      .updateTable('task_plan_tasks')
      .set({
        status: 'failed',
        error,
        actual_cost: sql`coalesce(actual_cost, 0) + ${costUsd}`,
        lease_token: null,
        lease_until: null,
        completed_at: sql`now()`,
      })
      .where('id', '=', task.id);
    q = token === null ? q.where('status', 'in', ['pending', 'queued', 'running']) : q.where('status', '=', 'running').where('lease_token', '=', token);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return {
      cost: costUsd,
      events: [{ type: 'task.failed', taskId: task.taskId, data: { error, attempt, will_retry: false } }, ...(await applySettlement(tx, planId))],
    };
  });
}

/** A running task aborted because its plan was cancelled. */
export async function cancelRunningTask(db: Db, planId: string, task: TaskRow, token: string, costUsd: number): Promise<Changed> {
  return inTaskTx(db, planId, async (tx) => {
    const r = await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'cancelled', error: 'cancelled', lease_token: null, lease_until: null, completed_at: sql`now()`, actual_cost: sql`coalesce(actual_cost, 0) + ${costUsd}` })
      .where('id', '=', task.id)
      .where('status', '=', 'running')
      .where('lease_token', '=', token)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return { cost: costUsd, events: [] };
  });
}

const CANCELLABLE: PlanStatus[] = ['planning', 'created', 'pending_approval', 'executing'];

/**
 * Any non-terminal plan → cancelled; its tasks not yet running → cancelled.
 * Running tasks are aborted by their workers (see cancel bus) and then marked.
 */
export async function cancelPlan(db: Db, planId: string): Promise<Changed> {
  return inPlanTx(db, planId, async (tx, status) => {
    if (!status || !CANCELLABLE.includes(status)) return null;
    await tx
      .updateTable('task_plan_tasks')
      .set({ status: 'cancelled', completed_at: sql`now()` })
      .where('plan_id', '=', planId)
      .where('status', 'in', ['pending', 'queued'])
      .execute();
    const cost = await tx.selectFrom('task_plans').select('total_actual_cost').where('id', '=', planId).executeTakeFirstOrThrow();
    await tx
      .updateTable('task_plans')
      .set({ status: 'cancelled', completed_at: sql`now()` })
      .where('id', '=', planId)
      .execute();
    return [{ type: 'plan.cancelled', data: { total_actual_cost: cost.total_actual_cost } }];
  });
}

export interface FinishInput {
  outcome: PlanOutcome;
  summary: string | null;
}

/** executing → completed | partial_success | failed, with the manager's summary as a chat message. */
export async function finishPlan(db: Db, planId: string, input: FinishInput): Promise<Changed> {
  return inPlanTx(db, planId, async (tx, status) => {
    if (status !== 'executing') return null;
    const costs = await sql<{ total: number | null }>`
      SELECT coalesce(sum(cost), 0)::float8 AS total FROM llm_calls WHERE plan_id = ${planId}`.execute(tx);
    const tasksCost = await sql<{ total: number | null }>`
      SELECT coalesce(sum(actual_cost), 0)::float8 AS total FROM task_plan_tasks WHERE plan_id = ${planId}`.execute(tx);
    // llm_calls is the complete record when the router wrote it; the tasks' sum is the floor.
    const total = Math.max(costs.rows[0]?.total ?? 0, tasksCost.rows[0]?.total ?? 0);
    const plan = await tx
      .updateTable('task_plans')
      .set({ status: input.outcome, summary: input.summary, total_actual_cost: total, completed_at: sql`now()` })
      .where('id', '=', planId)
      .returning(['session_id', 'user_id', 'project_id'])
      .executeTakeFirstOrThrow();
    if (input.summary) {
      await tx
        .insertInto('chat_messages')
        .values({ session_id: plan.session_id, user_id: plan.user_id, project_id: plan.project_id, role: 'assistant', content: input.summary, plan_id: planId })
        .onConflict((oc) => oc.columns(['plan_id', 'role']).where('plan_id', 'is not', null).doNothing())
        .execute();
    }
    return [{ type: `plan.${input.outcome}`, data: { total_actual_cost: total, summary: input.summary } }];
  });
}

/**
 * Marks tasks that can no longer run because their job was lost for good.
 * `unlessHeld`: leaves a task that a worker holds now (running, lease not
 * expired): the caller decided from a read that a claim may have overtaken.
 */
export async function failLostTasks(
  db: Db,
  planId: string,
  taskIds: string[],
  reason: string,
  opts: { unlessHeld?: boolean } = {},
): Promise<Changed> {
  if (taskIds.length === 0) return NO_CHANGE;
  return inTaskTx(db, planId, async (tx) => {
    const events: NewEvent[] = [];
    for (const id of taskIds) {
      const r = await tx
        .updateTable('task_plan_tasks')
        .set({ status: 'failed', error: reason, lease_token: null, lease_until: null, completed_at: sql`now()` })
        .where('plan_id', '=', planId)
        .where('task_id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .$if(opts.unlessHeld === true, (q) => q.where((eb) => eb.or([eb('lease_token', 'is', null), eb('lease_until', '<', sql<Date>`now()`)])))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) events.push({ type: 'task.failed', taskId: id, data: { error: reason, attempt: 0, will_retry: false } });
    }
    return { events: [...events, ...(await applySettlement(tx, planId))] };
  });
}

export { planOutcome };
export type { TaskStatus };
