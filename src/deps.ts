import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { createDb } from '../db/connection.js';
import type { Database } from '../db/schema.js';
import { createLogger, type Logger } from './logger.js';
import { createRedis } from './redis.js';
import { createQueues, type Queues } from './queues/queues.js';
import type { LlmClient } from './core/llm.js';
import { createLlmClient } from './llm/index.js';
import { publishEvents, type StoredEvent } from './events/event-log.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createPlanFacts } from './metrics/plan-facts.js';
import { createErrorTracker, type ErrorTracker } from './ops/error-tracker.js';
import { createSentryReporter } from './ops/error-reporter.js';
import type { Embedder } from './core/embedding.js';
import type { VectorStore } from './core/vector-store.js';
import { createHashedEmbedder } from './vector/hashed-embedder.js';
import { createOpenAIEmbedder } from './vector/openai-embedder.js';
import { createVectorStore } from './vector/create-vector-store.js';
import { createPlanCache, type PlanCache } from './cache/plan-cache.js';
import { createProjectMemory, type ProjectMemory } from './cache/project-memory.js';

/** Everything a process needs, built once by `createDeps` and passed down. */
export interface Deps {
  config: Config;
  logger: Logger;
  db: Kysely<Database>;
  /** Commands and BullMQ queues (non-blocking use). */
  redis: Redis;
  queues: Queues;
  llm: LlmClient;
  /** This process's Prometheus registry and instruments (src/metrics/metrics.ts). */
  metrics: Metrics;
  /** Unexpected errors: logged, counted, stored in `errors`, reported to Sentry when configured. */
  errors: ErrorTracker;
  /** Embeddings (offline hashed by default, labelled `local-hashed`) and the vector store. */
  embedder: Embedder;
  vectorStore: VectorStore;
  /** Plans of completed requests, reused for the same or a similar request. */
  planCache: PlanCache;
  /** The project's memory: completed results and chat messages, searched for task context. */
  memory: ProjectMemory;
  /** Key/channel namespace of this deployment (the BullMQ prefix). */
  prefix: string;
  /**
   * Publishes committed events for the live tail (Redis pub/sub) and hands
   * them to this process's observers (metrics). Never throws.
   */
  publish(events: StoredEvent[]): Promise<void>;
  /** Idempotent: every step runs even if one fails. */
  close(): Promise<void>;
}

export interface DepsOptions {
  logger?: Logger;
  /** Called with every batch of events this process publishes (e.g. metrics). */
  onEvents?: Array<(events: StoredEvent[]) => void>;
  /** Name shown in Redis CLIENT LIST and PostgreSQL's application_name. */
  role?: string;
}

export function createDeps(config: Config, opts: DepsOptions = {}): Deps {
  const role = opts.role ?? 'codelab';
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL, { name: role });
  const db = createDb({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: role,
  });
  const redis = createRedis(config.REDIS_URL, `${role}:cmd`);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const metrics = createMetrics({ queues: queues.byName, planFacts: createPlanFacts(db), logger });
  const llm = createLlmClient({ config, db, logger, onCall: metrics.observeLlmCall });
  const reporter = config.SENTRY_DSN ? createSentryReporter({ dsn: config.SENTRY_DSN, environment: config.NODE_ENV, logger }) : undefined;
  const errors = createErrorTracker({ db, logger, metrics, reporter });
  const embedder =
    config.EMBEDDINGS_PROVIDER === 'openai'
      ? createOpenAIEmbedder({ db, apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL })
      : createHashedEmbedder();
  const vectorStore = createVectorStore(config, db);
  const planCache = createPlanCache({
    redis,
    prefix: config.QUEUE_PREFIX,
    embedder,
    vectorStore,
    ttlS: config.PLAN_CACHE_TTL_S,
    threshold: config.PLAN_CACHE_THRESHOLD,
    onLookup: metrics.observeCacheLookup,
  });
  const memory = createProjectMemory({ db, embedder, vectorStore });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const steps: Array<() => Promise<unknown>> = [
        () => metrics.settled(),
        () => llm.settled?.() ?? Promise.resolve(),
        () => errors.close(),
        () => queues.close(),
        () => redis.quit().catch(() => redis.disconnect()),
        () => db.destroy(),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          logger.warn({ err }, 'error while closing');
        }
      }
    })();
    return closing;
  };

  const observers = [metrics.observeEvents, ...(opts.onEvents ?? [])];
  const publish = async (events: StoredEvent[]) => {
    if (events.length === 0) return;
    for (const o of observers) {
      try {
        o(events);
      } catch (err) {
        logger.warn({ err }, 'event observer failed');
      }
    }
    await publishEvents(redis, config.QUEUE_PREFIX, events);
  };

  return {
    config, logger, db, redis, queues, llm, metrics, errors, embedder, vectorStore, planCache, memory,
    prefix: config.QUEUE_PREFIX, publish, close,
  };
}
