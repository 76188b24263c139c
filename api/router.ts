import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from './context.js';
import { errorBodySchema, validationHook } from './errors.js';

/**
 * A router with the app's validation behaviour. Routes of other modules
 * (plans, SSE, usage) should be built on one of these and mounted with
 * `app.route('/', router)` so they share the error body and the docs.
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/** `security` of every `/v1` route in the OpenAPI document. */
export const bearerAuth = [{ bearerAuth: [] }];

const errorContent = (description: string) => ({ description, content: { 'application/json': { schema: errorBodySchema } } });

/** Error responses every authenticated route can give, for the OpenAPI document. */
export const commonErrors = {
  400: errorContent('Invalid request: `details` lists the fields'),
  401: errorContent('Missing, invalid or expired token'),
  404: errorContent('Not found, or owned by another user'),
} as const;

export const bodyErrors = {
  413: errorContent('Body over 64 KiB'),
  415: errorContent('Body is not JSON'),
} as const;

export const conflictError = { 409: errorContent('Conflict') } as const;

/** A JSON request body (required unless said otherwise). */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const projectParams = z.object({ projectId: z.uuid().openapi({ param: { name: 'projectId', in: 'path' } }) });
