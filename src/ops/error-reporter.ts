import type { Logger } from '../logger.js';

/** An external error service (Sentry). */
export interface ErrorReporter {
  report(err: Error, info: { fingerprint: string; source: string }): void;
  /** Sends what is buffered; idempotent. */
  close(): Promise<void>;
}

/**
 * Sentry, when `SENTRY_DSN` is set. The SDK is loaded on first use and
 * initialised without its default integrations: we report the errors our
 * tracker sees (with its fingerprint, so Sentry groups them the same way),
 * nothing is auto-instrumented, so no request data (headers, bodies, users) is sent. Sentry's
 * client is process-global by its design; one DSN per process.
 */
export function createSentryReporter(opts: { dsn: string; environment: string; release?: string; logger: Logger }): ErrorReporter {
  let sdk: Promise<typeof import('@sentry/node') | undefined> | undefined;
  const load = () => {
    sdk ??= import('@sentry/node').then(
      (Sentry) => {
        Sentry.initWithoutDefaultIntegrations({ dsn: opts.dsn, environment: opts.environment, release: opts.release });
        return Sentry;
      },
      (err: unknown) => {
        opts.logger.warn({ err }, 'SENTRY_DSN is set but @sentry/node could not be loaded: errors are not reported');
        return undefined;
      },
    );
    return sdk;
  };
  let closing: Promise<void> | undefined;
  return {
    report(err, info) {
      void load().then((Sentry) =>
        Sentry?.captureException(err, { fingerprint: [info.fingerprint], tags: { source: info.source, fingerprint: info.fingerprint } }),
      );
    },
    close() {
      closing ??= (sdk ?? Promise.resolve(undefined)).then(async (Sentry) => {
        await Sentry?.close(2_000);
      });
      return closing;
    },
  };
}
