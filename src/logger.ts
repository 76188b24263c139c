import { pino, type Logger } from 'pino';

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
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/** Removes `access_token=` values from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|api_key)=)[^&#]*/gi, '$1[redacted]');
}
