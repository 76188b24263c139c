import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Deps } from '../src/deps.js';
import type { AppEnv } from './context.js';

export interface ApiServer {
  /** The bound port (useful with port 0). */
  port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish, and after
   * SHUTDOWN_TIMEOUT_MS cuts the rest (SSE streams never end on their own).
   * Idempotent. Closes only the server: deps are the caller's.
   */
  close(): Promise<void>;
}

export function startApiServer(deps: Deps, app: OpenAPIHono<AppEnv>, opts: { port: number; host?: string }): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }) as Server;
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      deps.logger.info({ port, host: opts.host }, 'api listening');
      let closing: Promise<void> | undefined;
      const close = () => {
        // SSE streams never end on their own: end them first (their clients resume on another replica).
        closing ??= Promise.resolve((app as { close?: () => Promise<void> }).close?.())
          .catch(() => undefined)
          .then(() => new Promise<void>((done) => {
          const force = setTimeout(() => server.closeAllConnections(), deps.config.SHUTDOWN_TIMEOUT_MS);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            done();
          });
          server.closeIdleConnections();
        }));
        return closing;
      };
      resolve({ port, close });
    });
  });
}
