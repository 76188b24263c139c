import { sql, type Kysely } from 'kysely';
import type { Database, ErrorRecord } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { AppError } from '../core/errors.js';
import type { ErrorReporter } from './error-reporter.js';
import { fingerprintError } from './fingerprint.js';
import { scrubSecrets } from './scrub.js';

/** Where an unexpected error surfaced. */
export type ErrorSource = 'api' | 'worker';

export interface CaptureOptions {
  source: ErrorSource;
  /** Bounded context for the log line (queue name, job name, route), never user data. */
  context?: Record<string, unknown>;
  /** The caller already logged the error with its stack (the API's onError): log no second line. */
  logged?: boolean;
}

/**
 * Unexpected errors, grouped by fingerprint: logged with their stack,
 * counted in `codelab_unexpected_errors_total`, upserted into `errors`
 * (count, first and last seen, latest sample) and, when configured, reported
 * to Sentry. Capturing never throws.
 */
export interface ErrorTracker {
  /** Returns the fingerprint once the row is written. */
  capture(err: unknown, opts: CaptureOptions): Promise<string>;
  /** Most recently seen first. */
  list(opts?: { limit?: number }): Promise<ErrorRecord[]>;
  close(): Promise<void>;
}

/** BullMQ control-flow errors and our own deliberate ones: expected, never tracked. */
const EXPECTED_NAMES = new Set([
  'UnrecoverableError', 'DelayedError', 'WaitingChildrenError', 'WaitingError', 'RateLimitError',
  'ShutdownError', 'LeaseLostError', 'PlanCancelledError', 'AbortError',
]);

/** Whether a failed job's error is a bug or an outage to look at (not a user error or a planned retry). */
export function isUnexpectedError(err: unknown): boolean {
  if (err instanceof AppError) return err.category === 'system';
  if (err instanceof Error && EXPECTED_NAMES.has(err.name)) return false;
  return true;
}

export function createErrorTracker(opts: {
  db: Kysely<Database>;
  logger: Logger;
  metrics?: Metrics;
  reporter?: ErrorReporter;
}): ErrorTracker {
  const { db, logger, metrics, reporter } = opts;
  return {
    async capture(raw, { source, context, logged }) {
      const err = raw instanceof Error ? raw : new Error(String(raw));
      const fingerprint = fingerprintError(err);
      if (!logged) logger.error({ err, fingerprint, source, ...context }, 'unexpected error');
      metrics?.countError(fingerprint, source);
      try {
        reporter?.report(err, { fingerprint, source });
      } catch (reportErr) {
        logger.warn({ err: reportErr }, 'error reporter failed');
      }
      const message = scrubSecrets(err.message).slice(0, 2_000);
      const stack = scrubSecrets(err.stack ?? '').slice(0, 8_000);
      try {
        await db
          .insertInto('errors')
          .values({ fingerprint, source, name: err.name.slice(0, 200), sample_message: message, sample_stack: stack })
          .onConflict((oc) =>
            oc.columns(['fingerprint', 'source']).doUpdateSet({
              count: sql`errors.count + 1`,
              last_seen: sql`now()`,
              sample_message: (eb) => eb.ref('excluded.sample_message'),
              sample_stack: (eb) => eb.ref('excluded.sample_stack'),
            }),
          )
          .execute();
      } catch (dbErr) {
        logger.warn({ err: dbErr, fingerprint }, 'could not store the error');
      }
      return fingerprint;
    },
    async list({ limit = 100 } = {}) {
      return db.selectFrom('errors').selectAll().orderBy('last_seen', 'desc').limit(Math.min(Math.max(1, limit), 1000)).execute();
    },
    close: () => reporter?.close() ?? Promise.resolve(),
  };
}
