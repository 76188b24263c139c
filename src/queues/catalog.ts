import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * The job catalog: every queue and job name with its payload schema and retry
 * policy. Enqueueing validates with `schema.parse`, processing parses again.
 */
export const QUEUE = {
  planner: 'planner',
  agents: 'agents',
  gates: 'gates',
  finalize: 'finalize',
  approvals: 'approvals',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
export const ALL_QUEUES: QueueName[] = Object.values(QUEUE);

const uuid = z.string().uuid();

export const plannerJob = z.object({ planId: uuid });
export const taskJob = z.object({ planId: uuid, taskId: z.string().min(1).max(64), userId: uuid, projectId: uuid });
export const gateJob = z.object({ planId: uuid, from: z.string().min(1).max(64), to: z.string().min(1).max(64) });
export const finalizeJob = z.object({ planId: uuid });
export const approvalTimeoutJob = z.object({ planId: uuid });

export type PlannerJob = z.infer<typeof plannerJob>;
export type TaskJob = z.infer<typeof taskJob>;
export type GateJob = z.infer<typeof gateJob>;
export type FinalizeJob = z.infer<typeof finalizeJob>;
export type ApprovalTimeoutJob = z.infer<typeof approvalTimeoutJob>;

/** Kept small in Redis: results live in PostgreSQL, finished jobs are dropped. */
const keep = { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 24 * 3600, count: 5000 } };

export const jobOptions = {
  planner: (): JobsOptions => ({ attempts: 3, backoff: { type: 'exponential', delay: 1000 }, ...keep }),
  approvalTimeout: (): JobsOptions => ({ attempts: 5, backoff: { type: 'exponential', delay: 1000 }, ...keep }),
};

/** Deterministic job ids. BullMQ refuses ':' in custom ids, so the separator is '.'. */
export const jobId = {
  planner: (planId: string) => `plan.${planId}`,
  task: (planId: string, taskId: string) => `${planId}.${taskId}`,
  gate: (planId: string, from: string, to: string) => `${planId}.${to}.after.${from}`,
  finalize: (planId: string) => `${planId}.final`,
  approvalTimeout: (planId: string) => `approval.${planId}`,
};
