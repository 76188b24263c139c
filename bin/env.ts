import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const DEV_SECRET_FILE = '.dev-jwt-secret';

/**
 * The environment a command line entry point hands to `loadConfig`: the
 * process environment over an optional `.env` file. Outside production, when
 * no JWT secret or JWKS is configured, a random development secret is made
 * once and kept in `.dev-jwt-secret` so that `npm start` and `npm run token`
 * agree without any set-up.
 */
export function processEnv(): { env: Record<string, string | undefined>; devSecret: boolean } {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const env = { ...process.env };
  let devSecret = false;
  if (!env.JWT_SECRET && !env.JWT_JWKS_URL && env.NODE_ENV !== 'production') {
    if (!existsSync(DEV_SECRET_FILE)) writeFileSync(DEV_SECRET_FILE, randomBytes(32).toString('hex'), { mode: 0o600 });
    env.JWT_SECRET = readFileSync(DEV_SECRET_FILE, 'utf8').trim();
    devSecret = true;
  }
  return { env, devSecret };
}
