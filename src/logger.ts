import { pino, type Logger } from 'pino';
import { scrubSecrets } from './ops/scrub.js';

export type { Logger };

/** Paths redacted on every line: credentials must never reach the logs. */
export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.authorization',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** JSON logs, one line per event; `destination` lets tests capture output. */
export function createLogger(
  level: string,
  opts: { name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level,
      name: opts.name,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Every line's `err` (an Error or a message), on every process: an
      // error built from a URL or a provider's reply may carry a credential.
      serializers: { err: scrubErr },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

function scrubErr(err: unknown): unknown {
  if (typeof err === 'string') return scrubSecrets(err);
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.err(err) as { message?: string; stack?: string };
  if (typeof out.message === 'string') out.message = scrubSecrets(out.message);
  if (typeof out.stack === 'string') out.stack = scrubSecrets(out.stack);
  return out;
}

/** Removes `access_token=` values from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|api_key)=)[^&#]*/gi, '$1[redacted]');
}
