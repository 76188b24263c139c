import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../src/config.js';
import { createDeps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { createApp } from '../api/app.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { ALL_QUEUES, type QueueName } from '../src/queues/catalog.js';
import { processEnv } from './env.js';
import { createLifecycle } from '../src/ops/lifecycle.js';
import { startMetricsServer, type MetricsServer } from '../src/metrics/metrics-server.js';

const HELP = `Usage:
  npm start                          API and every worker in one process (runs migrations first)
  npm run start:api                  the API alone (scale it behind a load balancer)
  npm run start:worker [-- --queues planner,agents,gates,finalize,approvals]
                                     worker process(es); run as many as you like

Options:
  --api                 run the HTTP API
  --workers             run workers
  --queues LIST         queues this worker process consumes (default: all: ${ALL_QUEUES.join(',')})
  --no-migrate          skip migrations (npm start runs them unless given)
  -h, --help            this text

Configuration comes from the environment (and .env when present): see README.md.`;

const { values } = parseArgs({
  options: {
    api: { type: 'boolean' },
    workers: { type: 'boolean' },
    queues: { type: 'string' },
    'no-migrate': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const both = !values.api && !values.workers;
const runApi = both || Boolean(values.api);
const runWorkers = both || Boolean(values.workers);
let queues: QueueName[] | undefined;
if (values.queues) {
  const names = values.queues.split(',').map((q) => q.trim()).filter(Boolean);
  const unknown = names.filter((q) => !(ALL_QUEUES as string[]).includes(q));
  if (unknown.length) {
    console.error(`unknown queue(s): ${unknown.join(', ')}; known: ${ALL_QUEUES.join(', ')}`);
    process.exit(2);
  }
  queues = names as QueueName[];
}

const { env, devSecret } = processEnv();
const config = loadConfigOrExit(env);
const role = runApi && runWorkers ? 'codelab' : runApi ? 'codelab-api' : 'codelab-worker';
const logger = createLogger(config.LOG_LEVEL, { name: role });
if (devSecret) logger.warn('JWT_SECRET is not set: using a development secret kept in .dev-jwt-secret (never do this in production)');
if (config.LLM_PROVIDER === 'simulated') logger.warn('LLM provider: simulated (offline, deterministic; no real model is called)');

if (both && !values['no-migrate']) {
  await ensureDatabase(config.DATABASE_URL);
}
const deps = createDeps(config, { logger, role });
if (both && !values['no-migrate']) {
  const result = await migrateUp(deps.db, config.DATABASE_SCHEMA);
  for (const r of result.results ?? []) logger.info({ migration: r.migrationName, status: r.status }, 'migration');
}

let api: ApiServer | undefined;
let workers: WorkerSet | undefined;
let metricsServer: MetricsServer | undefined;
const lifecycle = createLifecycle();
if (runWorkers) workers = createWorkers(deps, { queues });
if (runApi) api = await startApiServer(deps, createApp(deps, { lifecycle }), { port: config.PORT, host: config.HOST });
// A worker-only process has no HTTP API: it serves its metrics on METRICS_PORT (0 = off) so Prometheus scrapes every replica.
if (runWorkers && !runApi && config.METRICS_PORT !== 0) {
  metricsServer = await startMetricsServer(deps.metrics, { port: config.METRICS_PORT, host: config.HOST, logger, isDraining: () => lifecycle.draining });
}
logger.info({ api: runApi, workers: runWorkers ? (queues ?? ALL_QUEUES) : [] }, 'codelab-core started');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // Readiness answers 503 from now on; the server keeps serving until it closes.
  lifecycle.markDraining();
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['drain', () => new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_DELAY_MS))],
    ['api', async () => api?.close()],
    ['workers', async () => workers?.close()],
    ['metrics', async () => metricsServer?.close()],
    ['deps', () => deps.close()],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      logger.error({ err, step: name }, 'shutdown step failed');
    }
  }
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
