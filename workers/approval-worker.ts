import { DelayedError, type Job } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { approvalTimeoutJob, type ApprovalTimeoutJob } from '../src/queues/catalog.js';
import { closeApproval } from '../db/repositories/execution-repository.js';

/**
 * The approval timer: a delayed job (id `approval.<plan>`) that expires a
 * plan still pending at `approval_expires_at`. Expiry is the same
 * compare-and-set as approve and reject, so exactly one of them wins.
 */
export function createApprovalTimeoutProcessor(deps: Deps) {
  return async function processTimeout(job: Job<ApprovalTimeoutJob>, token?: string): Promise<{ status: string }> {
    const { planId } = approvalTimeoutJob.parse(job.data);
    const changed = await closeApproval(deps.db, planId, 'expired');
    if (changed.ok) {
      await deps.publish(changed.events);
      return { status: 'expired' };
    }
    const plan = await deps.db.selectFrom('task_plans').select(['status', 'approval_expires_at']).where('id', '=', planId).executeTakeFirst();
    if (plan?.status === 'pending_approval' && plan.approval_expires_at && plan.approval_expires_at.getTime() > Date.now()) {
      // Fired early (clocks of hosts differ): wait for the stored expiry.
      await job.moveToDelayed(plan.approval_expires_at.getTime() + 10, token);
      throw new DelayedError();
    }
    return { status: plan?.status ?? 'gone' };
  };
}
