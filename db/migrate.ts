import { Migrator, sql, type Kysely, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';

/** Creates the database named in `url` when it does not exist (fresh machines). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently
      });
    }
  } finally {
    await client.end();
  }
}

function migrator(db: Kysely<any>, schema: string): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider,
    migrationTableSchema: schema,
  });
}

function check(result: MigrationResultSet): MigrationResultSet {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const err = new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(result.error)}`);
    (err as Error & { cause?: unknown }).cause = result.error;
    throw err;
  }
  return result;
}

/**
 * Kysely's migrator looks for its table by introspecting every schema of the
 * database; a schema dropped at that moment by another process (parallel test
 * files drop theirs) fails that catalog query with 3F000. It is harmless to
 * run again.
 */
function droppedMeanwhile(result: MigrationResultSet): boolean {
  return (result.error as { code?: string } | undefined)?.code === '3F000' && !(result.results ?? []).some((r) => r.status === 'Success');
}

/** Applies every pending migration; safe to run concurrently and repeatedly. */
export async function migrateUp(db: Kysely<any>, schema = 'public'): Promise<MigrationResultSet> {
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  let result = await migrator(db, schema).migrateToLatest();
  for (let retry = 0; retry < 5 && droppedMeanwhile(result); retry++) result = await migrator(db, schema).migrateToLatest();
  return check(result);
}

/** Rolls back the last applied migration. */
export async function migrateDown(db: Kysely<any>, schema = 'public'): Promise<MigrationResultSet> {
  let result = await migrator(db, schema).migrateDown();
  for (let retry = 0; retry < 5 && droppedMeanwhile(result); retry++) result = await migrator(db, schema).migrateDown();
  return check(result);
}
