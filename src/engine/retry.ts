import { AppError } from '../core/errors.js';

/** Errors worth another attempt: provider trouble and our own infrastructure, not a user's mistake. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AppError) return !err.isUserError;
  return true;
}
