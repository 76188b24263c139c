import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoredEvent } from '../events/event-log.js';
import type { Logger } from '../logger.js';
import { OTHER, boundedLabel } from './bounded-label.js';
import { createEventObserver, type PlanFacts } from './event-metrics.js';

/** What the LLM router reports for every attempt it records in `llm_calls`. */
export interface LlmCallObservation {
  provider: string;
  model: string;
  purpose: string;
  outcome: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
}

/** The plan cache's `onLookup` event (src/cache/plan-cache.ts). */
export interface CacheLookupObservation {
  outcome: 'exact' | 'similar' | 'miss';
}

/** A queue whose depth is read at scrape time (a BullMQ `Queue`). */
export interface CountableQueue {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

export interface MetricsOptions {
  /** Queues whose job counts are read at each scrape (`codelab_queue_jobs`). */
  queues?: Record<string, CountableQueue>;
  /** Reads what events do not carry (a plan's estimate, when approval was requested). */
  planFacts?: PlanFacts;
  logger?: Logger;
  /** Node process metrics (CPU, memory, event loop, GC); default true. */
  defaultMetrics?: boolean;
}

/**
 * This process's Prometheus metrics. Each instance owns its registry (never
 * prom-client's global one), so several in one process do not collide.
 * Every label value is bounded: no user, project, plan or task ids.
 */
export interface Metrics {
  readonly registry: Registry;
  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** One HTTP request; `route` is the route template (`/v1/projects/:projectId`), never the raw path. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  /** The `onEvents` observer of createDeps: plans, tasks, approvals, cost ratio. */
  observeEvents(events: StoredEvent[]): void;
  /** A job that finished processing; `ms` is `finishedOn - processedOn` when known. */
  observeJob(queue: string, outcome: 'completed' | 'failed', ms: number | undefined): void;
  /** Hook of the LLM router, called once per recorded attempt. */
  observeLlmCall(call: LlmCallObservation): void;
  /** Pass as the plan cache's `onLookup`. */
  observeCacheLookup(event: CacheLookupObservation): void;
  /**
   * Open SSE streams, two ways: `trackOpenStreams(() => streams.openStreams())`
   * registers a reader called at scrape time (readers are summed), or
   * `streamOpened()` counts one stream and returns its close function
   * (calling it twice counts once). Use one or the other per stream source.
   */
  trackOpenStreams(read: () => number): void;
  streamOpened(): () => void;
  /** Delay between an event's publication and its delivery to an SSE client. */
  observeDelivery(ms: number): void;
  /** An unexpected error, by fingerprint (src/ops/error-tracker.ts). */
  countError(fingerprint: string, source: string): void;
  /** Resolves when the lookups started by observed events are done (tests, shutdown). */
  settled(): Promise<void>;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused', 'completed', 'failed'];
const QUEUE_COUNT_TIMEOUT_MS = 2_000;

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'codelab_http_requests_total', help: 'HTTP requests by route template, method and status',
    labelNames: ['method', 'route', 'status'] as const, registers,
  });
  const httpDuration = new Histogram({
    name: 'codelab_http_request_duration_seconds', help: 'HTTP request duration (streams: until the handler returned)',
    labelNames: ['method', 'route', 'status'] as const, registers,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const queues = opts.queues ?? {};
  new Gauge({
    name: 'codelab_queue_jobs', help: 'Jobs per queue and state, read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const, registers,
    async collect() {
      this.reset();
      await Promise.all(
        Object.entries(queues).map(async ([name, queue]) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            const counts = await Promise.race([
              queue.getJobCounts(...QUEUE_STATES),
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error('timeout')), QUEUE_COUNT_TIMEOUT_MS);
              }),
            ]);
            for (const state of QUEUE_STATES) this.set({ queue: name, state }, counts[state] ?? 0);
          } catch (err) {
            // A scrape must answer even when Redis does not: the queue's series are left out.
            opts.logger?.warn({ queue: name, err: (err as Error).message }, 'could not read queue counts');
          } finally {
            clearTimeout(timer);
          }
        }),
      );
    },
  });
  const jobs = new Counter({
    name: 'codelab_jobs_total', help: 'Jobs processed by this process, by queue and outcome (failed: an attempt failed)',
    labelNames: ['queue', 'outcome'] as const, registers,
  });
  const jobDuration = new Histogram({
    name: 'codelab_job_duration_seconds', help: 'Job processing time (finishedOn - processedOn)',
    labelNames: ['queue', 'outcome'] as const, registers,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  });
  const llmCalls = new Counter({
    name: 'codelab_llm_calls_total', help: 'LLM call attempts as recorded in llm_calls',
    labelNames: ['provider', 'model', 'purpose', 'outcome'] as const, registers,
  });
  const llmTokens = new Counter({
    name: 'codelab_llm_tokens_total', help: 'LLM tokens by direction (input, output)',
    labelNames: ['provider', 'model', 'direction'] as const, registers,
  });
  const llmCost = new Counter({
    name: 'codelab_llm_cost_usd_total', help: 'LLM spend in USD', labelNames: ['provider', 'model'] as const, registers,
  });
  const llmLatency = new Histogram({
    name: 'codelab_llm_call_duration_seconds', help: 'LLM call latency per attempt',
    labelNames: ['provider', 'model', 'outcome'] as const, registers,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
  });
  const cacheLookups = new Counter({
    name: 'codelab_plan_cache_lookups_total', help: 'Plan cache lookups by outcome (exact, similar, miss)',
    labelNames: ['outcome'] as const, registers,
  });
  const streamReaders: Array<() => number> = [];
  let countedStreams = 0;
  new Gauge({
    name: 'codelab_sse_open_streams', help: 'SSE streams open in this process', registers,
    collect() {
      let n = countedStreams;
      for (const read of streamReaders) {
        try {
          n += read();
        } catch {
          // A failing reader must not fail the scrape.
        }
      }
      this.set(n);
    },
  });
  const deliveryDelay = new Histogram({
    name: 'codelab_event_delivery_delay_seconds', help: 'Event publish-to-delivery delay to SSE clients', registers,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const errors = new Counter({
    name: 'codelab_unexpected_errors_total', help: 'Unexpected errors by fingerprint (see GET /admin/errors) and source',
    labelNames: ['fingerprint', 'source'] as const, registers,
  });

  const model = boundedLabel(100);
  const fingerprint = boundedLabel(500);
  const events = createEventObserver(registry, opts.planFacts, opts.logger);

  return {
    registry,
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    observeHttp(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    observeEvents: events.observe,
    observeJob(queue, outcome, ms) {
      jobs.inc({ queue, outcome });
      if (ms !== undefined && Number.isFinite(ms) && ms >= 0) jobDuration.observe({ queue, outcome }, ms / 1000);
    },
    observeLlmCall(call) {
      const known = model(`${call.provider}\u0000${call.model}`) !== OTHER;
      const labels = { provider: call.provider, model: known ? call.model.slice(0, 100) : OTHER };
      llmCalls.inc({ ...labels, purpose: call.purpose, outcome: call.outcome });
      if (call.inputTokens > 0) llmTokens.inc({ ...labels, direction: 'input' }, call.inputTokens);
      if (call.outputTokens > 0) llmTokens.inc({ ...labels, direction: 'output' }, call.outputTokens);
      if (call.costUsd > 0) llmCost.inc(labels, call.costUsd);
      llmLatency.observe({ ...labels, outcome: call.outcome }, Math.max(0, call.latencyMs) / 1000);
    },
    observeCacheLookup(event) {
      cacheLookups.inc({ outcome: event.outcome });
    },
    trackOpenStreams(read) {
      streamReaders.push(read);
    },
    streamOpened() {
      countedStreams += 1;
      let closed = false;
      return () => {
        if (closed) return;
        closed = true;
        countedStreams -= 1;
      };
    },
    observeDelivery(ms) {
      if (Number.isFinite(ms)) deliveryDelay.observe(Math.max(0, ms) / 1000);
    },
    countError(fp, source) {
      errors.inc({ fingerprint: fingerprint(fp), source });
    },
    settled: events.settled,
  };
}
