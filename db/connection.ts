import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// int8 (bigserial ids, counts) as string is pg's default; numeric stays string.
// timestamptz parses to Date (default). Nothing to change globally.

export interface DbOptions {
  url: string;
  schema?: string;
  poolSize?: number;
  applicationName?: string;
}

/** A Kysely instance on its own pool; unqualified names resolve in `schema`. */
export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    application_name: opts.applicationName ?? 'codelab',
    options: opts.schema && opts.schema !== 'public' ? `-c search_path=${opts.schema}` : undefined,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client's error (server restart) must not crash the process.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
