import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as streamingBodyLimit } from 'hono/body-limit';

export interface BodyLimitOptions {
  maxSize: number;
  onError: (c: Context) => Response | Promise<Response>;
}

/**
 * Hono's `bodyLimit`, without its cost on the common requests: it reads
 * `c.req.raw.body` first, which makes @hono/node-server build a full fetch
 * `Request` and a web stream over the socket for every request, GETs
 * included (about a tenth of the chat route's CPU). A GET or HEAD has no body
 * to limit; a body framed by Content-Length is limited by that header, as
 * hono does (Node's parser never reads past it); only a chunked body goes
 * through hono's streaming count.
 */
export function bodyLimit(opts: BodyLimitOptions): MiddlewareHandler {
  const streaming = streamingBodyLimit(opts);
  return async (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (parseInt(length, 10) > opts.maxSize) return opts.onError(c);
      return next();
    }
    return streaming(c, next);
  };
}
