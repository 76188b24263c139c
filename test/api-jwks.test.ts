import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import { createApp } from '../api/app.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { call, signToken } from './helpers/http.js';

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let server: Server;
let jwksRequests = 0;
let privateJwk: JsonWebKey & { kid: string; alg: 'RS256' };

beforeAll(async () => {
  const pair = await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  );
  const pub = { ...(await webcrypto.subtle.exportKey('jwk', pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  privateJwk = { ...(await webcrypto.subtle.exportKey('jwk', pair.privateKey)), kid: 'k1', alg: 'RS256' };
  // A real identity provider's JWKS endpoint, on a local port.
  server = createServer((_, res) => {
    jwksRequests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [pub] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  ctx = await createTestContext('api-jwks');
  app = createApp({ ...ctx.deps, config: { ...ctx.config, JWT_JWKS_URL: url, JWT_JWKS_ALGORITHMS: 'RS256', JWT_SECRET: undefined } });
});
afterAll(async () => {
  server.close();
  await ctx.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);
const rsToken = (claims: Record<string, unknown> = {}, key: object = privateJwk) =>
  sign({ sub: `idp-${crypto.randomUUID()}`, iat: now(), exp: now() + 600, ...claims }, key as never);

describe('JWKS verification', () => {
  it('accepts an RS256 token signed by a key of the set', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await rsToken() });
    expect(res.status).toBe(200);
  });

  it('fetches the key set once for many requests', async () => {
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await call(app, 'GET', '/v1/projects', { token: await rsToken() });
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });

  it('refuses an HS256 token even when it is otherwise well formed', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await signToken() });
    expect(res.status).toBe(401);
  });

  it('refuses a token whose kid is not in the set', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await rsToken({}, { ...privateJwk, kid: 'other' }) });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('refuses an expired RS256 token', async () => {
    const res = await call(app, 'GET', '/v1/projects', { token: await rsToken({ exp: now() - 120 }) });
    expect(res.status).toBe(401);
  });

  it('answers 503 when the key set cannot be fetched', async () => {
    const down = createApp({ ...ctx.deps, config: { ...ctx.config, JWT_JWKS_URL: 'http://127.0.0.1:1/jwks', JWT_JWKS_ALGORITHMS: 'RS256', JWT_SECRET: undefined } });
    const res = await call(down, 'GET', '/v1/projects', { token: await rsToken() });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
    expect(res.headers.get('retry-after')).toBeTruthy();
  });
});
