import type { Redis } from 'ioredis';

/**
 * Admission control for agent tasks: a per-user cap on running tasks and a
 * per-project cap (`max_parallel_tasks`), so one user's 50-wide plan cannot
 * starve another user's 1-task plan. BullMQ OSS has no groups, so this is done
 * here, crash-safe: a slot is a member of a sorted set scored by its lease
 * expiry, refreshed by the running task's heartbeat; a killed worker's slots
 * expire by themselves. A task that is not admitted is parked (a delayed job
 * plus an entry in the user's parked set); a finishing task of that user
 * promotes the oldest parked jobs, and the delay is the crash-safe fallback.
 */
const ACQUIRE = `
local now = tonumber(ARGV[1])
-- KEYS[3]: the user's parked set; an admitted task is no longer parked.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 4)
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
`;

export interface AdmissionKeys {
  userId: string;
  projectId: string;
  /** The task's job id (unique per task). */
  member: string;
}

export interface Admission {
  acquire(k: AdmissionKeys, limits: { user: number; project: number }): Promise<boolean>;
  extend(k: AdmissionKeys): Promise<void>;
  /** Frees the slot; returns the job ids of parked tasks of that user to promote. */
  release(k: AdmissionKeys, promote: number): Promise<string[]>;
  park(k: AdmissionKeys): Promise<void>;
}

export function createAdmission(redis: Redis, prefix: string, leaseMs: number): Admission {
  const userKey = (u: string) => `${prefix}:slots:user:${u}`;
  const projectKey = (p: string) => `${prefix}:slots:project:${p}`;
  const parkedKey = (u: string) => `${prefix}:parked:${u}`;
  redis.defineCommand('codelabAcquire', { numberOfKeys: 3, lua: ACQUIRE });
  const r = redis as Redis & {
    codelabAcquire(k1: string, k2: string, k3: string, now: number, lease: number, member: string, userCap: number, projectCap: number): Promise<number>;
  };
  return {
    async acquire(k, limits) {
      const ok = await r.codelabAcquire(userKey(k.userId), projectKey(k.projectId), parkedKey(k.userId), Date.now(), leaseMs, k.member, limits.user, limits.project);
      return ok === 1;
    },
    async extend(k) {
      const until = Date.now() + leaseMs;
      await redis.pipeline().zadd(userKey(k.userId), 'XX', until, k.member).zadd(projectKey(k.projectId), 'XX', until, k.member).exec();
    },
    async release(k, promote) {
      const res = await redis
        .pipeline()
        .zrem(userKey(k.userId), k.member)
        .zrem(projectKey(k.projectId), k.member)
        .zpopmin(parkedKey(k.userId), promote)
        .exec();
      const popped = (res?.[2]?.[1] as string[] | undefined) ?? [];
      return popped.filter((_, i) => i % 2 === 0);
    },
    async park(k) {
      await redis.pipeline().zadd(parkedKey(k.userId), 'NX', Date.now(), k.member).pexpire(parkedKey(k.userId), 24 * 3600_000).exec();
    },
  };
}
