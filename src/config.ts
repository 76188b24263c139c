import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
const num = (def: number, min = 0) => z.coerce.number().min(min).default(def);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
const optionalUrl = optionalString.pipe(z.url().optional());

/**
 * Every environment variable the service reads, with its default.
 * `runtime.md` is the contract for the names; the README lists them all.
 */
const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: int(3000, 0, 65535),
    HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/codelab'),
    /** Schema used for every unqualified table name (tests give each file its own). */
    DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('public'),
    DATABASE_POOL_SIZE: int(20, 1, 200),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379/0'),
    QUEUE_PREFIX: z.string().min(1).default('codelab'),
    JWT_SECRET: optionalString,
    JWT_ALGORITHM: z.enum(['HS256', 'HS384', 'HS512']).default('HS256'),
    JWT_JWKS_URL: optionalUrl,
    JWT_JWKS_ALGORITHMS: z.string().default('RS256,ES256'),
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    DEV_SIGN_IN: bool.default(false),
    LLM_PROVIDER: z.enum(['simulated', 'openai', 'anthropic']).optional(),
    LLM_FALLBACK: z.string().default(''),
    LLM_TIMEOUT_MS: int(120_000, 100),
    LLM_MAX_RETRIES: int(3, 0, 10),
    OPENAI_API_KEY: optionalString,
    OPENAI_BASE_URL: optionalUrl,
    ANTHROPIC_API_KEY: optionalString,
    ANTHROPIC_BASE_URL: optionalUrl,
    SIMULATED_LATENCY_MS: int(200, 0, 600_000),
    PRICES_FILE: optionalString,
    QDRANT_URL: optionalUrl,
    QDRANT_API_KEY: optionalString,
    /** Agents' http_fetch tool: off unless enabled, and then only to these hosts (comma list, `*.example.com` allowed). */
    HTTP_FETCH_ENABLED: bool.default(false),
    HTTP_FETCH_ALLOWED_HOSTS: z.string().default(''),
    APPROVAL_COST_THRESHOLD_USD: num(0.1),
    APPROVAL_TIMEOUT_S: int(300, 1),
    PLAN_CACHE_TTL_S: int(86_400, 1),
    /** Cosine similarity a cached request must reach (chosen on bench/data: docs/plan-cache.md). */
    PLAN_CACHE_THRESHOLD: num(0.8).pipe(z.number().max(1)),
    /** `local-hashed` (offline, no model) or `openai` (text-embedding-3-small, needs OPENAI_API_KEY). */
    EMBEDDINGS_PROVIDER: z.enum(['local-hashed', 'openai']).default('local-hashed'),
    /** Project memory entries added to a task's prompt (0: none) and their token budget. */
    CONTEXT_TOP_K: int(5, 0, 50),
    CONTEXT_TOKEN_BUDGET: int(1000, 0, 32_000),
    /** Embed completed task results and chat messages into the project's memory. */
    MEMORY_WRITE: bool.default(true),
    MAX_PLAN_TASKS: int(50, 1, 500),
    /** Slots of each agent Worker instance. */
    WORKER_CONCURRENCY: int(8, 1, 1000),
    /** Agent Worker instances per process: BullMQ fills one instance's slots one fetch at a time. */
    AGENT_WORKER_INSTANCES: int(8, 1, 64),
    USER_MAX_RUNNING_TASKS: int(16, 1, 10_000),
    DEFAULT_MAX_PARALLEL_TASKS: int(8, 1, 1000),
    TASK_ATTEMPTS: int(3, 1, 20),
    TASK_BACKOFF_MS: int(1000, 0),
    /** How long a running task's claim lives without a heartbeat (also BullMQ's lock). */
    TASK_LEASE_MS: int(30_000, 1000),
    /** Slow-path re-check of a dependency gate, when its release was lost. */
    GATE_RECHECK_MS: int(30_000, 100),
    RECONCILE_INTERVAL_MS: int(30_000, 100),
    SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
    /** On SIGTERM, how long /health/ready answers 503 before the server stops accepting (load balancers notice). */
    SHUTDOWN_DRAIN_DELAY_MS: int(0, 0, 120_000),
    METRICS_PORT: int(9464, 0, 65535),
    /** SSE: open event streams per user on one API process (429 past it); `: ping` on idle streams (≤ 15 s, events.md); bytes queued for a slow client before its stream is closed. */
    SSE_MAX_STREAMS_PER_USER: int(20, 1, 100_000),
    SSE_HEARTBEAT_MS: int(15_000, 10, 15_000),
    SSE_MAX_QUEUED_BYTES: int(1_048_576, 1024),
    /** Per-user request rate on /v1/* (GCRA in Redis, shared by every API process): sustained requests per minute (0: off) and the burst allowed at once. */
    RATE_LIMIT_PER_MINUTE: num(600),
    RATE_LIMIT_BURST: int(100, 1, 1_000_000),
    /** Per-user LLM spend per UTC day, USD (0: unlimited): a plan estimated over what is left fails at planning (BUDGET_EXCEEDED). */
    USER_DAILY_BUDGET_USD: num(10),
    /** Plans a user may have in planning/created/executing at once (0: no cap); POST …/chat answers 429 past it. */
    USER_MAX_EXECUTING_PLANS: int(5, 0, 100_000),
    BULL_BOARD_USER: optionalString,
    BULL_BOARD_PASSWORD: optionalString,
    BULL_BOARD_READ_ONLY: bool.default(true),
    /** Unexpected errors are also reported to Sentry when set (src/ops/error-reporter.ts). */
    SENTRY_DSN: optionalUrl,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    if (!c.JWT_SECRET && !c.JWT_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'JWT_SECRET is required unless JWT_JWKS_URL is set',
      });
    }
    if (c.JWT_SECRET && c.JWT_SECRET.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'JWT_SECRET must be at least 16 characters' });
    }
    if (c.LLM_PROVIDER === 'openai' && !c.OPENAI_API_KEY && !c.OPENAI_BASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['OPENAI_API_KEY'], message: 'LLM_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL' });
    }
    if (c.EMBEDDINGS_PROVIDER === 'openai' && !c.OPENAI_API_KEY && !c.OPENAI_BASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['EMBEDDINGS_PROVIDER'], message: 'EMBEDDINGS_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL' });
    }
    if (c.LLM_PROVIDER === 'anthropic' && !c.ANTHROPIC_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['ANTHROPIC_API_KEY'], message: 'LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY' });
    }
  })
  .transform((c) => ({
    ...c,
    /** `simulated` when no provider key is set, otherwise the first configured. */
    LLM_PROVIDER:
      c.LLM_PROVIDER ??
      (c.OPENAI_API_KEY || c.OPENAI_BASE_URL ? 'openai' : c.ANTHROPIC_API_KEY ? 'anthropic' : 'simulated'),
  }));

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`),
    );
  }
  return result.data;
}

/** Entry points call this: a bad value stops the process with a message naming the variable. */
export function loadConfigOrExit(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** The database settings alone, for `npm run migrate` (which needs no JWT secret). */
export function loadDatabaseConfig(env: Record<string, string | undefined>): { url: string; schema: string } {
  const parsed = z
    .object({
      DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/codelab'),
      DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('public'),
    })
    .safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return { url: parsed.data.DATABASE_URL, schema: parsed.data.DATABASE_SCHEMA };
}
