import type { Logger } from '../src/logger.js';
import type { Project } from '../db/schema.js';

/** The caller, as the auth middleware resolved it (JIT-provisioned on first sight). */
export interface AuthUser {
  /** Our `users.id`: every tenant-scoped query filters on it. */
  id: string;
  /** The token's `sub`. */
  subject: string;
  /** The token's `role` claim (`admin` unlocks the queue dashboard), null when absent. */
  role: string | null;
}

/**
 * Request-scoped values in Hono's context, and nothing else (STYLE §3).
 * `user` is set by `authenticate()` on every `/v1/*` route; `project` by
 * `projectScope()` on every `/v1/projects/{projectId}/…` route.
 */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    user: AuthUser;
    project: Project;
  };
}
