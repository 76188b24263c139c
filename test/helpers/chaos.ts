import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { SimOptions } from '../../db/schema.js';
import { rng } from './random-dag.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from './processes.js';
import type { ScriptedTask } from './scripted.js';

/**
 * Shared by the chaos test (test/chaos.test.ts) and the soak script
 * (bench/soak.ts): random scripted plans with the outcome their script
 * implies, a cluster of real service processes, an API client that spreads
 * requests over the API replicas, the Redis leftovers of finished plans and
 * /proc samples of a process.
 */

export type Decision = 'none' | 'approve' | 'reject';
export type TaskOutcome = 'completed' | 'failed' | 'skipped';

export interface ChaosPlanSpec {
  /** Index of the plan in the run (its seed is `seed + key`). */
  key: number;
  tasks: ScriptedTask[];
  /** `none`: an auto-start project; otherwise the plan needs approval and the test decides. */
  decision: Decision;
}

const AGENTS = ['researcher', 'coder', 'writer', 'reviewer', 'analyst'];

/**
 * A random DAG of 3–12 tasks (edges from lower to higher index, so acyclic),
 * latencies 100–600 ms, some tasks failing always or transiently, and a
 * quarter of the plans held for approval (half of those rejected).
 */
export function randomChaosPlan(seed: number, key: number): ChaosPlanSpec {
  const r = rng(seed * 7919 + key);
  const n = 3 + Math.floor(r() * 10);
  const tasks: ScriptedTask[] = [];
  const alwaysFails = r() < 0.25 ? 1 + Math.floor(r() * 2) : 0;
  const failing = new Set<number>();
  while (failing.size < alwaysFails) failing.add(Math.floor(r() * n));
  for (let i = 0; i < n; i++) {
    const deps: string[] = [];
    for (let j = 0; j < i; j++) if (r() < Math.min(0.6, 1.5 / i)) deps.push(`t${j}`);
    const fail: SimOptions['fail'] = failing.has(i) ? 'always' : r() < 0.12 ? 'transient' : 'never';
    tasks.push({
      id: `t${i}`,
      agent: AGENTS[i % AGENTS.length],
      deps: deps.slice(0, 3),
      sim: { latency_ms: 100 + Math.floor(r() * 501), output_tokens: 20 + Math.floor(r() * 60), fail },
    });
  }
  const held = r() < 0.25;
  return { key, tasks, decision: held ? (r() < 0.5 ? 'approve' : 'reject') : 'none' };
}

/**
 * What the script implies (api.md, Statuses): a task that always fails is
 * `failed`, every task downstream of it `skipped`, the others `completed`
 * (a transient failure succeeds on its retry). The plan is `completed` when
 * every task completed, `failed` when none did, `partial_success` otherwise;
 * `rejected` when the test rejects it.
 */
export function expectedOutcome(spec: ChaosPlanSpec): { status: string; tasks: Map<string, TaskOutcome> } {
  const tasks = new Map<string, TaskOutcome>();
  for (const t of spec.tasks) {
    // tasks are listed in index order and depend on lower indices only
    const blocked = (t.deps ?? []).some((d) => tasks.get(d) !== 'completed');
    tasks.set(t.id, blocked ? 'skipped' : t.sim?.fail === 'always' ? 'failed' : 'completed');
  }
  if (spec.decision === 'reject') return { status: 'rejected', tasks };
  const done = [...tasks.values()].filter((s) => s === 'completed').length;
  const status = done === tasks.size ? 'completed' : done === 0 ? 'failed' : 'partial_success';
  return { status, tasks };
}

/** A set of API and worker processes of one environment, each the real entry point. */
export class Cluster {
  readonly apis: Array<{ url: string; port: number; proc: ServiceProcess }> = [];
  readonly workers: Array<{ proc: ServiceProcess; metricsPort: number }> = [];
  /** Every process ever started, for the logs of a failure. */
  readonly history: ServiceProcess[] = [];

  constructor(private readonly env: Record<string, string>) {}

  async startApi(port?: number): Promise<number> {
    const p = port ?? (await freePort());
    const proc = spawnService({ ...this.env, PORT: String(p), HOST: '127.0.0.1' }, ['--api']);
    this.history.push(proc);
    await waitForHttp(`http://127.0.0.1:${p}/health`, proc, 120_000);
    const entry = { url: `http://127.0.0.1:${p}`, port: p, proc };
    const i = this.apis.findIndex((a) => a.port === p);
    if (i >= 0) this.apis[i] = entry;
    else this.apis.push(entry);
    return this.apis.indexOf(entry);
  }

  async startWorker(): Promise<ServiceProcess> {
    const metricsPort = await freePort();
    const proc = spawnService({ ...this.env, METRICS_PORT: String(metricsPort) }, ['--workers']);
    this.history.push(proc);
    await waitForHttp(`http://127.0.0.1:${metricsPort}/health/live`, proc, 120_000);
    this.workers.push({ proc, metricsPort });
    return proc;
  }

  /** SIGKILLs worker `i` (a crash: no shutdown code runs) and forgets it. */
  async killWorker(i: number): Promise<number | undefined> {
    const [w] = this.workers.splice(i, 1);
    const pid = w?.proc.child.pid;
    await w?.proc.kill();
    return pid;
  }

  /** Every live process, with its role. */
  processes(): Array<{ role: string; proc: ServiceProcess }> {
    return [
      ...this.apis.map((a, i) => ({ role: `api${i}`, proc: a.proc })),
      ...this.workers.map((w, i) => ({ role: `worker${i}`, proc: w.proc })),
    ];
  }

  /** Logs of every process ever started, the last `chars` of each. */
  logs(chars = 4000): string {
    return this.history
      .map((p) => `--- pid ${p.child.pid} (exit ${p.child.exitCode ?? p.child.signalCode}) ---\n${p.output().slice(-chars)}`)
      .join('\n');
  }

  /** Writes the whole output of every process ever started into `dir`, one file a process. */
  dumpLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const p of this.history) writeFileSync(join(dir, `pid-${p.child.pid}.log`), p.output());
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.history.map((p) => p.kill()));
  }
}

export class ApiUnavailable extends Error {}

/**
 * Spreads requests over the API replicas that are up. A replica about to be
 * restarted is taken out first and its in-flight requests drained, so every
 * request's outcome is known (a POST …/chat cut off mid-way would leave the
 * test unsure whether the plan exists).
 */
export class ApiPool {
  private readonly down = new Set<number>();
  private readonly inFlight = new Map<number, number>();
  requests = 0;

  constructor(private readonly cluster: Cluster) {}

  async request<T = any>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const up = this.cluster.apis.map((_, i) => i).filter((i) => !this.down.has(i));
    if (up.length === 0) throw new ApiUnavailable('no API replica is up');
    const i = up[Math.floor(Math.random() * up.length)]!;
    this.inFlight.set(i, (this.inFlight.get(i) ?? 0) + 1);
    this.requests++;
    try {
      const res = await fetch(`${this.cluster.apis[i]!.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    } finally {
      this.inFlight.set(i, this.inFlight.get(i)! - 1);
    }
  }

  /** Takes replica `i` out, waits for its requests to finish, SIGKILLs it and starts a new process on the same port. */
  async restart(i: number): Promise<void> {
    this.down.add(i);
    const deadline = Date.now() + 30_000;
    while ((this.inFlight.get(i) ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const api = this.cluster.apis[i]!;
    await api.proc.kill();
    await this.cluster.startApi(api.port);
    this.down.delete(i);
  }
}

/**
 * Keys of the plans' BullMQ jobs still in Redis. Flow jobs (`<plan>.<task>`,
 * gates `<plan>.<to>.after.<from>`, `<plan>.final`) are removed when they
 * finish (`removeOnComplete/removeOnFail: true`), so none may remain. The
 * planner job `plan.<plan>` and the approval timer `approval.<plan>` are kept
 * after they finish by the catalog's retention (`keep`: 1 h / 1,000 jobs) and
 * are allowed only in their queue's `completed` or `failed` set: one that is
 * still waiting, delayed or active for a finished plan is a leftover.
 */
export async function redisLeftovers(redis: Redis, prefix: string, planIds: readonly string[]): Promise<string[]> {
  const wanted = new Set(planIds);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
  const left: string[] = [];
  for (const key of keys) {
    const rest = key.slice(prefix.length + 1);
    const planId = rest.match(uuid)?.[0];
    if (!planId || !wanted.has(planId)) continue;
    const [queue, ...idParts] = rest.split(':');
    const jobId = idParts[0] ?? '';
    const retained = (jobId === `plan.${planId}` && queue === 'planner') || (jobId === `approval.${planId}` && queue === 'approvals');
    if (retained && idParts.length === 1) {
      const [done, failed] = await Promise.all([
        redis.zscore(`${prefix}:${queue}:completed`, jobId),
        redis.zscore(`${prefix}:${queue}:failed`, jobId),
      ]);
      if (done !== null || failed !== null) continue;
      left.push(`${key} (${await jobState(redis, `${prefix}:${queue}`, jobId)})`);
      continue;
    }
    if (retained && idParts[1] === 'logs') continue;
    left.push(key);
  }
  // members of the state lists whose job hash is gone
  const queues = new Set(keys.map((k) => k.slice(prefix.length + 1).split(':')[0]!));
  for (const q of queues) {
    for (const state of ['wait', 'paused', 'active', 'delayed', 'prioritized', 'waiting-children']) {
      const key = `${prefix}:${q}:${state}`;
      const type = await redis.type(key);
      const members = type === 'list' ? await redis.lrange(key, 0, -1) : type === 'zset' ? await redis.zrange(key, '0', '-1') : [];
      for (const m of members) {
        const planId = m.match(uuid)?.[0];
        if (planId && wanted.has(planId)) left.push(`${key} ∋ ${m}`);
      }
    }
  }
  return [...new Set(left)];
}

async function jobState(redis: Redis, queueKey: string, jobId: string): Promise<string> {
  for (const state of ['wait', 'paused', 'active']) if ((await redis.lpos(`${queueKey}:${state}`, jobId)) !== null) return state;
  for (const state of ['delayed', 'prioritized', 'waiting-children']) if ((await redis.zscore(`${queueKey}:${state}`, jobId)) !== null) return state;
  return 'in no state list';
}

/** Resident memory (bytes) and open file descriptors of a live process, from /proc; null once it is gone. */
export function procSample(pid: number): { rss: number; fds: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? NaN);
    return { rss: kb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
