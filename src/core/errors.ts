/**
 * One error type for the whole service. `code` is stable and machine-readable,
 * `category` decides the HTTP status and the queue's retry behaviour.
 */
export type ErrorCategory =
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable'
  | 'third_party'
  | 'system';

export interface AppErrorOptions {
  details?: unknown;
  cause?: unknown;
  /** Seconds a client or queue should wait before retrying (429/503). */
  retryAfterS?: number;
}

export class AppError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly details?: unknown;
  readonly retryAfterS?: number;

  constructor(code: string, category: ErrorCategory, message: string, opts: AppErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.category = category;
    this.details = opts.details;
    this.retryAfterS = opts.retryAfterS;
  }

  /** A user's mistake: retrying the same thing cannot succeed. */
  get isUserError(): boolean {
    return !['third_party', 'system', 'unavailable', 'rate_limited'].includes(this.category);
  }

  toJSON(): { code: string; category: ErrorCategory; message: string; details?: unknown } {
    return { code: this.code, category: this.category, message: this.message, details: this.details };
  }
}

export const notFound = (what: string) => new AppError('NOT_FOUND', 'not_found', `${what} not found`);
export const conflict = (message: string, details?: unknown) =>
  new AppError('CONFLICT', 'conflict', message, { details });
export const invalid = (message: string, details?: unknown) =>
  new AppError('INVALID_REQUEST', 'invalid_request', message, { details });

/** Serialises any thrown value for storage (task.error, plan.error, job failures). */
export function serializeError(err: unknown): { code: string; category: ErrorCategory; message: string; details?: unknown } {
  if (err instanceof AppError) return err.toJSON();
  if (err instanceof Error) return { code: 'INTERNAL', category: 'system', message: err.message };
  return { code: 'INTERNAL', category: 'system', message: String(err) };
}
