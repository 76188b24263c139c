import { parseArgs } from 'node:util';
import { sign } from 'hono/jwt';
import { loadConfigOrExit } from '../src/config.js';
import { processEnv } from './env.js';

const HELP = `Usage: npm run token -- --sub <subject> [--email e] [--name n] [--role admin] [--ttl 3600]

Prints a JWT signed with the server's JWT_SECRET and JWT_ALGORITHM (the same
configuration loading as "npm start", including the development secret kept
in .dev-jwt-secret), for local use:

  curl -H "Authorization: Bearer $(npm run -s token -- --sub alice)" localhost:3000/v1/projects

Options:
  --sub    the user's stable subject (required, up to 255 characters)
  --email  email claim
  --name   name claim
  --role   role claim ("admin" opens the queue dashboard)
  --ttl    lifetime in seconds (default 3600)
  -h, --help`;

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const ttl = Number(values.ttl);
if (!values.sub || values.sub.length > 255 || !Number.isInteger(ttl) || ttl <= 0) {
  console.error(`${!values.sub ? '--sub is required' : values.sub.length > 255 ? '--sub is over 255 characters' : '--ttl must be a positive integer'}\n\n${HELP}`);
  process.exit(2);
}

const config = loadConfigOrExit(processEnv().env);
if (!config.JWT_SECRET) {
  console.error('JWT_JWKS_URL is set: tokens come from your identity provider, this command cannot sign them');
  process.exit(1);
}
const now = Math.floor(Date.now() / 1000);
const token = await sign(
  {
    sub: values.sub,
    iat: now,
    exp: now + ttl,
    ...(values.email ? { email: values.email } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values.role ? { role: values.role } : {}),
    ...(config.JWT_ISSUER ? { iss: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { aud: config.JWT_AUDIENCE } : {}),
  },
  config.JWT_SECRET,
  config.JWT_ALGORITHM,
);
process.stdout.write(`${token}\n`);
