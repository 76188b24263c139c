import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_execution.js';
import * as m0003 from './0003_vectors.js';
import * as m0004 from './0004_api_indexes.js';
import * as m0005 from './0005_errors.js';
import * as m0006 from './0006_limits.js';

/**
 * Migrations listed in code rather than read from the file system, so that
 * they run the same under tsx, vitest and a bundled build.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_execution': m0002,
  '0003_vectors': m0003,
  '0004_api_indexes': m0004,
  '0005_errors': m0005,
  '0006_limits': m0006,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
