import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from '@hono/zod-openapi';
import { AppError, type ErrorCategory } from '../src/core/errors.js';
import type { AppEnv } from './context.js';

/** HTTP status and contract code of each error category (api.md "Errors"). */
const STATUS: Record<ErrorCategory, { status: number; code: string }> = {
  invalid_request: { status: 400, code: 'invalid_request' },
  unauthorized: { status: 401, code: 'unauthorized' },
  not_found: { status: 404, code: 'not_found' },
  conflict: { status: 409, code: 'conflict' },
  payload_too_large: { status: 413, code: 'payload_too_large' },
  unsupported_media_type: { status: 415, code: 'unsupported_media_type' },
  unprocessable: { status: 422, code: 'unprocessable' },
  rate_limited: { status: 429, code: 'rate_limited' },
  unavailable: { status: 503, code: 'unavailable' },
  // A provider failing under a request is, for the client, a dependency that is down.
  third_party: { status: 503, code: 'unavailable' },
  system: { status: 500, code: 'internal' },
};

const CATEGORY_OF_STATUS: Record<number, ErrorCategory> = {
  400: 'invalid_request',
  401: 'unauthorized',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Connection-level failures of PostgreSQL or Redis: the client should retry later. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P03', '53300']);
/**
 * PostgreSQL refusing a character of the request's text: a NUL (JSON `\u0000`)
 * in a text column (22021) or a jsonb value (22P05), or an unpaired UTF-16
 * surrogate in a jsonb value (JSON.stringify escapes it as `\udfff`, which
 * jsonb rejects: 22P02 "for type json"). Valid JSON, unstorable: the client's
 * mistake, found by test/fuzz-api.test.ts (each was a 500).
 */
const UNSTORABLE_TEXT_CODES = new Set(['22021', '22P05']);
const isUnstorableText = (code: string, err: unknown) =>
  UNSTORABLE_TEXT_CODES.has(code) || (code === '22P02' && err instanceof Error && /invalid input syntax for type json/i.test(err.message));

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

/** One field that failed validation; `in` says where it was. */
export interface FieldProblem {
  field: string;
  in: 'body' | 'path' | 'query' | 'header';
  message: string;
}

const TARGET_LOCATION: Record<string, FieldProblem['in']> = { json: 'body', param: 'path', query: 'query', header: 'header' };

/** Zod issues as the `details` of a 400: unknown keys become one entry per key. */
export function fieldProblems(issues: readonly z.core.$ZodIssue[], where: FieldProblem['in'], prefix: string[] = []): FieldProblem[] {
  return issues.flatMap((issue) => {
    const base = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...base, key].join('.'), in: where, message: 'unknown field' }));
    }
    return [{ field: base.join('.') || '(root)', in: where, message: issue.message }];
  });
}

export function validationError(problems: FieldProblem[]): AppError {
  return new AppError('VALIDATION_FAILED', 'invalid_request', 'request validation failed', { details: problems });
}

/**
 * The `defaultHook` of every OpenAPIHono router: a failed zod validation
 * becomes one 400 whose details name every bad field.
 */
export function validationHook(result: { success: boolean; error?: unknown; target: string }): void {
  if (result.success) return;
  const issues = result.error instanceof z.ZodError ? result.error.issues : [];
  throw validationError(fieldProblems(issues, TARGET_LOCATION[result.target] ?? 'body'));
}

function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException) {
    const category = CATEGORY_OF_STATUS[err.status];
    if (!category) return undefined;
    // Hono's own messages ("Malformed JSON in request body", "Unsupported Media Type") are safe to show.
    return new AppError(category.toUpperCase(), category, err.message || category.replace(/_/g, ' '), { cause: err });
  }
  if (err instanceof z.ZodError) return validationError(fieldProblems(err.issues, 'body'));
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && isUnstorableText(code, err)) {
    return new AppError('UNSTORABLE_TEXT', 'invalid_request', 'the request contains a character that cannot be stored (NUL, or an unpaired surrogate)', {
      cause: err,
    });
  }
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'unavailable', 'a dependency is unavailable, retry later', { cause: err, retryAfterS: 5 });
  }
  if (err instanceof Error && /timeout exceeded when trying to connect|Connection terminated/i.test(err.message)) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'unavailable', 'a dependency is unavailable, retry later', { cause: err, retryAfterS: 5 });
  }
  return undefined;
}

/** The contract's error body for an AppError, with the headers its status needs. */
export function errorResponse(c: Context, err: AppError): Response {
  const { status, code } = STATUS[err.category];
  if (err.category === 'rate_limited' || err.category === 'unavailable') {
    c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterS ?? 1))));
  }
  if (err.category === 'unauthorized') c.header('WWW-Authenticate', 'Bearer');
  const body = { error: { code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
  return c.json(body, status as 400);
}

/**
 * The single `onError`: known errors keep their message and status; anything
 * else is a 500 with a generic message, logged with its stack, never echoed.
 */
export function errorHandler(err: Error, c: Context<AppEnv>): Response {
  const logger = c.get('logger');
  const appErr = toAppError(err);
  if (appErr && appErr.category !== 'system') {
    if (STATUS[appErr.category].status >= 500) logger?.warn({ err: appErr.cause ?? appErr, code: appErr.code }, 'dependency failure');
    return errorResponse(c, appErr);
  }
  logger?.error({ err }, 'unhandled error');
  return c.json({ error: { code: 'internal', message: 'internal server error' } }, 500);
}

export function notFoundHandler(c: Context): Response {
  return errorResponse(c, new AppError('ROUTE_NOT_FOUND', 'not_found', 'no such route'));
}
