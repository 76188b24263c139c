/**
 * The callers of verified tokens, per process: a client sends the same token
 * on every request until it expires, and verifying it (an HMAC or a signature
 * through WebCrypto, the claims' schema) and looking its user up (a query) is
 * most of what an authenticated request costs before its own work.
 *
 * Only tokens that passed every check are kept, each until the earliest of its
 * `exp` (plus the clock skew the verifier allows, so a hit never accepts what
 * the verifier would refuse) and `maxAgeMs` after it was verified. The age cap
 * bounds how long a token keeps working after its signing key left the JWKS.
 * `nbf` and `iat` need no re-check: a token they let through stays valid for
 * them. At most `maxEntries` are kept; past that the oldest is dropped.
 */
export interface VerifiedTokenCache<T> {
  /** The value stored for `token`, unless it is missing or no longer valid at `nowMs`. */
  get(token: string, nowMs: number): T | undefined;
  /** Keeps `value` for `token` until `validUntilMs` (earlier when maxAgeMs says so). */
  set(token: string, value: T, validUntilMs: number, nowMs: number): void;
  readonly size: number;
}

export interface VerifiedTokenCacheOptions {
  maxEntries: number;
  maxAgeMs: number;
}

export function createVerifiedTokenCache<T>(opts: VerifiedTokenCacheOptions): VerifiedTokenCache<T> {
  if (!(opts.maxEntries >= 1) || !(opts.maxAgeMs > 0)) throw new Error('verified token cache: maxEntries ≥ 1 and maxAgeMs > 0');
  // A Map iterates in insertion order: the first key is the oldest entry.
  const entries = new Map<string, { value: T; until: number }>();
  return {
    get(token, nowMs) {
      const e = entries.get(token);
      if (!e) return undefined;
      if (nowMs >= e.until) {
        entries.delete(token);
        return undefined;
      }
      return e.value;
    },
    set(token, value, validUntilMs, nowMs) {
      const until = Math.min(validUntilMs, nowMs + opts.maxAgeMs);
      if (!(until > nowMs)) return;
      entries.delete(token);
      while (entries.size >= opts.maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(token, { value, until });
    },
    get size() {
      return entries.size;
    },
  };
}
