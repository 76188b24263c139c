import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { deleteKeys } from '../src/redis.js';

/**
 * Shared set-up of the benchmarks: a fresh schema in a bench database and a
 * fresh Redis prefix, so a run never touches real data and can be repeated.
 */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/codelab_bench';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/6';

export interface BenchEnv {
  env: Record<string, string>;
  config: Config;
  deps: Deps;
  cleanup(): Promise<void>;
}

export async function benchEnv(name: string, extra: Record<string, string> = {}): Promise<BenchEnv> {
  const id = `${name}_${randomBytes(3).toString('hex')}`;
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: BENCH_DATABASE_URL,
    DATABASE_SCHEMA: `bench_${id}`,
    REDIS_URL: BENCH_REDIS_URL,
    QUEUE_PREFIX: `bench-${id}`,
    JWT_SECRET: 'bench-secret-0123456789abcdef',
    LOG_LEVEL: 'warn',
    SIMULATED_LATENCY_MS: '0',
    METRICS_PORT: '0',
    ...extra,
  };
  const config = loadConfig(env);
  await ensureDatabase(config.DATABASE_URL);
  const deps = createDeps(config, { logger: createLogger(config.LOG_LEVEL), role: `bench-${name}` });
  await migrateUp(deps.db, config.DATABASE_SCHEMA);
  return {
    env,
    config,
    deps,
    async cleanup() {
      await deleteKeys(deps.redis, `${config.QUEUE_PREFIX}:*`).catch(() => undefined);
      await sql`DROP SCHEMA IF EXISTS ${sql.id(config.DATABASE_SCHEMA)} CASCADE`.execute(deps.db).catch(() => undefined);
      await deps.close();
    },
  };
}

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** Prints a Markdown table. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number) => (typeof v === 'number' ? fmt(v) : v);
  console.log(`\n### ${title}\n`);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => cell(r[c]!)).join(' | ')} |`);
}

/** The machine line every benchmark result carries. */
export function machine(): Record<string, string | number> {
  const v = (cmd: string) => {
    try {
      return execSync(cmd, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: v(`psql -h 127.0.0.1 -U postgres -tAc 'SHOW server_version'`),
    redis: v(`redis-cli -h 127.0.0.1 INFO server | grep redis_version | cut -d: -f2`),
    load_average: v('cut -d" " -f1-3 /proc/loadavg'),
  };
}

export function writeResult(name: string, data: unknown): string {
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${name}.json`;
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), machine: machine(), ...((data as object) ?? {}) }, null, 2)}\n`);
  return file;
}
