import { AppError } from '../core/errors.js';
import { isRetryableLlmError } from '../llm/errors.js';

/**
 * Errors worth another attempt: provider trouble and our own infrastructure,
 * not a user's mistake nor a request the provider rejected for good.
 */
export function isRetryable(err: unknown): boolean {
  return isRetryableLlmError(err);
}

/** For a provider's 429: how long the queue should wait before the next attempt. */
export function retryAfterMs(err: unknown): number | undefined {
  return err instanceof AppError && err.category === 'rate_limited' && err.retryAfterS ? err.retryAfterS * 1000 : undefined;
}

/**
 * The `agents` queue's backoff (job opts `backoff: {type: 'task'}`): a
 * provider's Retry-After when it sent one, else exponential with full jitter
 * around `baseMs`, capped at five minutes.
 */
export function taskBackoff(baseMs: number) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const told = retryAfterMs(err);
    if (told !== undefined) return told;
    const cap = Math.min(5 * 60_000, baseMs * 2 ** Math.max(0, attemptsMade - 1));
    return Math.floor(cap / 2 + Math.random() * (cap / 2));
  };
}
