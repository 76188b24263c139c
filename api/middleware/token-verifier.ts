import { verify, verifyWithJwks } from 'hono/jwt';
import type { AsymmetricAlgorithm } from 'hono/utils/jwt/jwa';
import type { JWTPayload } from 'hono/utils/jwt/types';
import type { Config } from '../../src/config.js';
import { AppError } from '../../src/core/errors.js';

/** The most clock skew tolerated between the issuer and us (api.md "Auth"). */
export const CLOCK_SKEW_S = 30;

const ASYMMETRIC: readonly AsymmetricAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const JWKS_TTL_MS = 10 * 60_000;
/** An unknown `kid` refetches the key set, but not more often than this (a token flood must not hammer the IdP). */
const JWKS_MIN_REFRESH_MS = 30_000;

type JwkSet = NonNullable<Parameters<typeof verifyWithJwks>[1]['keys']>;

/** Why a token was refused; logged by name, never with the token. */
export class TokenRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenRejected';
  }
}

export type TokenVerifier = (token: string) => Promise<JWTPayload>;

/**
 * Builds the token check once from the configuration: HS* with the pinned
 * algorithm and `JWT_SECRET`, or the JWKS at `JWT_JWKS_URL` restricted to
 * `JWT_JWKS_ALGORITHMS`. Signature, algorithm, `iss` and `aud` are hono's
 * checks; the time claims are ours because hono has no leeway and does not
 * require `exp`.
 */
export function createTokenVerifier(config: Config): TokenVerifier {
  const verification = {
    iss: config.JWT_ISSUER,
    aud: config.JWT_AUDIENCE,
    exp: false,
    nbf: false,
    iat: false,
  };
  let check: TokenVerifier;
  if (config.JWT_JWKS_URL) {
    const allowedAlgorithms = config.JWT_JWKS_ALGORITHMS.split(',').map((a) => a.trim()).filter(Boolean);
    const bad = allowedAlgorithms.filter((a) => !ASYMMETRIC.includes(a as AsymmetricAlgorithm));
    if (bad.length || !allowedAlgorithms.length) throw new Error(`JWT_JWKS_ALGORITHMS: not asymmetric algorithms: ${bad.join(', ') || '(empty)'}`);
    const keys = jwksCache(config.JWT_JWKS_URL);
    check = async (token) => {
      const kid = headerKid(token);
      return verifyWithJwks(token, { keys: await keys(kid), allowedAlgorithms: allowedAlgorithms as AsymmetricAlgorithm[], verification });
    };
  } else {
    const secret = config.JWT_SECRET;
    if (!secret) throw new Error('JWT_SECRET is required unless JWT_JWKS_URL is set');
    check = (token) => verify(token, secret, { alg: config.JWT_ALGORITHM, ...verification });
  }
  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = await check(token);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new TokenRejected(err instanceof Error ? err.name : 'invalid');
    }
    checkTimeClaims(payload, Math.floor(Date.now() / 1000));
    return payload;
  };
}

/** `exp` is required; `exp`, `nbf` and `iat` are compared with CLOCK_SKEW_S of leeway. */
export function checkTimeClaims(payload: JWTPayload, nowS: number): void {
  const { exp, nbf, iat } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenRejected('MissingExp');
  if (nowS >= exp + CLOCK_SKEW_S) throw new TokenRejected('Expired');
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf) || nbf > nowS + CLOCK_SKEW_S)) {
    throw new TokenRejected('NotYetValid');
  }
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat) || iat > nowS + CLOCK_SKEW_S)) {
    throw new TokenRejected('IssuedInFuture');
  }
}

function headerKid(token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown };
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/** The IdP's key set, cached so that verifying a token costs no request in the common case. */
function jwksCache(url: string): (kid: string | undefined) => Promise<JwkSet> {
  let cached: { keys: JwkSet; at: number } | undefined;
  let inflight: Promise<JwkSet> | undefined;
  const load = async (): Promise<JwkSet> => {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    } catch (err) {
      throw new AppError('JWKS_UNAVAILABLE', 'unavailable', 'the token issuer cannot be reached', { cause: err, retryAfterS: 5 });
    }
    const body = (await res.json().catch(() => undefined)) as { keys?: unknown } | undefined;
    if (!res.ok || !Array.isArray(body?.keys)) {
      throw new AppError('JWKS_UNAVAILABLE', 'unavailable', 'the token issuer returned no key set', { retryAfterS: 5 });
    }
    return body.keys as JwkSet;
  };
  return async (kid) => {
    const now = Date.now();
    const stale = !cached || now - cached.at > JWKS_TTL_MS;
    const unknownKid = cached && kid !== undefined && !cached.keys.some((k) => k.kid === kid) && now - cached.at > JWKS_MIN_REFRESH_MS;
    if (stale || unknownKid) {
      inflight ??= load().finally(() => {
        inflight = undefined;
      });
      cached = { keys: await inflight, at: Date.now() };
    }
    return cached!.keys;
  };
}
