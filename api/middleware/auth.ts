import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Config } from '../../src/config.js';
import type { Database } from '../../db/schema.js';
import { AppError } from '../../src/core/errors.js';
import type { AppEnv, AuthUser } from '../context.js';
import { CLOCK_SKEW_S, createTokenVerifier, TokenRejected } from './token-verifier.js';
import { createVerifiedTokenCache } from './verified-token-cache.js';

export interface AuthOptions {
  /**
   * Also accept the token as `?access_token=` (EventSource cannot send
   * headers). `true`, or a predicate deciding per request. The header wins
   * when both are present; the query value is never logged.
   */
  allowQueryToken?: boolean | ((c: Context) => boolean);
}

/** SSE endpoints (`GET …/events`): the only routes where the contract allows `?access_token=`. */
export const isEventStreamRequest = (c: Context): boolean => c.req.method === 'GET' && c.req.path.endsWith('/events');

const claimsSchema = z.object({
  sub: z.string().min(1).max(255),
  email: z.string().max(320).nullish(),
  name: z.string().max(255).nullish(),
  role: z.string().max(64).nullish(),
});

const unauthorized = (message: string) => new AppError('UNAUTHORIZED', 'unauthorized', message);

/**
 * Verified tokens kept per process (see verified-token-cache.ts). What is kept
 * (user id, subject, role) cannot change for a given token, since users are
 * never deleted and the role is the token's; the minute bounds how long a
 * token outlives its signing key leaving the JWKS (whose own cache keeps keys
 * up to 10 minutes). Ten thousand tokens are a few MB at most.
 */
const TOKEN_CACHE = { maxEntries: 10_000, maxAgeMs: 60_000 };

/**
 * Verifies the bearer token, provisions the user on first sight and puts
 * `{id, subject, role}` in the context (`c.get('user')`). Options are checked
 * once, when the middleware is made. A token verified before, and still
 * within its `exp`, is answered from a per-process cache with the user it
 * resolved to (TOKEN_CACHE): no signature check, no query.
 */
export function authenticate(deps: { config: Config; db: Kysely<Database> }, opts: AuthOptions = {}): MiddlewareHandler<AppEnv> {
  const verifyToken = createTokenVerifier(deps.config);
  const { allowQueryToken = false } = opts;
  const queryAllowed = typeof allowQueryToken === 'function' ? allowQueryToken : () => allowQueryToken;
  const verified = createVerifiedTokenCache<AuthUser>(TOKEN_CACHE);

  return async (c, next) => {
    // Already authenticated by an outer mount of this middleware.
    if (c.get('user')) return next();
    const header = c.req.header('authorization');
    let token: string | undefined;
    if (header !== undefined) {
      const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
      if (!match) throw unauthorized('the Authorization header must be "Bearer <token>"');
      token = match[1];
    } else if (queryAllowed(c)) {
      token = c.req.query('access_token') || undefined;
    }
    if (!token) throw unauthorized('a bearer token is required');

    let user = verified.get(token, Date.now());
    if (!user) {
      let claims: z.infer<typeof claimsSchema>;
      let exp: number;
      try {
        const payload = await verifyToken(token);
        claims = claimsSchema.parse(payload);
        exp = payload.exp as number; // the verifier requires a finite exp
      } catch (err) {
        if (err instanceof AppError) throw err;
        const reason = err instanceof TokenRejected ? err.reason : 'InvalidClaims';
        c.get('logger').info({ reason }, 'token rejected');
        throw unauthorized(reason === 'Expired' ? 'the token has expired' : 'the token is invalid');
      }
      user = await provisionUser(deps.db, claims);
      verified.set(token, user, (exp + CLOCK_SKEW_S) * 1000, Date.now());
    }
    c.set('user', user);
    c.set('logger', c.get('logger').child({ userId: user.id }));
    await next();
  };
}

/**
 * Just-in-time provisioning: the common case is one indexed SELECT; the first
 * request of a subject inserts with ON CONFLICT DO NOTHING, so concurrent
 * first requests end with one row and every one of them gets its id.
 */
export async function provisionUser(
  db: Kysely<Database>,
  claims: { sub: string; email?: string | null; name?: string | null; role?: string | null },
): Promise<AuthUser> {
  const email = claims.email ?? null;
  const username = claims.name ?? null;
  const found = await db.selectFrom('users').select(['id', 'email', 'username']).where('subject', '=', claims.sub).executeTakeFirst();
  let id = found?.id;
  if (found && ((email && email !== found.email) || (username && username !== found.username))) {
    await db
      .updateTable('users')
      .set({ email: email ?? found.email, username: username ?? found.username })
      .where('id', '=', found.id)
      .execute();
  }
  if (!id) {
    const inserted = await db
      .insertInto('users')
      .values({ subject: claims.sub, email, username })
      .onConflict((oc) => oc.column('subject').doNothing())
      .returning('id')
      .executeTakeFirst();
    id = inserted?.id ?? (await db.selectFrom('users').select('id').where('subject', '=', claims.sub).executeTakeFirstOrThrow()).id;
  }
  return { id, subject: claims.sub, role: claims.role ?? null };
}
