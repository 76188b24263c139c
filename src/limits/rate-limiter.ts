import type { Redis } from 'ioredis';
import { keyedBatcher } from '../util/batcher.js';

/**
 * GCRA (generic cell rate algorithm) in one Lua call: the key holds the
 * "theoretical arrival time" (TAT, ms, fractional) of the next request. A
 * request is allowed when it arrives no earlier than TAT - burst·interval,
 * and then pushes TAT by one interval. Time is Redis's own clock (TIME), so
 * every API replica shares one limit whatever their clocks say. One key per
 * user, which expires once the user is idle again.
 *
 * ARGV[3] requests arrive at once and are decided in order, exactly as that
 * many calls at the same instant would be: the first ones are allowed until
 * one is refused, and then the rest are (a refusal does not move TAT).
 *
 * Returns {allowed (how many of them), retry_after_ms (of the refused ones), remaining}.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed = 0
local retry = 0
for i = 1, n do
  local allow_at = tat + interval - burst * interval
  if now < allow_at then
    retry = math.ceil(allow_at - now)
    break
  end
  tat = tat + interval
  allowed = allowed + 1
end
if allowed == 0 then
  return {0, retry, 0}
end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
return {allowed, retry, math.floor((now - tat + burst * interval) / interval)}
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
 * and key prefix. Options are checked once, here. A user's requests that
 * arrive while one of their checks is in flight are checked together, by one
 * script call (src/util/batcher.ts): under load a user costs Redis a round
 * trip per batch, not per request, with the same decisions.
 */
export function createRateLimiter(redis: Redis, prefix: string, opts: RateLimitOptions): RateLimiter {
  if (!(opts.perMinute > 0)) throw new Error('rate limiter: perMinute must be positive');
  if (!Number.isInteger(opts.burst) || opts.burst < 1) throw new Error('rate limiter: burst must be an integer ≥ 1');
  const intervalMs = 60_000 / opts.perMinute;
  redis.defineCommand('codelabRateLimit', { numberOfKeys: 1, lua: GCRA });
  const r = redis as Redis & {
    codelabRateLimit(key: string, intervalMs: number, burst: number, count: number): Promise<[number, number, number]>;
  };
  const take = keyedBatcher<null, RateLimitDecision>(async (userId, calls) => {
    const [allowed, retryAfterMs, remaining] = await r.codelabRateLimit(`${prefix}:ratelimit:user:${userId}`, intervalMs, opts.burst, calls.length);
    return calls.map((_, i) =>
      i < allowed ? { allowed: true, retryAfterMs: 0, remaining: remaining + (allowed - 1 - i) } : { allowed: false, retryAfterMs, remaining: 0 },
    );
  });
  return { take: (userId) => take(userId, null) };
}
