import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ and our own commands. `maxRetriesPerRequest:
 * null` is what BullMQ requires for blocking connections; offline commands
 * queue until Redis is back instead of failing a job outright.
 */
export function createRedis(url: string, name: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: false,
    ...extra,
  });
}

/** Deletes every key under `prefix:` (tests and `obliterate`-like clean-ups). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}
