import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { Deps } from '../src/deps.js';
import { AppError } from '../src/core/errors.js';
import { DEFAULT_PRICES, loadPriceTable } from '../src/llm/prices.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import { createStreamManager, type StreamManager } from '../src/events/stream-manager.js';
import type { AppEnv } from './context.js';
import { errorHandler, notFoundHandler, validationHook } from './errors.js';
import { authenticate, isEventStreamRequest } from './middleware/auth.js';
import { bodyLimit } from './middleware/body-limit.js';
import { projectScope } from './middleware/project-scope.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { agentRoutes } from './routes/agents.js';
import { chatRoutes } from './routes/chat.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { adminRoutes } from './routes/admin.js';
import { metricsRoutes } from './routes/metrics.js';
import { httpMetrics } from '../src/metrics/http-metrics.js';
import type { Lifecycle } from '../src/ops/lifecycle.js';
import { scrubError } from '../src/ops/scrub.js';
import { planRoutes } from './routes/plans.js';
import { projectRoutes } from './routes/projects.js';
import { sessionRoutes } from './routes/sessions.js';
import { usageRoutes } from './routes/usage.js';
import { uiRoutes } from './routes/ui.js';

export interface AppOptions {
  /** The process's draining flag (bin/start.ts sets it on SIGTERM): `/health/ready` answers 503 once set. */
  lifecycle?: Lifecycle;
  /** Extra observer of the publish-to-delivery delay (ms) of every live event written to an SSE client; `deps.metrics` always gets it. */
  onEventDelivered?: (delayMs: number) => void;
}

/**
 * The Hono app plus what it owns: the SSE stream manager (one Redis
 * subscriber connection, made on the first stream; `streams.openStreams()`
 * is the open-streams gauge). `close()` ends every SSE stream and closes
 * that connection; `startApiServer`'s close calls it. Idempotent.
 */
export type App = OpenAPIHono<AppEnv> & { streams: StreamManager; close(): Promise<void> };

/** api.md: request bodies are small JSON documents. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The HTTP API. Middleware order matters and is fixed here: request id and
 * logger, body limit, then for `/v1/*` the token (JIT-provisioning the user)
 * and the user's rate limit, for `/v1/projects/{projectId}/…` the project
 * scope. (A chat's cap on active plans is checked by the chat's own
 * statement, see routes/chat-commit.ts.) Routes added later with
 * `app.route('/', router)` or `app.openapi(...)` get all of it.
 */
export function createApp(deps: Deps, opts: AppOptions = {}): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const streams = createStreamManager({
    redisUrl: deps.config.REDIS_URL,
    logger: deps.logger,
    heartbeatMs: deps.config.SSE_HEARTBEAT_MS,
    maxStreamsPerUser: deps.config.SSE_MAX_STREAMS_PER_USER,
    maxQueuedBytes: deps.config.SSE_MAX_QUEUED_BYTES,
    onDelivered: (delayMs) => {
      deps.metrics.observeDelivery(delayMs);
      opts.onEventDelivered?.(delayMs);
    },
  });
  deps.metrics.trackOpenStreams(() => streams.openStreams());
  const prices = deps.config.PRICES_FILE ? loadPriceTable(deps.config.PRICES_FILE) : DEFAULT_PRICES;

  app.use('*', requestContext(deps.logger));
  app.use('*', httpMetrics(deps.metrics));
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError('PAYLOAD_TOO_LARGE', 'payload_too_large', `the body is over ${MAX_BODY_BYTES / 1024} KiB`);
      },
    }),
  );
  app.use('/v1/*', authenticate(deps, { allowQueryToken: isEventStreamRequest }));
  // Per user, so after the token; before any other work of the request.
  app.use('/v1/*', rateLimit(deps));
  // Hono's `/*` also matches `/v1/projects/{projectId}` itself: one mount covers both.
  app.use('/v1/projects/:projectId/*', projectScope(deps.db));

  app.route('/', healthRoutes(deps, { lifecycle: opts.lifecycle }));
  app.route('/', metricsRoutes(deps));
  app.route('/', adminRoutes(deps));
  app.route('/', projectRoutes(deps));
  app.route('/', agentRoutes(deps, prices));
  app.route('/', sessionRoutes(deps));
  app.route('/', chatRoutes(deps));
  app.route('/', planRoutes(deps, createPlanControl(deps)));
  app.route('/', usageRoutes(deps));
  app.route('/', eventRoutes(deps, streams));
  // The web UI (built by `npm run build`) at `/`, and its dev sign-in.
  app.route('/', uiRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'codelab-core', version: '0.1.0', description: 'LLM-agent orchestrator: projects, agents, sessions, plans.' },
  });
  // The reference page loads Scalar's script from its CDN (the package only renders the HTML shell).
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'codelab-core API' }));

  app.onError((err, c) => {
    // Before anything logs it: an error built from the request URL must not carry a token.
    scrubError(err);
    const res = errorHandler(err, c);
    // errorHandler logged it with its stack; the tracker counts and stores it by fingerprint, off the response path.
    if (res.status === 500) void deps.errors.capture(err, { source: 'api', logged: true, context: { route: c.req.routePath } });
    return res;
  });
  app.notFound(notFoundHandler);
  return Object.assign(app, { streams, close: () => streams.close() });
}
