import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { migrateUp } from '../../db/migrate.js';
import { deleteKeys } from '../../src/redis.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef';

/**
 * Environment of a test file: its own PostgreSQL schema and its own Redis key
 * prefix, so files run in parallel against the same servers.
 */
export function testEnv(name: string, extra: Record<string, string> = {}): Record<string, string> {
  const id = `${name.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  return {
    NODE_ENV: 'test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: `t_${id}`,
    DATABASE_POOL_SIZE: '5',
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: `test-${id}`,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SIMULATED_LATENCY_MS: '5',
    // Per-user limits are off unless a file turns them on (test/limits-*.test.ts): many files make dozens of plans or poll as one user.
    RATE_LIMIT_PER_MINUTE: '0',
    USER_MAX_EXECUTING_PLANS: '0',
    ...extra,
  };
}

export interface TestContext {
  config: Config;
  deps: Deps;
  env: Record<string, string>;
  /** Closes connections, drops the schema and the Redis keys. Idempotent. */
  cleanup(): Promise<void>;
}

export async function createTestContext(name: string, extra: Record<string, string> = {}): Promise<TestContext> {
  const env = testEnv(name, extra);
  const config = loadConfig(env);
  const deps = createDeps(config, { logger: createLogger(config.LOG_LEVEL), role: `test-${name}` });
  await migrateUp(deps.db, config.DATABASE_SCHEMA);
  let done: Promise<void> | undefined;
  return {
    config,
    deps,
    env,
    cleanup() {
      done ??= (async () => {
        await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`).catch(() => undefined);
        await sql`DROP SCHEMA IF EXISTS ${sql.id(config.DATABASE_SCHEMA)} CASCADE`.execute(deps.db).catch(() => undefined);
        await deps.close();
      })();
      return done;
    },
  };
}
