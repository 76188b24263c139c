import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Embedder } from '../core/embedding.js';
import type { VectorStore } from '../core/vector-store.js';
import { createIntentGuard, type IntentGuard } from './intent-guard.js';

/**
 * Cosine similarity above which a cached plan may serve a new request, for the
 * `local-hashed` embedder. Chosen by `npx tsx bench/plan-cache.ts` on
 * bench/data/plan-requests.jsonl (206 requests, 76 paraphrases, 35 near
 * misses): the lowest threshold at which no near miss was served a wrong plan
 * with the intent guard on. At 0.80 that is 0/35 wrong hits and 38/76
 * paraphrase hits; 0.75 would add 9 paraphrase hits but served one near miss
 * the wrong plan, and without the guard even 0.90 served 3. Table and
 * reasoning in docs/plan-cache.md. Another embedder (OpenAI) needs its own
 * measurement: pass `threshold`.
 */
export const DEFAULT_SIMILARITY_THRESHOLD = 0.8;

export const PLAN_REQUEST_COLLECTION = 'plan_requests';
export const PLAN_REQUEST_KIND = 'plan_request';

export interface CachedTask {
  id: string;
  description: string;
  agent: string;
  dependencies: string[];
  [key: string]: unknown;
}

export interface CachedPlan {
  tasks: CachedTask[];
  [key: string]: unknown;
}

export interface PlanCacheScope {
  userId: string;
  projectId: string;
  /** From `agentSetVersion(agents)`: a changed agent set never reuses a plan. */
  agentSetVersion: string;
  request: string;
}

export interface PlanCacheHit {
  kind: 'exact' | 'similar';
  /** 1 for an exact hit; the cosine similarity of the cached request otherwise. */
  similarity: number;
  plan: CachedPlan;
  /** The request the cached plan was made for. */
  cachedRequest: string;
}

export interface PlanCacheLookupEvent {
  outcome: 'exact' | 'similar' | 'miss';
  similarity?: number;
}

export interface PlanCacheOptions {
  redis: Redis;
  /** Key namespace of the deployment (QUEUE_PREFIX). */
  prefix: string;
  embedder: Embedder;
  vectorStore: VectorStore;
  /** PLAN_CACHE_TTL_S. */
  ttlS: number;
  threshold?: number;
  /** Second check after similarity; `false` disables it (benchmarks only). */
  guard?: IntentGuard | false;
  /** Similar candidates examined per lookup (the best may be expired or guarded out). */
  candidates?: number;
  /** Metrics hook, called once per lookup. */
  onLookup?: (event: PlanCacheLookupEvent) => void;
}

export interface PlanCache {
  lookup(scope: PlanCacheScope): Promise<PlanCacheHit | null>;
  store(entry: PlanCacheScope & { plan: CachedPlan }): Promise<void>;
  /** Deletes every cached plan of the project (all agent-set versions) and their vectors. */
  invalidateProject(userId: string, projectId: string): Promise<number>;
}

interface Entry {
  request: string;
  plan: CachedPlan;
  stored_at: string;
}

/** Lowercase, punctuation stripped, whitespace collapsed: what the exact key hashes. */
export function normalizeRequest(request: string): string {
  return request
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Stable JSON: object keys sorted, so equal configs hash equally whatever their key order. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * A short hash of a project's agents (name, config, status), order-free.
 * Editing, adding, removing or disabling an agent changes it, and with it
 * every cache key: plans made for another agent set are never served.
 */
export function agentSetVersion(agents: ReadonlyArray<{ name: string; config: unknown; status: string }>): string {
  const canonical = [...agents]
    .map((a) => ({ name: a.name, config: a.config, status: a.status }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sha256(stable(canonical)).slice(0, 16);
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

export function createPlanCache(opts: PlanCacheOptions): PlanCache {
  const { redis, prefix, embedder, vectorStore, ttlS } = opts;
  const threshold = opts.threshold ?? DEFAULT_SIMILARITY_THRESHOLD;
  const guard = opts.guard === false ? () => true : (opts.guard ?? createIntentGuard());
  const candidates = opts.candidates ?? 5;
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new Error('plan cache: ttlS must be a positive integer');
  if (!(threshold > 0 && threshold <= 1)) throw new Error('plan cache: threshold must be in (0, 1]');
  let collectionReady: Promise<void> | undefined;
  const ready = () => {
    collectionReady ??= vectorStore.ensureCollection(PLAN_REQUEST_COLLECTION, embedder.dimensions).catch((err) => {
      collectionReady = undefined;
      throw err;
    });
    return collectionReady;
  };
  // lookup then store embed the same request on a miss: remember a few so a paid embedder is called once.
  const recent = new Map<string, number[]>();
  const embedOne = async (s: PlanCacheScope) => {
    // Per project, so each embedding is billed to the project that asked for it.
    const norm = `${s.userId}:${s.projectId}:${normalizeRequest(s.request)}`;
    const cached = recent.get(norm);
    if (cached) return cached;
    const [vector] = (await embedder.embed([s.request], { userId: s.userId, projectId: s.projectId })).vectors;
    recent.set(norm, vector!);
    if (recent.size > 64) recent.delete(recent.keys().next().value!);
    return vector!;
  };

  const keyOf = (s: Omit<PlanCacheScope, 'request'>, normalized: string) =>
    `${prefix}:plancache:${s.userId}:${s.projectId}:${s.agentSetVersion}:${sha256(normalized)}`;
  const report = (e: PlanCacheLookupEvent) => {
    try {
      opts.onLookup?.(e);
    } catch {
      // A metrics hook must never fail a lookup.
    }
  };

  return {
    async lookup(scope) {
      const key = keyOf(scope, normalizeRequest(scope.request));
      const exact = await redis.get(key);
      if (exact) {
        const entry = JSON.parse(exact) as Entry;
        report({ outcome: 'exact', similarity: 1 });
        return { kind: 'exact', similarity: 1, plan: entry.plan, cachedRequest: entry.request };
      }
      await ready();
      const hits = await vectorStore.search(PLAN_REQUEST_COLLECTION, await embedOne(scope), {
        filter: { user_id: scope.userId, project_id: scope.projectId, kind: PLAN_REQUEST_KIND },
        limit: candidates,
        minScore: threshold,
      });
      for (const hit of hits) {
        const p = hit.payload as { cache_key?: unknown; agent_set_version?: unknown; request?: unknown };
        if (p.agent_set_version !== scope.agentSetVersion || typeof p.cache_key !== 'string' || typeof p.request !== 'string') continue;
        if (!guard(p.request, scope.request)) continue;
        // The Redis entry is the source of truth: expired or invalidated means miss.
        const raw = await redis.get(p.cache_key);
        if (!raw) continue;
        const entry = JSON.parse(raw) as Entry;
        report({ outcome: 'similar', similarity: hit.score });
        return { kind: 'similar', similarity: hit.score, plan: entry.plan, cachedRequest: entry.request };
      }
      report({ outcome: 'miss' });
      return null;
    },

    async store({ plan, ...scope }) {
      const key = keyOf(scope, normalizeRequest(scope.request));
      const entry: Entry = { request: scope.request, plan, stored_at: new Date().toISOString() };
      await redis.set(key, JSON.stringify(entry), 'EX', ttlS);
      await ready();
      await vectorStore.upsert(PLAN_REQUEST_COLLECTION, [
        {
          // One point per cache key: storing the same request again replaces it.
          id: sha256(key).slice(0, 40),
          vector: await embedOne(scope),
          payload: {
            user_id: scope.userId,
            project_id: scope.projectId,
            kind: PLAN_REQUEST_KIND,
            cache_key: key,
            agent_set_version: scope.agentSetVersion,
            request: scope.request,
          },
        },
      ]);
    },

    async invalidateProject(userId, projectId) {
      const pattern = `${globEscape(prefix)}:plancache:${globEscape(userId)}:${globEscape(projectId)}:*`;
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (keys.length) n += await redis.unlink(...keys);
      } while (cursor !== '0');
      await ready();
      await vectorStore.deleteByFilter(PLAN_REQUEST_COLLECTION, { user_id: userId, project_id: projectId, kind: PLAN_REQUEST_KIND });
      return n;
    },
  };
}
