import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { sign } from 'hono/jwt';
import type { Deps } from '../../src/deps.js';
import { notFound } from '../../src/core/errors.js';
import type { AppEnv } from '../context.js';

/** Where `npm run build` (web/build.ts) writes the UI. */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** The development sign-in's fixed subject and its token's lifetime. */
export const DEV_SUBJECT = 'dev';
const DEV_TOKEN_TTL_S = 3600;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Vite names every asset `<name>-<hash>.<ext>`: such a file never changes, so it is cached for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current hashes: always revalidated (cheap, with its ETag). */
const REVALIDATE = 'no-cache';
/** One path segment of a built file: no slashes, no dot-dot, nothing hidden. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Preact writes some style attributes (bar widths).
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot).toLowerCase();
}

/**
 * Sends one built file with its caching headers and an ETag (size and
 * mtime), answering 304 to a matching If-None-Match. Files are read per
 * request so that a rebuild while the server runs is served at once.
 */
async function sendFile(c: Context<AppEnv>, path: string, cacheControl: string, extra: Record<string, string> = {}): Promise<Response | null> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return null;
  }
  if (!info.isFile()) return null;
  const etag = `"${createHash('sha1').update(`${info.size}:${info.mtimeMs}`).digest('base64url').slice(0, 16)}"`;
  const headers: Record<string, string> = {
    'cache-control': cacheControl,
    etag,
    'x-content-type-options': 'nosniff',
    ...extra,
  };
  if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });
  const body = await readFile(path);
  headers['content-type'] = TYPES[extensionOf(path)] ?? 'application/octet-stream';
  return new Response(c.req.method === 'HEAD' ? null : body, { status: 200, headers });
}

export interface UiOptions {
  /** The built UI's folder (default web/dist beside the repository root). */
  distDir?: string;
}

/**
 * The web UI: `/` serves the built single-page app (hash routing, so no
 * fallback route), `/assets/*` its hashed files, `GET /ui/config` what the
 * sign-in page needs, and `POST /ui/dev-token` the one-click development
 * sign-in, which exists only when `DEV_SIGN_IN=true` (404 otherwise).
 */
export function uiRoutes(deps: Deps, opts: UiOptions = {}) {
  const { config, logger } = deps;
  const dist = opts.distDir ?? WEB_DIST;
  const devSignIn = config.DEV_SIGN_IN && Boolean(config.JWT_SECRET);
  if (config.DEV_SIGN_IN && !config.JWT_SECRET) {
    logger.warn('DEV_SIGN_IN is ignored: tokens come from JWT_JWKS_URL, this server cannot sign them');
  } else if (devSignIn) {
    logger.warn({ subject: DEV_SUBJECT }, 'DEV_SIGN_IN is on: anyone who reaches the web UI can sign in as the dev user (never in production)');
  }
  const router = new Hono<AppEnv>();

  const index = async (c: Context<AppEnv>) => {
    const res = await sendFile(c, join(dist, 'index.html'), REVALIDATE, {
      'content-security-policy': CSP,
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    if (res) return res;
    return c.text('The web UI is not built: run "npm run build" (npm start builds it when missing).\n', 503, {
      'cache-control': 'no-store',
    });
  };
  router.get('/', index);
  router.get('/index.html', index);

  router.get('/assets/:name', async (c) => {
    const name = c.req.param('name');
    if (!SAFE_NAME.test(name)) throw notFound('asset');
    const res = await sendFile(c, join(dist, 'assets', name), IMMUTABLE);
    if (!res) throw notFound('asset');
    return res;
  });

  // Unhashed files Vite copies from web/public (favicon): revalidated like index.html.
  router.get('/:name{[A-Za-z0-9_][A-Za-z0-9_.-]*\\.(?:svg|ico|png)}', async (c) => {
    const res = await sendFile(c, join(dist, c.req.param('name')), REVALIDATE);
    if (!res) throw notFound('file');
    return res;
  });

  router.get('/ui/config', (c) =>
    c.json({ dev_sign_in: devSignIn, dev_subject: devSignIn ? DEV_SUBJECT : null }, 200, { 'cache-control': 'no-store' }),
  );

  router.post('/ui/dev-token', async (c) => {
    // Not "forbidden": when it is off, the endpoint does not exist.
    if (!devSignIn || !config.JWT_SECRET) throw notFound('route');
    const now = Math.floor(Date.now() / 1000);
    const token = await sign(
      {
        sub: DEV_SUBJECT,
        name: 'Developer',
        iat: now,
        exp: now + DEV_TOKEN_TTL_S,
        ...(config.JWT_ISSUER ? { iss: config.JWT_ISSUER } : {}),
        ...(config.JWT_AUDIENCE ? { aud: config.JWT_AUDIENCE } : {}),
      },
      config.JWT_SECRET,
      config.JWT_ALGORITHM,
    );
    c.get('logger').info({ subject: DEV_SUBJECT }, 'dev sign-in');
    return c.json(
      { token, subject: DEV_SUBJECT, expires_at: new Date((now + DEV_TOKEN_TTL_S) * 1000).toISOString() },
      200,
      { 'cache-control': 'no-store' },
    );
  });

  return router;
}
