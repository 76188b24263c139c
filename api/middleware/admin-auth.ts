import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Config } from '../../src/config.js';
import { AppError } from '../../src/core/errors.js';
import type { AppEnv } from '../context.js';
import { errorResponse } from '../errors.js';
import { createTokenVerifier } from './token-verifier.js';

/** Cookie an operator's browser can carry instead of the Authorization header. */
export const ADMIN_COOKIE = 'codelab_admin_token';

const sha = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time comparison of two strings of any length. */
const same = (a: string, b: string) => timingSafeEqual(sha(a), sha(b));

/**
 * Operator-only routes (`/admin/*`): a JWT whose `role` is `admin` (the
 * Authorization header or the `codelab_admin_token` cookie), or the
 * configured basic-auth user (BULL_BOARD_USER / BULL_BOARD_PASSWORD).
 * Anything else is a 401 that asks the browser for basic credentials when
 * those are configured. No user row is provisioned: admin access is not a
 * tenant action.
 */
export function adminAuth(config: Config): MiddlewareHandler<AppEnv> {
  const verify = createTokenVerifier(config);
  const basicUser = config.BULL_BOARD_USER;
  const basicPassword = config.BULL_BOARD_PASSWORD;
  const basicEnabled = Boolean(basicUser && basicPassword);

  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    let ok = false;
    let who: string | undefined;
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (basicEnabled && colon > 0) {
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        // Both compared, always: the time taken does not tell which one was wrong.
        ok = same(user, basicUser!) && same(password, basicPassword!);
        who = ok ? `basic:${user}` : undefined;
      }
    } else {
      const bearer = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header)?.[1];
      const token = bearer ?? getCookie(c, ADMIN_COOKIE);
      if (token) {
        try {
          const claims = await verify(token);
          ok = claims.role === 'admin';
          who = ok && typeof claims.sub === 'string' ? `jwt:${claims.sub}` : undefined;
        } catch (err) {
          if (err instanceof AppError && err.category === 'unavailable') throw err;
          ok = false;
        }
      }
    }
    if (!ok) {
      const res = errorResponse(c, new AppError('UNAUTHORIZED', 'unauthorized', 'admin credentials are required'));
      // A browser opening the dashboard is asked for the basic-auth user when there is one.
      if (basicEnabled) res.headers.set('WWW-Authenticate', 'Basic realm="codelab admin", charset="UTF-8"');
      return res;
    }
    c.set('logger', c.get('logger').child({ admin: who }));
    await next();
  };
}
