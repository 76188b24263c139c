import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * A plain BullMQ worker with no-op jobs: the baseline the engine's
 * throughput is compared with. Same Redis, same instance and slot layout as
 * the engine's agent workers. argv: redisUrl prefix queue instances concurrency
 */
const [url, prefix, queue, instances, concurrency] = process.argv.slice(2);
const connection = new Redis(url!, { maxRetriesPerRequest: null });
const workers = Array.from({ length: Number(instances) }, () =>
  new Worker(queue!, async () => ({ ok: true }), { connection, prefix, concurrency: Number(concurrency), removeOnComplete: { count: 0 } }),
);
process.on('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.close()));
  await connection.quit();
  process.exit(0);
});
process.stdout.write('ready\n');
