import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import type { SignatureAlgorithm } from 'hono/utils/jwt/jwa';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../api/context.js';
import { TEST_JWT_SECRET } from './context.js';

export interface TokenOptions {
  sub?: string;
  email?: string;
  name?: string;
  role?: string;
  /** Seconds from now; `null` leaves `exp` out. */
  ttl?: number | null;
  nbf?: number;
  iat?: number;
  secret?: string;
  alg?: SignatureAlgorithm;
  extra?: Record<string, unknown>;
}

/** A signed JWT as a client would send it; defaults to a fresh subject valid for an hour. */
export async function signToken(opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    sub: opts.sub ?? `user-${randomUUID()}`,
    iat: opts.iat ?? now,
    ...(opts.ttl === null ? {} : { exp: now + (opts.ttl ?? 3600) }),
    ...(opts.nbf === undefined ? {} : { nbf: opts.nbf }),
    ...(opts.email ? { email: opts.email } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.role ? { role: opts.role } : {}),
    ...opts.extra,
  };
  return sign(payload, opts.secret ?? TEST_JWT_SECRET, opts.alg ?? 'HS256');
}

/** An unsigned `alg: none` token, the classic downgrade attack. */
export function unsignedToken(sub = 'attacker'): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: now + 3600 })}.`;
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  token?: string;
  /** A JSON value, or a raw string sent as is. */
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** `app.request()` with a bearer token and JSON in and out; no server involved. */
export async function call<T = any>(
  app: OpenAPIHono<AppEnv>,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await app.request(path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if (res.headers.get('content-type')?.includes('application/json') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** A client bound to one user's token. */
export function clientFor(app: OpenAPIHono<AppEnv>, token: string) {
  return {
    token,
    get: <T = any>(path: string, o: Omit<RequestOptions, 'token'> = {}) => call<T>(app, 'GET', path, { ...o, token }),
    post: <T = any>(path: string, body?: unknown, o: Omit<RequestOptions, 'token'> = {}) => call<T>(app, 'POST', path, { ...o, body, token }),
    patch: <T = any>(path: string, body?: unknown, o: Omit<RequestOptions, 'token'> = {}) => call<T>(app, 'PATCH', path, { ...o, body, token }),
    delete: <T = any>(path: string, o: Omit<RequestOptions, 'token'> = {}) => call<T>(app, 'DELETE', path, { ...o, token }),
  };
}

export type Client = ReturnType<typeof clientFor>;

/** Logs to an array, so tests can assert what was (not) logged. */
export function logSink(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

/** Follows `next_cursor` to the end; returns every item and the number of pages. */
export async function walkPages<T = any>(client: Client, path: string, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: JsonResponse<{ items: T[]; next_cursor: string | null }> = await client.get(
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (res.status !== 200) throw new Error(`page ${pages + 1} of ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    if (res.body.items.length > limit) throw new Error(`page ${pages + 1} has ${res.body.items.length} items, over the limit ${limit}`);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    pages++;
  } while (cursor && pages < 1000);
  return { items, pages };
}
