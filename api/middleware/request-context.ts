import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { lazyChild, type Logger } from '../../src/logger.js';
import type { AppEnv } from '../context.js';

/** A client-supplied id is echoed only when it is short and printable (it lands in logs). */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the client's `X-Request-Id` or a new UUID),
 * returns it in the response, puts a child logger carrying it in the context
 * and writes one access-log line. Only the path is logged, never the query
 * string: SSE clients put their token there.
 */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    c.set('logger', lazyChild(logger, { requestId }));
    const started = performance.now();
    await next();
    c.res.headers.set('X-Request-Id', requestId);
    const status = c.res.status;
    c.get('logger')[status >= 500 ? 'error' : 'info'](
      { method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) },
      'request',
    );
  };
}
