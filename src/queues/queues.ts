import { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ALL_QUEUES, type QueueName } from './catalog.js';

export interface Queues {
  readonly prefix: string;
  readonly byName: Record<QueueName, Queue>;
  readonly flows: FlowProducer;
  close(): Promise<void>;
}

/** One Queue per catalog entry and one FlowProducer, sharing a connection. */
export function createQueues(connection: Redis, prefix: string): Queues {
  const byName = Object.fromEntries(
    ALL_QUEUES.map((name) => [name, new Queue(name, { connection, prefix })]),
  ) as Record<QueueName, Queue>;
  const flows = new FlowProducer({ connection, prefix });
  let closing: Promise<void> | undefined;
  return {
    prefix,
    byName,
    flows,
    close() {
      closing ??= Promise.allSettled([...Object.values(byName).map((q) => q.close()), flows.close()]).then(
        () => undefined,
      );
      return closing;
    },
  };
}
