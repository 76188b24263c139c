import type { Job } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { finalizeJob, type FinalizeJob } from '../src/queues/catalog.js';
import { isTerminalTask, planOutcome } from '../src/core/dag-state.js';
import { trimToBudget, CHARS_PER_TOKEN } from '../src/core/agent-prompt.js';
import { SYNTHESIS_INPUT_BUDGET_TOKENS } from '../src/core/plan/estimate.js';
import { failLostTasks, finishPlan, loadPlan, loadTasks, loadResults } from '../db/repositories/execution-repository.js';
import type { AgentConfig } from '../db/schema.js';
import { isRetryable } from '../src/engine/retry.js';
import { cacheCompletedPlan } from '../src/cache/plan-cache-seams.js';


/** After the plan: the exchange joins the project's memory; a completed plan's structure the plan cache. */
async function remember(deps: Deps, plan: { id: string; userId: string; projectId: string; originalRequest: string }, outcome: string, summary: string) {
  const jobs: Array<Promise<unknown>> = [];
  if (deps.config.MEMORY_WRITE) {
    const source = `plan:${plan.id}`;
    jobs.push(deps.memory.write({ userId: plan.userId, projectId: plan.projectId, kind: 'chat', content: `User asked: ${plan.originalRequest}`, source }));
    jobs.push(deps.memory.write({ userId: plan.userId, projectId: plan.projectId, kind: 'chat', content: `Answer: ${summary}`, source }));
  }
  if (outcome === 'completed') jobs.push(cacheCompletedPlan(deps, plan.id));
  for (const r of await Promise.allSettled(jobs)) {
    if (r.status === 'rejected') deps.logger.warn({ err: r.reason, plan_id: plan.id }, 'could not remember the plan');
  }
}

/**
 * The plan's last job, a parent of every task job: BullMQ runs it once they
 * are all done. The manager agent writes the final answer from the results;
 * the plan gets its outcome (api.md: completed / partial_success / failed).
 */
export function createFinalizeProcessor(deps: Deps) {
  const { db, redis } = deps;
  return async function processFinalize(job: Job<FinalizeJob>): Promise<{ status: string }> {
    const { planId } = finalizeJob.parse(job.data);
    const plan = await loadPlan(db, planId);
    if (!plan || plan.status !== 'executing') return { status: plan?.status ?? 'gone' };

    let tasks = await loadTasks(db, planId);
    const lost = tasks.filter((t) => !isTerminalTask(t.status) && t.status !== 'pending').map((t) => t.taskId);
    if (lost.length) {
      // Every task job is done, yet these never settled: BullMQ gave up on their jobs.
      deps.logger.warn({ plan_id: planId, tasks: lost }, 'finalizer: tasks lost');
      await deps.publish((await failLostTasks(db, planId, lost, 'the task was lost by the workers')).events);
      tasks = await loadTasks(db, planId);
    }
    const outcome = planOutcome(tasks);
    const completed = tasks.filter((t) => t.status === 'completed');

    let summary: string;
    if (completed.length === 0) {
      summary = `No task completed. ${tasks.map((t) => `${t.taskId}: ${t.status}`).join('; ')}.`;
    } else {
      const manager = await db
        .selectFrom('user_agents')
        .select(['id', 'name', 'config'])
        .where('project_id', '=', plan.projectId)
        .where('status', '=', 'active')
        .orderBy(({ eb }) => eb.case().when('name', '=', 'manager').then(0).else(1).end())
        .orderBy('created_at')
        .executeTakeFirst();
      const results = await loadResults(db, planId, completed.map((t) => t.taskId));
      const texts = trimToBudget(completed.map((t) => results.get(t.taskId) ?? ''), SYNTHESIS_INPUT_BUDGET_TOKENS * CHARS_PER_TOKEN);
      const failedNote = tasks.filter((t) => t.status !== 'completed').map((t) => `${t.taskId} ${t.status}`).join(', ');
      if (!manager) {
        summary = texts.join('\n\n');
      } else {
        const cfg = manager.config as AgentConfig;
        summary = await deps.llm.chat({
          provider: cfg.provider,
          model: cfg.model,
          temperature: cfg.temperature,
          maxOutputTokens: cfg.max_output_tokens,
          messages: [
            { role: 'system', content: `${cfg.system_prompt}\n\nWrite the final answer to the user's request from your team's results.` },
            {
              role: 'user',
              content: [
                `Request: ${plan.originalRequest}`,
                '',
                ...completed.flatMap((t, i) => [`### ${t.taskId} (${t.agentName}): ${t.description}`, texts[i]!]),
                ...(failedNote ? ['', `Not completed: ${failedNote}. Say what is missing.`] : []),
              ].join('\n'),
            },
          ],
          meta: { purpose: 'synthesis', userId: plan.userId, projectId: plan.projectId, planId, agentId: manager.id, agentName: manager.name, attempt: job.attemptsMade + 1 },
        }).then(
          (r) => r.text,
          (err: unknown) => {
            // The results are worth more than a summary: on the last attempt (or a
            // permanent error) the plan ends with the results joined instead.
            if (isRetryable(err) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw err;
            const why = err instanceof Error ? err.message : String(err);
            return `${texts.join('\n\n')}\n\n(The manager agent could not write a summary: ${why})`;
          },
        );
      }
    }
    const done = await finishPlan(db, planId, { outcome, summary });
    await deps.publish(done.events);
    if (done.ok) await remember(deps, plan, outcome, summary);
    deps.logger.info({ plan_id: planId, outcome }, 'plan finished');
    return { status: outcome };
  };
}
