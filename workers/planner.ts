import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { sql, type Kysely } from 'kysely';
import type { Deps } from '../src/deps.js';
import type { AgentConfig, Database, ProjectSettings } from '../db/schema.js';
import { AppError, serializeError } from '../src/core/errors.js';
import type { ChatMessage, ChatResponse } from '../src/core/llm.js';
import { appendEvents, type StoredEvent } from '../src/events/event-log.js';
import { QUEUE, plannerJob } from '../src/queues/catalog.js';
import { createRedis } from '../src/redis.js';
import { isRetryableLlmError } from '../src/llm/errors.js';
import { loadPriceTable, type PriceTable } from '../src/llm/prices.js';
import { countTokens as llmCountTokens } from '../src/llm/tokens.js';
import { approvalThreshold, decideApproval } from '../src/core/plan/approval.js';
import {
  estimatePlan,
  MIN_HISTORY_CALLS,
  type AgentOutputHistory,
  type CountTokens,
  type EstimateAgent,
  type LatencyProfile,
  type PlanEstimate,
} from '../src/core/plan/estimate.js';
import { parsePlanText, parsePlanValue } from '../src/core/plan/parse.js';
import type { PlanCache, PlanCacheQuery } from '../src/core/plan/plan-cache.js';
import { PLAN_JSON_SCHEMA, type ModelPlan } from '../src/core/plan/plan-schema.js';
import { buildPlanningMessages, buildRepairMessages } from '../src/core/plan/prompt.js';
import { validatePlan, type PlanIssue } from '../src/core/plan/validate.js';
import { planBudgetRefusal } from '../src/limits/budget.js';

/** Repair rounds after the first answer: three model calls at most per job attempt. */
export const MAX_REPAIRS = 2;
/** How far back `llm_calls` is read for output means and latency profiles. */
const HISTORY_DAYS = 30;

export interface PlannerOptions {
  /** Called once the plan is `created` (and again if a retried job finds it still `created`): must be idempotent. */
  onPlanCreated: (planId: string) => Promise<void>;
  /** Consulted before the model; fed with every plan the model makes. */
  planCache?: PlanCache;
  /** Defaults to src/llm/tokens.ts. */
  countTokens?: CountTokens;
  /** Defaults to the built-in table with PRICES_FILE over it. */
  prices?: PriceTable;
}

export type PlannerOutcome =
  | { outcome: 'created'; planId: string; requiresApproval: boolean; llmCalls: number; cacheHit: boolean }
  | { outcome: 'handed_off'; planId: string }
  | { outcome: 'skipped'; planId: string; status: string | null };

/** What the processor reads of a BullMQ job (so benches and tools can call it without a queue). */
export type PlannerJobLike = Pick<Job, 'data' | 'attemptsMade' | 'opts'>;

interface AgentRow {
  id: string;
  name: string;
  config: AgentConfig;
}

/**
 * The `planner` queue's processor: turns a plan in status `planning` into a
 * validated, estimated DAG of tasks (status `created`), or marks it `failed`
 * with a readable reason. Safe to run twice for one plan.
 */
export function createPlannerProcessor(deps: Deps, opts: PlannerOptions): (job: PlannerJobLike) => Promise<PlannerOutcome> {
  const { db, config, logger } = deps;
  const prices = opts.prices ?? loadPriceTable(config.PRICES_FILE);
  const countTokens = opts.countTokens ?? llmCountTokens;

  return async (job) => {
    const parsed = plannerJob.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid planner job payload: ${parsed.error.message}`);
    const { planId } = parsed.data;
    try {
      return await makePlan(planId, job);
    } catch (err) {
      // Out of attempts on an unexpected error: fail the plan rather than leave it `planning` forever.
      if (!(err instanceof UnrecoverableError) && job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        const e = serializeError(err);
        await failPlan(deps, planId, e.code, `planning failed: ${e.message}`, 0).catch((failErr: unknown) =>
          logger.error({ plan_id: planId, err: failErr }, 'could not mark the plan failed'),
        );
      }
      throw err;
    }
  };

  async function makePlan(planId: string, job: PlannerJobLike): Promise<PlannerOutcome> {
    const log = logger.child({ plan_id: planId, queue: QUEUE.planner });

    const plan = await db
      .selectFrom('task_plans')
      .select(['id', 'status', 'user_id', 'project_id', 'original_request'])
      .where('id', '=', planId)
      .executeTakeFirst();
    if (plan?.status === 'created') {
      // A previous attempt committed the plan but did not finish handing it over.
      await opts.onPlanCreated(planId);
      return { outcome: 'handed_off', planId };
    }
    if (!plan || plan.status !== 'planning') return { outcome: 'skipped', planId, status: plan?.status ?? null };

    const [project, agents] = await Promise.all([
      db.selectFrom('user_projects').select('settings').where('id', '=', plan.project_id).executeTakeFirst(),
      db
        .selectFrom('user_agents')
        .select(['id', 'name', 'config', 'status'])
        .where('project_id', '=', plan.project_id)
        .orderBy('created_at')
        .orderBy('name')
        .execute(),
    ]);
    const active: AgentRow[] = agents.filter((a) => a.status === 'active');
    const disabled = agents.filter((a) => a.status !== 'active').map((a) => a.name);
    if (active.length === 0) {
      const err = new AppError('NO_ACTIVE_AGENT', 'unprocessable', 'the project has no active agent to plan with');
      await failPlan(deps, planId, err.code, err.message, 0);
      throw new UnrecoverableError(err.message);
    }
    const manager = active.find((a) => a.name === 'manager') ?? active[0]!;
    const cacheQuery: PlanCacheQuery = {
      userId: plan.user_id,
      projectId: plan.project_id,
      request: plan.original_request,
      agents: active.map((a) => a.name),
    };
    const validateOpts = { activeAgents: cacheQuery.agents, disabledAgents: disabled, maxTasks: config.MAX_PLAN_TASKS };

    // A user with nothing left of today's budget is refused before the planning call costs more.
    const spentOut = await planBudgetRefusal(deps, plan.user_id, 0);
    if (spentOut) {
      await failPlan(deps, planId, spentOut.code, spentOut.message, 0);
      throw new UnrecoverableError(spentOut.message);
    }

    // 1. The plan: from the cache when it still fits the team, else from the model (with repairs).
    let planned: { plan: ModelPlan; costUsd: number; provider: string | null; llmCalls: number; cacheHit: boolean };
    const cached = opts.planCache ? await lookupCache(opts.planCache, cacheQuery, validateOpts, log) : null;
    if (cached) {
      planned = { ...cached, provider: null, llmCalls: 0, cacheHit: true };
    } else {
      const attempt = job.attemptsMade + 1;
      const lastAttempt = attempt >= (job.opts.attempts ?? 1);
      let result: Awaited<ReturnType<typeof planWithModel>>;
      try {
        result = await planWithModel(deps, {
          manager,
          agents: active,
          request: plan.original_request,
          meta: { userId: plan.user_id, projectId: plan.project_id, planId, attempt },
          validateOpts,
        });
      } catch (err) {
        if (isRetryableLlmError(err) && !lastAttempt) throw err;
        const code = err instanceof AppError ? err.code : 'PLANNING_ERROR';
        const message = `planning failed: ${err instanceof Error ? err.message : String(err)}`;
        const provider = (err instanceof AppError ? (err.details as { provider?: unknown } | undefined)?.provider : undefined) as string | undefined;
        await failPlan(deps, planId, code, message, 0, provider);
        throw new UnrecoverableError(message);
      }
      if (!result.ok) {
        const message = `no valid plan after ${result.llmCalls} attempts: ${result.issues.map((i) => i.message).join('; ')}`;
        await failPlan(deps, planId, 'PLAN_INVALID', message, result.costUsd, result.provider);
        throw new UnrecoverableError(message);
      }
      planned = { ...result, cacheHit: false };
    }

    // 2. Estimates, from the agents and what llm_calls has learned about them.
    const threshold = approvalThreshold(project?.settings as ProjectSettings | undefined, config.APPROVAL_COST_THRESHOLD_USD);
    let estimate: PlanEstimate;
    try {
      const learned = await loadHistory(db, active);
      estimate = estimatePlan({
        tasks: planned.plan.tasks,
        agents: new Map(active.map((a) => [a.name, toEstimateAgent(a)])),
        countTokens,
        prices,
        history: learned.history,
        learnedLatency: learned.latency,
        simulatedLatencyMs: config.SIMULATED_LATENCY_MS,
        // Agents that search project memory embed a query per task and read what it finds.
        // The engine retrieves project context for every task (CONTEXT_TOP_K > 0).
        retrieval: { appliesTo: () => deps.config.CONTEXT_TOP_K > 0 },
        approvalThresholdUsd: threshold.usd,
        planningCostUsd: planned.costUsd,
        // The finaliser's answer: the manager (else the first active agent), like workers/finalize-worker.ts.
        synthesis: { agent: manager.name, history: learned.synthesis.get(manager.name) },
      });
    } catch (err) {
      if (!(err instanceof AppError) || !err.isUserError) throw err;
      await failPlan(deps, planId, err.code, `planning failed: ${err.message}`, planned.costUsd, planned.provider ?? undefined);
      throw new UnrecoverableError(err.message);
    }
    // The tasks' estimate must fit what is left of the user's daily budget (the planning calls are already in llm_calls).
    const overBudget = await planBudgetRefusal(deps, plan.user_id, estimate.totalCostUsd - estimate.planningCostUsd);
    if (overBudget) {
      await failPlan(deps, planId, overBudget.code, overBudget.message, planned.costUsd, planned.provider ?? undefined);
      throw new UnrecoverableError(overBudget.message);
    }
    const approval = decideApproval({ totalCostUsd: estimate.totalCostUsd, threshold, tasks: estimate.tasks });

    // 3. One transaction: the guarded transition first (it locks the row, so a concurrent run waits and then sees 0 rows).
    const byName = new Map(active.map((a) => [a.name, a]));
    const events = await db.transaction().execute(async (trx): Promise<StoredEvent[] | null> => {
      const updated = await trx
        .updateTable('task_plans')
        .set({
          status: 'created',
          total_estimated_cost: estimate.totalCostUsd,
          total_estimated_duration: estimate.totalDurationS,
          total_actual_cost: sql<number>`total_actual_cost + ${planned.costUsd}`,
          critical_path: JSON.stringify(estimate.analysis.criticalPath),
          requires_approval: approval.requiresApproval,
          approval_reason: approval.reason,
          cache_hit: planned.cacheHit,
          llm_provider: planned.provider,
          error: null,
          error_code: null,
        })
        .where('id', '=', planId)
        .where('status', '=', 'planning')
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return null;
      await trx
        .insertInto('task_plan_tasks')
        .values(
          planned.plan.tasks.map((t) => {
            const e = estimate.byTaskId.get(t.id)!;
            return {
              plan_id: planId,
              task_id: t.id,
              description: t.description,
              agent_id: byName.get(t.agent)!.id,
              agent_name: t.agent,
              dependencies: JSON.stringify(t.dependencies),
              estimated_cost: e.costUsd,
              estimated_duration: e.durationS,
              estimated_input_tokens: e.inputTokens,
              estimated_output_tokens: e.outputTokens,
              risk_level: e.riskLevel,
              status: 'pending' as const,
              level: estimate.analysis.levelOf.get(t.id)!,
              sim: t.sim ? JSON.stringify(t.sim) : null,
            };
          }),
        )
        .execute();
      return appendEvents(trx, planId, [
        {
          type: 'plan.created',
          data: {
            tasks: planned.plan.tasks.map((t) => ({ id: t.id, description: t.description, agent: t.agent, dependencies: t.dependencies })),
            critical_path: estimate.analysis.criticalPath,
            total_estimated_cost: estimate.totalCostUsd,
            total_estimated_duration: estimate.totalDurationS,
            cache_hit: planned.cacheHit,
            requires_approval: approval.requiresApproval,
          },
        },
      ]);
    });
    if (events === null) return { outcome: 'skipped', planId, status: 'changed while planning' };
    await deps.publish(events);
    log.info(
      { tasks: planned.plan.tasks.length, cost: estimate.totalCostUsd, requires_approval: approval.requiresApproval, cache_hit: planned.cacheHit },
      'plan created',
    );

    await opts.onPlanCreated(planId);
    return { outcome: 'created', planId, requiresApproval: approval.requiresApproval, llmCalls: planned.llmCalls, cacheHit: planned.cacheHit };
  }
}

type PlanAttempt =
  | { ok: true; plan: ModelPlan; costUsd: number; provider: string; llmCalls: number }
  | { ok: false; issues: PlanIssue[]; costUsd: number; provider: string; llmCalls: number };

/** The model's plan, repaired up to MAX_REPAIRS times by sending back what was wrong. */
async function planWithModel(
  deps: Deps,
  input: {
    manager: AgentRow;
    agents: AgentRow[];
    request: string;
    meta: { userId: string; projectId: string; planId: string; attempt: number };
    validateOpts: Parameters<typeof validatePlan>[1];
  },
): Promise<PlanAttempt> {
  const promptAgents = input.agents.map((a) => ({
    name: a.name,
    role: a.config.role,
    capabilities: a.config.capabilities ?? [],
    tools: a.config.tools ?? [],
  }));
  let messages: ChatMessage[] = buildPlanningMessages({
    request: input.request,
    agents: promptAgents,
    maxTasks: input.validateOpts.maxTasks,
  });
  let costUsd = 0;
  let issues: PlanIssue[] = [];
  let provider = input.manager.config.provider;
  for (let call = 1; call <= 1 + MAX_REPAIRS; call++) {
    const res: ChatResponse = await deps.llm.chat({
      provider: input.manager.config.provider,
      model: input.manager.config.model,
      messages,
      responseSchema: PLAN_JSON_SCHEMA,
      temperature: input.manager.config.temperature,
      meta: { purpose: 'plan', ...input.meta, agentId: input.manager.id, agentName: input.manager.name },
      simContext: {
        request: input.request,
        agents: promptAgents.map(({ name, role, capabilities }) => ({ name, role, capabilities: [...capabilities] })),
      },
    });
    costUsd += res.costUsd;
    provider = res.provider;
    const parsed = parsePlanText(res.text);
    issues = parsed.ok ? validatePlan(parsed.plan, input.validateOpts) : parsed.issues;
    if (parsed.ok && issues.length === 0) return { ok: true, plan: parsed.plan, costUsd, provider: res.provider, llmCalls: call };
    deps.logger.debug({ plan_id: input.meta.planId, call, issues }, 'planner answer rejected');
    messages = buildRepairMessages(messages, res.text, issues);
  }
  return { ok: false, issues, costUsd, provider, llmCalls: 1 + MAX_REPAIRS };
}

async function lookupCache(
  cache: PlanCache,
  query: PlanCacheQuery,
  validateOpts: Parameters<typeof validatePlan>[1],
  log: Deps['logger'],
): Promise<{ plan: ModelPlan; costUsd: number } | null> {
  const hit = await cache.lookup(query).catch((err: unknown) => {
    log.warn({ err }, 'plan cache lookup failed; planning with the model');
    return null;
  });
  if (!hit) return null;
  const parsed = parsePlanValue(hit.plan);
  const issues = parsed.ok ? validatePlan(parsed.plan, validateOpts) : parsed.issues;
  if (!parsed.ok || issues.length > 0) {
    log.info({ issues }, 'cached plan no longer valid for this project; planning with the model');
    return null;
  }
  return { plan: parsed.plan, costUsd: hit.costUsd ?? 0 };
}

/** `planning` → `failed` (guarded), with the reason and the `plan.failed` event. */
async function failPlan(
  deps: Deps,
  planId: string,
  code: string,
  message: string,
  costUsd: number,
  /** The provider that planned (or failed to), so simulated plans say so. */
  provider?: string,
): Promise<void> {
  const events = await deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('task_plans')
      .set({
        status: 'failed',
        error: message,
        error_code: code.slice(0, 64),
        total_actual_cost: sql<number>`total_actual_cost + ${costUsd}`,
        completed_at: new Date(),
        ...(provider ? { llm_provider: provider.slice(0, 32) } : {}),
      })
      .where('id', '=', planId)
      .where('status', '=', 'planning')
      .returning('total_actual_cost')
      .executeTakeFirst();
    if (!row) return [];
    return appendEvents(trx, planId, [{ type: 'plan.failed', data: { error: message, total_actual_cost: row.total_actual_cost } }]);
  });
  await deps.publish(events);
  deps.logger.warn({ plan_id: planId, code, error: message }, 'plan failed');
}

/**
 * One grouped query over recent successful task calls: per agent (mean output
 * tokens) and per provider/model (time to first token and generation speed,
 * from calls that streamed).
 */
async function loadHistory(
  db: Kysely<Database>,
  agents: AgentRow[],
): Promise<{ history: Map<string, AgentOutputHistory>; synthesis: Map<string, AgentOutputHistory>; latency: Map<string, LatencyProfile> }> {
  const ids = agents.map((a) => a.id);
  const providers = [...new Set(agents.map((a) => a.config.provider))];
  const models = [...new Set(agents.map((a) => a.config.model))];
  const rows = await sql<{
    agent_id: string | null;
    purpose: string | null;
    provider: string | null;
    model: string | null;
    by_model: number;
    calls: string;
    mean_output: number | null;
    timed: string;
    mean_ttft: number | null;
    tokens_per_s: number | null;
  }>`
    SELECT agent_id, purpose, provider, model, GROUPING(agent_id) AS by_model,
           count(*) AS calls,
           avg(output_tokens)::float8 AS mean_output,
           count(*) FILTER (WHERE ttft_ms IS NOT NULL AND latency_ms > ttft_ms) AS timed,
           avg(ttft_ms) FILTER (WHERE ttft_ms IS NOT NULL AND latency_ms > ttft_ms)::float8 AS mean_ttft,
           (sum(output_tokens) FILTER (WHERE ttft_ms IS NOT NULL AND latency_ms > ttft_ms) * 1000.0
             / nullif(sum(latency_ms - ttft_ms) FILTER (WHERE ttft_ms IS NOT NULL AND latency_ms > ttft_ms), 0))::float8 AS tokens_per_s
    FROM llm_calls
    WHERE outcome = 'ok' AND purpose IN ('task', 'synthesis')
      AND created_at > now() - make_interval(days => ${HISTORY_DAYS})
      AND (agent_id = ANY(${ids}::uuid[]) OR (provider = ANY(${providers}::text[]) AND model = ANY(${models}::text[])))
    GROUP BY GROUPING SETS ((agent_id, purpose), (provider, model))`.execute(db);

  const nameOf = new Map(agents.map((a) => [a.id, a.name]));
  const history = new Map<string, AgentOutputHistory>();
  const synthesis = new Map<string, AgentOutputHistory>();
  const latency = new Map<string, LatencyProfile>();
  for (const r of rows.rows) {
    if (Number(r.by_model) === 0) {
      const name = r.agent_id ? nameOf.get(r.agent_id) : undefined;
      const into = r.purpose === 'synthesis' ? synthesis : history;
      if (name && r.mean_output !== null) into.set(name, { okCalls: Number(r.calls), meanOutputTokens: r.mean_output });
    } else if (
      r.provider && r.model && Number(r.timed) >= MIN_HISTORY_CALLS && r.mean_ttft !== null && r.tokens_per_s !== null && r.tokens_per_s > 0
    ) {
      latency.set(`${r.provider}/${r.model}`, { ttftMs: r.mean_ttft, tokensPerSecond: r.tokens_per_s });
    }
  }
  return { history, synthesis, latency };
}

function toEstimateAgent(a: AgentRow): EstimateAgent {
  return {
    name: a.name,
    provider: a.config.provider,
    model: a.config.model,
    systemPrompt: a.config.system_prompt ?? '',
    maxOutputTokens: a.config.max_output_tokens,
    tools: a.config.tools ?? [],
  };
}

export interface PlannerWorkerOptions extends PlannerOptions {
  /** Plans made at once by this worker (LLM-bound, so more than the cores). Default WORKER_CONCURRENCY. */
  concurrency?: number;
}

/**
 * A BullMQ worker on the `planner` queue, on its own Redis connection
 * (blocking commands must not share the command connection), which its
 * `close()` also closes.
 */
export function createPlannerWorker(deps: Deps, opts: PlannerWorkerOptions): Worker {
  const connection = createRedis(deps.config.REDIS_URL, `${deps.prefix}:planner-worker`);
  connection.on('error', (err) => deps.logger.warn({ err: err.message }, 'planner worker redis error'));
  const processor = createPlannerProcessor(deps, opts);

  let closing: Promise<void> | undefined;
  class PlannerWorker extends Worker {
    override close(force = false): Promise<void> {
      closing ??= super
        .close(force)
        .finally(() => connection.quit().then(() => undefined, () => connection.disconnect()));
      return closing;
    }
  }

  const worker = new PlannerWorker(QUEUE.planner, (job: Job) => processor(job), {
    connection,
    prefix: deps.config.QUEUE_PREFIX,
    concurrency: opts.concurrency ?? deps.config.WORKER_CONCURRENCY,
    // A killed planner's job comes back on the task lease, not BullMQ's 30 s
    // default; a job failed after too many stalls is re-planned by the reconciler.
    lockDuration: deps.config.TASK_LEASE_MS,
    stalledInterval: Math.max(500, Math.floor(deps.config.TASK_LEASE_MS / 2)),
    maxStalledCount: 3,
  });
  worker.on('failed', (job, err) =>
    deps.logger.warn({ plan_id: (job?.data as { planId?: string } | undefined)?.planId, err: err.message }, 'planner job failed'),
  );
  return worker;
}
