import { AppError } from '../core/errors.js';

/**
 * The LLM layer's typed errors. Every one is an `AppError` whose `details`
 * carry `{ provider, status?, retryable, retryAfterMs? }`, so the router and
 * the workers decide from data, never from message text.
 *
 * | code                        | category      | retried by router | falls back |
 * |-----------------------------|---------------|-------------------|------------|
 * | LLM_RATE_LIMITED            | rate_limited  | yes (Retry-After) | yes        |
 * | LLM_PROVIDER_ERROR          | third_party   | if `retryable`    | if retried |
 * | LLM_TIMEOUT                 | unavailable   | yes               | yes        |
 * | LLM_INVALID_RESPONSE        | third_party   | yes               | yes        |
 * | LLM_PROVIDER_REJECTED       | third_party   | no (401/403/404)  | yes        |
 * | LLM_BAD_REQUEST             | unprocessable | no (400/413/422)  | no         |
 * | LLM_ABORTED                 | system        | no                | no         |
 * | LLM_PROVIDER_NOT_CONFIGURED | unavailable   | –                 | –          |
 */
export interface LlmErrorDetails {
  provider: string;
  model?: string;
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  /** A scripted failure of the simulated provider: surfaced to the job as is. */
  simulated?: boolean;
}

export type LlmErrorCode =
  | 'LLM_RATE_LIMITED'
  | 'LLM_PROVIDER_ERROR'
  | 'LLM_TIMEOUT'
  | 'LLM_INVALID_RESPONSE'
  | 'LLM_PROVIDER_REJECTED'
  | 'LLM_BAD_REQUEST'
  | 'LLM_ABORTED'
  | 'LLM_PROVIDER_NOT_CONFIGURED';

const CATEGORY = {
  LLM_RATE_LIMITED: 'rate_limited',
  LLM_PROVIDER_ERROR: 'third_party',
  LLM_TIMEOUT: 'unavailable',
  LLM_INVALID_RESPONSE: 'third_party',
  LLM_PROVIDER_REJECTED: 'third_party',
  LLM_BAD_REQUEST: 'unprocessable',
  LLM_ABORTED: 'system',
  LLM_PROVIDER_NOT_CONFIGURED: 'unavailable',
} as const;

export function llmError(code: LlmErrorCode, message: string, details: LlmErrorDetails, cause?: unknown): AppError {
  const retryAfterS = details.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(details.retryAfterMs / 1000));
  return new AppError(code, CATEGORY[code], message, { details, cause, retryAfterS });
}

export function llmDetails(err: unknown): LlmErrorDetails | undefined {
  if (!(err instanceof AppError) || !err.code.startsWith('LLM_')) return undefined;
  const d = err.details as Partial<LlmErrorDetails> | undefined;
  return d && typeof d.provider === 'string' ? (d as LlmErrorDetails) : undefined;
}

/**
 * Whether making the same call again may succeed. Workers use it after the
 * router has given up: false for bad requests, rejected credentials, aborts and
 * scripted permanent failures; true for rate limits, 5xx, timeouts and for
 * errors that are not the LLM layer's (unknown means "try again").
 */
export function isRetryableLlmError(err: unknown): boolean {
  if (err instanceof AppError && err.code.startsWith('LLM_')) {
    return (err.details as Partial<LlmErrorDetails> | undefined)?.retryable === true;
  }
  if (err instanceof AppError) return !err.isUserError;
  return true;
}

/** Milliseconds from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
export function parseRetryAfter(headers: Headers | Record<string, string> | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const get = (name: string): string | null =>
    headers instanceof Headers ? headers.get(name) : (headers[name] ?? headers[name.toLowerCase()] ?? null);
  const ms = get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.max(0, Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Maps an HTTP failure of a provider's API to the typed error. */
export function httpError(
  provider: string,
  model: string,
  status: number,
  message: string,
  headers: Headers | undefined,
  cause?: unknown,
): AppError {
  const text = `${provider} ${status}: ${message}`;
  if (status === 429) {
    return llmError('LLM_RATE_LIMITED', text, { provider, model, status, retryable: true, retryAfterMs: parseRetryAfter(headers) }, cause);
  }
  if (status === 408 || status === 409 || status >= 500) {
    return llmError('LLM_PROVIDER_ERROR', text, { provider, model, status, retryable: true, retryAfterMs: parseRetryAfter(headers) }, cause);
  }
  if (status === 401 || status === 403 || status === 404) {
    return llmError('LLM_PROVIDER_REJECTED', text, { provider, model, status, retryable: false }, cause);
  }
  return llmError('LLM_BAD_REQUEST', text, { provider, model, status, retryable: false }, cause);
}

/** The error for a signal that fired: the caller's abort or our timeout. */
export function abortError(provider: string, model: string, cause?: unknown): AppError {
  return llmError('LLM_ABORTED', `${provider} call aborted`, { provider, model, retryable: false }, cause);
}

export function timeoutError(provider: string, model: string, timeoutMs: number, cause?: unknown): AppError {
  return llmError('LLM_TIMEOUT', `${provider} call timed out after ${timeoutMs} ms`, { provider, model, retryable: true }, cause);
}

/** Parses a tool call's JSON arguments; a malformed payload is the provider's fault. */
export function parseToolArguments(provider: string, model: string, name: string, raw: string): unknown {
  if (raw.trim() === '') return {};
  try {
    return JSON.parse(raw);
  } catch (cause) {
    throw llmError('LLM_INVALID_RESPONSE', `${provider} returned invalid JSON arguments for tool ${name}`, { provider, model, retryable: true }, cause);
  }
}
