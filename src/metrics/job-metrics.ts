import type { Job, Worker } from 'bullmq';
import type { Metrics } from './metrics.js';

/**
 * `finishedOn - processedOn`. A failed attempt that will be retried has no
 * `finishedOn` (the job goes back to waiting): the event fires as the attempt
 * ends, so now stands in for it.
 */
const elapsed = (job: Job | undefined): number | undefined =>
  job?.processedOn ? (job.finishedOn ?? Date.now()) - job.processedOn : undefined;

/**
 * Counts a BullMQ Worker's finished jobs and their duration by queue and
 * outcome; `onFailed` also sees every failed attempt (error tracking).
 */
export function observeWorker(
  metrics: Metrics,
  worker: Worker,
  onFailed?: (err: Error, job: Job | undefined) => void,
): void {
  worker.on('completed', (job) => metrics.observeJob(worker.name, 'completed', elapsed(job)));
  worker.on('failed', (job, err) => {
    metrics.observeJob(worker.name, 'failed', elapsed(job));
    onFailed?.(err, job);
  });
}
