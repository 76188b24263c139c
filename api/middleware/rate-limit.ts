import type { MiddlewareHandler } from 'hono';
import type { Deps } from '../../src/deps.js';
import { AppError } from '../../src/core/errors.js';
import { createRateLimiter } from '../../src/limits/rate-limiter.js';
import type { AppEnv } from '../context.js';

/**
 * How long a rate check may wait for Redis. Past it, or while Redis is not
 * connected, the request goes through: the limit protects the service, it
 * must not take down the routes that only need PostgreSQL when Redis is out.
 */
const REDIS_WAIT_MS = 250;
/** Connected, or making its first connection; not reconnecting or closed. */
const LIVE_REDIS_STATES = new Set(['ready', 'connect', 'connecting', 'wait']);

/**
 * Retry-After of the executing-plans cap. When a slot frees depends on how
 * long the user's plans run, which nobody knows here: a short, honest guess.
 */
export const ACTIVE_PLANS_RETRY_AFTER_S = 10;

/**
 * Per-user request rate on `/v1/*`, mounted after `authenticate()` (it keys
 * on the user id): RATE_LIMIT_PER_MINUTE sustained, RATE_LIMIT_BURST at once,
 * counted in Redis under `deps.prefix`, so every API replica shares it. An
 * SSE stream counts once, when it opens. Past the limit: 429 `rate_limited`
 * with `Retry-After` (seconds until one more request is allowed).
 * RATE_LIMIT_PER_MINUTE=0 turns it off.
 */
export function rateLimit(deps: Pick<Deps, 'redis' | 'prefix' | 'config'>): MiddlewareHandler<AppEnv> {
  const { RATE_LIMIT_PER_MINUTE: perMinute, RATE_LIMIT_BURST: burst } = deps.config;
  if (perMinute <= 0) return (_c, next) => next();
  const limiter = createRateLimiter(deps.redis, deps.prefix, { perMinute, burst });

  return async (c, next) => {
    const user = c.get('user');
    if (!user || !LIVE_REDIS_STATES.has(deps.redis.status)) return next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), REDIS_WAIT_MS);
    });
    const decision = await Promise.race([limiter.take(user.id), timeout]).catch((err: unknown) => {
      c.get('logger').warn({ err }, 'rate limit check failed; request allowed');
      return 'error' as const;
    });
    clearTimeout(timer);
    if (decision === 'timeout') c.get('logger').warn('rate limit check timed out; request allowed');
    if (typeof decision === 'object' && !decision.allowed) {
      throw new AppError('RATE_LIMITED', 'rate_limited', `too many requests: at most ${perMinute} a minute (bursts of ${burst})`, {
        retryAfterS: decision.retryAfterMs / 1000,
      });
    }
    await next();
  };
}

/**
 * The 429 of USER_MAX_EXECUTING_PLANS on `POST …/chat`: the user already has
 * `active` plans in planning, created or executing (at most `cap`). The chat
 * statement checks the cap (routes/chat-commit.ts), after the project scope,
 * so another user's project stays a 404; nothing is recorded.
 */
export function tooManyActivePlans(active: number, cap: number): AppError {
  return new AppError(
    'TOO_MANY_ACTIVE_PLANS',
    'rate_limited',
    `you already have ${active} plans being planned or executed (at most ${cap}); wait for one to finish or cancel one`,
    { retryAfterS: ACTIVE_PLANS_RETRY_AFTER_S, details: { active_plans: active, max_active_plans: cap } },
  );
}
