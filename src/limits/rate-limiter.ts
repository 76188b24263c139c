import type { Redis } from 'ioredis';

/**
 * GCRA (generic cell rate algorithm) in one Lua call: the key holds the
 * "theoretical arrival time" (TAT, ms, fractional) of the next request. A
 * request is allowed when it arrives no earlier than TAT - burst·interval,
 * and then pushes TAT by one interval. Time is Redis's own clock (TIME), so
 * every API replica shares one limit whatever their clocks say. One key per
 * user, which expires once the user is idle again.
 *
 * Returns {allowed (1/0), retry_after_ms, remaining}.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
  return {0, math.ceil(allow_at - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now))
return {1, 0, math.floor((now - allow_at) / interval)}
`;

export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: how long until one request is allowed again. */
  retryAfterMs: number;
  /** When allowed: requests still allowed at once right now. */
  remaining: number;
}

export interface RateLimiter {
  /** Takes one request from the user's allowance. */
  take(userId: string): Promise<RateLimitDecision>;
}

export interface RateLimitOptions {
  /** Sustained rate. */
  perMinute: number;
  /** Requests allowed at once after an idle period (at least 1). */
  burst: number;
}

/**
 * A per-user request rate limit shared by every process using the same Redis
 * and key prefix. Options are checked once, here.
 */
export function createRateLimiter(redis: Redis, prefix: string, opts: RateLimitOptions): RateLimiter {
  if (!(opts.perMinute > 0)) throw new Error('rate limiter: perMinute must be positive');
  if (!Number.isInteger(opts.burst) || opts.burst < 1) throw new Error('rate limiter: burst must be an integer ≥ 1');
  const intervalMs = 60_000 / opts.perMinute;
  redis.defineCommand('codelabRateLimit', { numberOfKeys: 1, lua: GCRA });
  const r = redis as Redis & { codelabRateLimit(key: string, intervalMs: number, burst: number): Promise<[number, number, number]> };
  return {
    async take(userId) {
      const [allowed, retryAfterMs, remaining] = await r.codelabRateLimit(`${prefix}:ratelimit:user:${userId}`, intervalMs, opts.burst);
      return { allowed: allowed === 1, retryAfterMs, remaining };
    },
  };
}
