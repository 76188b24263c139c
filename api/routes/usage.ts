import { createRoute, z } from '@hono/zod-openapi';
import { sql, type Kysely } from 'kysely';
import type { Deps } from '../../src/deps.js';
import type { Database } from '../../db/schema.js';
import { validationError } from '../errors.js';
import { bearerAuth, commonErrors, createRouter, jsonResponse, projectParams } from '../router.js';

/** Longest range one request may ask for, in days (both ends included). */
export const MAX_USAGE_DAYS = 366;
const DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;

const date = z.iso.date();
const usageQuery = z.object({
  from: date.optional().openapi({ description: 'First day (UTC, YYYY-MM-DD), included. Default: 29 days before `to`.' }),
  to: date.optional().openapi({ description: 'Last day (UTC, YYYY-MM-DD), included. Default: today.' }),
});

const money = z.number();
const tokens = z.number().int();
const actual = { actual_cost: money, input_tokens: tokens, output_tokens: tokens, calls: z.number().int(), failed_calls: z.number().int() };

const usageSchema = z
  .object({
    from: date,
    to: date,
    totals: z.object({ ...actual, estimated_cost: money, estimated_task_cost: money, plans: z.number().int() }),
    by_day: z.array(z.object({ date, ...actual, estimated_cost: money, estimated_task_cost: money, plans: z.number().int() })),
    by_model: z.array(z.object({ provider: z.string(), model: z.string(), ...actual })),
    by_agent: z.array(z.object({ agent_name: z.string().nullable(), ...actual, estimated_task_cost: money, tasks: z.number().int() })),
    by_purpose: z.array(z.object({ purpose: z.string(), ...actual })),
  })
  .openapi('Usage');

type Usage = z.infer<typeof usageSchema>;
type Actual = Pick<Usage['totals'], keyof typeof actual>;

const DESCRIPTION = `Cost (USD) and tokens of the project over a range of UTC days, actual next to estimated.

- **Actual** figures come from every recorded LLM call (\`llm_calls\`, all purposes: \`plan\`, \`task\`, \`synthesis\`, \`embedding\`, \`other\`; failed calls included, counted in \`failed_calls\`), dated by when the call was made.
- **Estimated** figures come from the plans created in the range, dated by the plan's creation: \`estimated_cost\` is the sum of the plans' \`total_estimated_cost\` (tasks plus planning), \`estimated_task_cost\` the sum of their tasks' \`estimated_cost\`.
- \`by_day\` has one entry per day of the range (zeros included), oldest first; \`by_model\` is per \`provider\`/\`model\` (actual only; \`simulated\` when the simulated provider answered); \`by_agent\` per agent name (\`null\`: calls made for no agent, such as embeddings), with the estimate of the agent's tasks; \`by_purpose\` per call purpose.
- \`from\`/\`to\` default to the last ${DEFAULT_DAYS} days; \`from\` must not be after \`to\` and the range is at most ${MAX_USAGE_DAYS} days.`;

const zeroActual = (): Actual => ({ actual_cost: 0, input_tokens: 0, output_tokens: 0, calls: 0, failed_calls: 0 });
const dayString = (d: Date) => d.toISOString().slice(0, 10);

/** The validated range: both ends included, as the UTC instants [start, end). */
function resolveRange(q: z.infer<typeof usageQuery>, now: Date): { from: string; to: string; start: Date; end: Date } {
  const to = q.to ?? dayString(now);
  const from = q.from ?? dayString(new Date(Date.parse(to) - (DEFAULT_DAYS - 1) * DAY_MS));
  const start = new Date(`${from}T00:00:00Z`);
  const last = new Date(`${to}T00:00:00Z`);
  if (start > last) throw validationError([{ field: 'from', in: 'query', message: 'must not be after `to`' }]);
  const days = (last.getTime() - start.getTime()) / DAY_MS + 1;
  if (days > MAX_USAGE_DAYS) {
    throw validationError([{ field: 'to', in: 'query', message: `the range is ${days} days, over the maximum of ${MAX_USAGE_DAYS}` }]);
  }
  return { from, to, start, end: new Date(last.getTime() + DAY_MS) };
}

interface ActualRow {
  g_day: number;
  g_model: number;
  g_agent: number;
  g_purpose: number;
  day: string | null;
  provider: string | null;
  model: string | null;
  agent_name: string | null;
  purpose: string | null;
  cost: number;
  input_tokens: string;
  output_tokens: string;
  calls: string;
  failed: string;
}

/** One pass over the range of llm_calls, grouped four ways. */
async function actualUsage(db: Kysely<Database>, projectId: string, start: Date, end: Date): Promise<ActualRow[]> {
  const r = await sql<ActualRow>`
    SELECT GROUPING(day) AS g_day, GROUPING(provider, model) AS g_model, GROUPING(agent_name) AS g_agent, GROUPING(purpose) AS g_purpose,
           to_char(day, 'YYYY-MM-DD') AS day, provider, model, agent_name, purpose,
           coalesce(sum(cost), 0)::float8 AS cost,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           count(*) AS calls,
           count(*) FILTER (WHERE outcome <> 'ok') AS failed
    FROM (
      SELECT (created_at AT TIME ZONE 'UTC')::date AS day, provider, model, agent_name, purpose, cost, input_tokens, output_tokens, outcome
      FROM llm_calls
      WHERE project_id = ${projectId} AND created_at >= ${start} AND created_at < ${end}
    ) c
    GROUP BY GROUPING SETS ((day), (provider, model), (agent_name), (purpose), ())`.execute(db);
  return r.rows;
}

interface EstimateRow {
  g_day: number;
  g_agent: number;
  day: string | null;
  agent_name: string | null;
  task_cost: number;
  tasks: string;
}

/** Task estimates of the plans created in the range, per day and per agent. */
async function taskEstimates(db: Kysely<Database>, projectId: string, start: Date, end: Date): Promise<EstimateRow[]> {
  const r = await sql<EstimateRow>`
    SELECT GROUPING(day) AS g_day, GROUPING(agent_name) AS g_agent, to_char(day, 'YYYY-MM-DD') AS day, agent_name,
           coalesce(sum(estimated_cost), 0)::float8 AS task_cost, count(*) AS tasks
    FROM (
      SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day, t.agent_name, t.estimated_cost
      FROM task_plans p JOIN task_plan_tasks t ON t.plan_id = p.id
      WHERE p.project_id = ${projectId} AND p.created_at >= ${start} AND p.created_at < ${end}
    ) e
    GROUP BY GROUPING SETS ((day), (agent_name), ())`.execute(db);
  return r.rows;
}

/** Plans created in the range and their estimated totals, per day. */
async function planEstimates(db: Kysely<Database>, projectId: string, start: Date, end: Date) {
  const r = await sql<{ day: string; plans: string; cost: number }>`
    SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(*) AS plans,
           coalesce(sum(total_estimated_cost), 0)::float8 AS cost
    FROM task_plans
    WHERE project_id = ${projectId} AND created_at >= ${start} AND created_at < ${end}
    GROUP BY 1`.execute(db);
  return r.rows;
}

const toActual = (r: ActualRow): Actual => ({
  actual_cost: r.cost,
  input_tokens: Number(r.input_tokens),
  output_tokens: Number(r.output_tokens),
  calls: Number(r.calls),
  failed_calls: Number(r.failed),
});

/** `GET …/usage`: what a project cost, per day, model and agent, estimated next to actual. */
export function usageRoutes(deps: Deps, opts: { now?: () => Date } = {}) {
  const { db } = deps;
  const now = opts.now ?? (() => new Date());
  const router = createRouter();

  router.openapi(
    createRoute({
      method: 'get', path: '/v1/projects/{projectId}/usage', tags: ['usage'], security: bearerAuth,
      summary: 'Cost and tokens per day, model and agent, estimated next to actual',
      description: DESCRIPTION,
      request: { params: projectParams, query: usageQuery },
      responses: { 200: jsonResponse(usageSchema, 'Usage over the range'), ...commonErrors },
    }),
    async (c) => {
      const range = resolveRange(c.req.valid('query'), now());
      const projectId = c.get('project').id;
      const [actualRows, estimateRows, planRows] = await Promise.all([
        actualUsage(db, projectId, range.start, range.end),
        taskEstimates(db, projectId, range.start, range.end),
        planEstimates(db, projectId, range.start, range.end),
      ]);

      const days = new Map<string, Usage['by_day'][number]>();
      for (let t = range.start.getTime(); t < range.end.getTime(); t += DAY_MS) {
        const d = dayString(new Date(t));
        days.set(d, { date: d, ...zeroActual(), estimated_cost: 0, estimated_task_cost: 0, plans: 0 });
      }
      const agents = new Map<string | null, Usage['by_agent'][number]>();
      const agent = (name: string | null) => {
        let a = agents.get(name);
        if (!a) agents.set(name, (a = { agent_name: name, ...zeroActual(), estimated_task_cost: 0, tasks: 0 }));
        return a;
      };
      let totals: Actual = zeroActual();
      const byModel: Usage['by_model'] = [];
      const byPurpose: Usage['by_purpose'] = [];

      for (const r of actualRows) {
        const a = toActual(r);
        if (Number(r.g_day) === 0) Object.assign(days.get(r.day!) ?? {}, a);
        else if (Number(r.g_model) === 0) byModel.push({ provider: r.provider!, model: r.model!, ...a });
        else if (Number(r.g_agent) === 0) Object.assign(agent(r.agent_name), a);
        else if (Number(r.g_purpose) === 0) byPurpose.push({ purpose: r.purpose!, ...a });
        else totals = a;
      }
      let estimatedTaskCost = 0;
      for (const r of estimateRows) {
        if (Number(r.g_day) === 0) {
          const d = days.get(r.day!);
          if (d) d.estimated_task_cost = r.task_cost;
        } else if (Number(r.g_agent) === 0) {
          const a = agent(r.agent_name);
          a.estimated_task_cost = r.task_cost;
          a.tasks = Number(r.tasks);
        } else estimatedTaskCost = r.task_cost;
      }
      let estimatedCost = 0;
      let plans = 0;
      for (const r of planRows) {
        const d = days.get(r.day);
        if (d) Object.assign(d, { estimated_cost: r.cost, plans: Number(r.plans) });
        estimatedCost += r.cost;
        plans += Number(r.plans);
      }

      const byCost = <T extends { actual_cost: number }>(a: T, b: T) => b.actual_cost - a.actual_cost;
      const body: Usage = {
        from: range.from,
        to: range.to,
        totals: { ...totals, estimated_cost: estimatedCost, estimated_task_cost: estimatedTaskCost, plans },
        by_day: [...days.values()],
        by_model: byModel.sort((a, b) => byCost(a, b) || `${a.provider}/${a.model}`.localeCompare(`${b.provider}/${b.model}`)),
        by_agent: [...agents.values()].sort((a, b) => byCost(a, b) || String(a.agent_name).localeCompare(String(b.agent_name))),
        by_purpose: byPurpose.sort((a, b) => byCost(a, b) || a.purpose.localeCompare(b.purpose)),
      };
      return c.json(body, 200);
    },
  );

  return router;
}
