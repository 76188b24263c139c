import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { Scalar } from '@scalar/hono-api-reference';
import type { Deps } from '../src/deps.js';
import { AppError } from '../src/core/errors.js';
import { DEFAULT_PRICES, loadPriceTable } from '../src/llm/prices.js';
import { createPlanControl } from '../src/engine/plan-control.js';
import type { AppEnv } from './context.js';
import { errorHandler, notFoundHandler, validationHook } from './errors.js';
import { authenticate, isEventStreamRequest } from './middleware/auth.js';
import { projectScope } from './middleware/project-scope.js';
import { requestContext } from './middleware/request-context.js';
import { agentRoutes } from './routes/agents.js';
import { chatRoutes } from './routes/chat.js';
import { healthRoutes } from './routes/health.js';
import { planRoutes } from './routes/plans.js';
import { projectRoutes } from './routes/projects.js';
import { sessionRoutes } from './routes/sessions.js';
import { usageRoutes } from './routes/usage.js';

/** api.md: request bodies are small JSON documents. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The HTTP API. Middleware order matters and is fixed here: request id and
 * logger, body limit, then for `/v1/*` the token (JIT-provisioning the user)
 * and for `/v1/projects/{projectId}/…` the project scope. Routes added later
 * with `app.route('/', router)` or `app.openapi(...)` get all of it.
 */
export function createApp(deps: Deps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const prices = deps.config.PRICES_FILE ? loadPriceTable(deps.config.PRICES_FILE) : DEFAULT_PRICES;

  app.use('*', requestContext(deps.logger));
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
  // Hono's `/*` also matches `/v1/projects/{projectId}` itself: one mount covers both.
  app.use('/v1/projects/:projectId/*', projectScope(deps.db));

  app.route('/', healthRoutes(deps));
  app.route('/', projectRoutes(deps));
  app.route('/', agentRoutes(deps, prices));
  app.route('/', sessionRoutes(deps));
  app.route('/', chatRoutes(deps));
  app.route('/', planRoutes(deps, createPlanControl(deps)));
  app.route('/', usageRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'codelab-core', version: '0.1.0', description: 'LLM-agent orchestrator: projects, agents, sessions, plans.' },
  });
  // The reference page loads Scalar's script from its CDN (the package only renders the HTML shell).
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'codelab-core API' }));

  app.onError(errorHandler);
  app.notFound(notFoundHandler);
  return app;
}
