import { parseArgs } from 'node:util';
import { loadDatabaseConfig } from '../src/config.js';
import { createDb } from '../db/connection.js';
import { ensureDatabase, migrateDown, migrateUp } from '../db/migrate.js';
import { processEnv } from './env.js';

const HELP = `Usage: npm run migrate [-- down]

Applies every pending migration to DATABASE_URL (creating the database if it
does not exist). With "down", rolls back the last applied migration.

Environment: DATABASE_URL, DATABASE_SCHEMA (default public).`;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const direction = positionals[0] ?? 'up';
if (direction !== 'up' && direction !== 'down') {
  console.error(`unknown direction "${direction}"\n\n${HELP}`);
  process.exit(2);
}

const { url, schema } = loadDatabaseConfig(processEnv().env);
await ensureDatabase(url);
const db = createDb({ url, schema, poolSize: 1, applicationName: 'codelab-migrate' });
try {
  const result = direction === 'up' ? await migrateUp(db, schema) : await migrateDown(db, schema);
  const done = result.results ?? [];
  if (done.length === 0) console.log('migrations: nothing to do');
  for (const r of done) console.log(`migration ${r.migrationName}: ${r.direction.toLowerCase()} ${r.status.toLowerCase()}`);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
